-- 0002_create_posts: posts, tags, and which post carries which tag.

CREATE TABLE posts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Deleting a user deletes their posts.
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

-- The unique constraint above starts with author_id, so it also serves the
-- foreign key (deleting a user finds their posts without a sequential scan).

CREATE TABLE tags (
  id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE,
  CONSTRAINT tags_name_format CHECK (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
);

CREATE TABLE post_tags (
  post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  -- No cascade here: a tag that is still in use cannot be deleted.
  tag_id  integer NOT NULL REFERENCES tags (id),
  PRIMARY KEY (post_id, tag_id)
);

CREATE INDEX post_tags_tag_id_idx ON post_tags (tag_id);

COMMENT ON TABLE posts IS 'Blog posts. A published post has a publication date.';
COMMENT ON COLUMN posts.slug IS 'URL part, unique per author; filled from the title when left empty (see 0003).';
COMMENT ON TABLE tags IS 'Keywords for posts: lower-case words joined by dashes.';
COMMENT ON TABLE post_tags IS 'Which post carries which tag.';
