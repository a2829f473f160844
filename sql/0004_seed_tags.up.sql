-- 0004_seed_tags: a data change. The tags every installation starts with.
-- ON CONFLICT: a database that already has one of them keeps its row.
INSERT INTO tags (name) VALUES
  ('announcements'),
  ('how-to'),
  ('release-notes')
ON CONFLICT (name) DO NOTHING;
