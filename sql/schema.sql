-- pgpair:version 0005
-- The base schema: what migrations 0001 to 0005 build, as one script for an
-- empty database. A new database starts from it instead of replaying every
-- migration, then is adopted by pgpair at the version named above:
--
--   psql -X -v ON_ERROR_STOP=1 -f sql/schema.sql "$DATABASE_URL"
--   pgpair stamp 0005        # or: pgpair stamp head, while 0005 is the newest
--
-- Later migrations then apply on top with pgpair up. When you add one, update
-- this file to match and the version above with it (a schema-only pg_dump of
-- a database built by pgpair up is a good cross-check).

CREATE TABLE users (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email        text NOT NULL,
  display_name text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  CONSTRAINT users_display_name_not_blank CHECK (btrim(display_name) <> '')
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));

COMMENT ON TABLE users IS 'People who can sign in and write posts.';
COMMENT ON COLUMN users.email IS 'Sign-in address; unique regardless of case (users_email_key).';

CREATE TABLE posts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  author_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title        text NOT NULL,
  slug         text NOT NULL,
  body         text NOT NULL DEFAULT '',
  status       text NOT NULL DEFAULT 'draft',
  published_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT posts_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
  CONSTRAINT posts_status_known CHECK (status IN ('draft', 'published', 'archived')),
  CONSTRAINT posts_published_dated CHECK (status <> 'published' OR published_at IS NOT NULL),
  CONSTRAINT posts_author_slug_key UNIQUE (author_id, slug)
);

-- Built without CONCURRENTLY here: the table is new and empty.
CREATE INDEX posts_published_idx
  ON posts (published_at DESC)
  WHERE status = 'published';

CREATE TABLE tags (
  id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE,
  CONSTRAINT tags_name_format CHECK (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
);

CREATE TABLE post_tags (
  post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  tag_id  integer NOT NULL REFERENCES tags (id),
  PRIMARY KEY (post_id, tag_id)
);

CREATE INDEX post_tags_tag_id_idx ON post_tags (tag_id);

COMMENT ON TABLE posts IS 'Blog posts. A published post has a publication date.';
COMMENT ON COLUMN posts.slug IS 'URL part, unique per author; filled from the title when left empty (see 0003).';
COMMENT ON TABLE tags IS 'Keywords for posts: lower-case words joined by dashes.';
COMMENT ON TABLE post_tags IS 'Which post carries which tag.';

CREATE FUNCTION slugify(title text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  slug text := lower(title);
BEGIN
  -- Every run of characters other than a-z and 0-9 becomes one '-'; "it's" gives "it-s".
  slug := regexp_replace(slug, '[^a-z0-9]+', '-', 'g');
  slug := btrim(slug, '-');
  IF slug = '' THEN
    RETURN 'untitled';
  END IF;
  RETURN left(slug, 80);
END
$$;

COMMENT ON FUNCTION slugify(text) IS 'A URL-safe form of a title: lower-case a-z, 0-9 and dashes.';

CREATE FUNCTION posts_fill_slug() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.slug IS NULL OR NEW.slug = '' THEN
    NEW.slug := slugify(NEW.title);
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER posts_fill_slug BEFORE INSERT ON posts
  FOR EACH ROW EXECUTE FUNCTION posts_fill_slug();

-- Data from 0004_seed_tags: the tags every installation starts with.
INSERT INTO tags (name) VALUES
  ('announcements'),
  ('how-to'),
  ('release-notes');
