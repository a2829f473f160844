-- 0004_seed_tags: revert by deleting the same rows. A tag that a post still
-- carries cannot be deleted (post_tags.tag_id has no cascade): the down then
-- fails and changes nothing, rather than untagging posts behind your back.
DELETE FROM tags WHERE name IN ('announcements', 'how-to', 'release-notes');
