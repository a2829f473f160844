-- 0002_create_posts: revert, in the reverse order of the foreign keys.
DROP TABLE post_tags;
DROP TABLE tags;
DROP TABLE posts;
