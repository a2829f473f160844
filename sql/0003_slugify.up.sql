-- 0003_slugify: fill posts.slug from the title when a post is inserted
-- without one. Two PL/pgSQL functions: their $$-quoted bodies hold
-- semicolons and quotes, and still go to the server as one statement each.

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

-- BEFORE INSERT runs ahead of the NOT NULL check, so a post may be inserted without a slug.
CREATE TRIGGER posts_fill_slug BEFORE INSERT ON posts
  FOR EACH ROW EXECUTE FUNCTION posts_fill_slug();
