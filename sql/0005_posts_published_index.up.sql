-- pgpair:no-transaction
-- 0005_posts_published_index: the index behind "latest published posts".
-- CONCURRENTLY builds it without blocking writes to posts, which PostgreSQL
-- allows only outside a transaction block: hence the directive above, and
-- nothing else in this file. If the build fails it leaves an INVALID index
-- behind: drop it (DROP INDEX CONCURRENTLY posts_published_idx) and run again.
CREATE INDEX CONCURRENTLY posts_published_idx
  ON posts (published_at DESC)
  WHERE status = 'published';
