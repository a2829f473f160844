-- 0003_slugify: revert. Slugs already filled in stay as they are.
DROP TRIGGER posts_fill_slug ON posts;
DROP FUNCTION posts_fill_slug();
DROP FUNCTION slugify(text);
