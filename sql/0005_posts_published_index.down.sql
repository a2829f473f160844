-- pgpair:no-transaction
-- 0005_posts_published_index: revert, again without blocking writes.
DROP INDEX CONCURRENTLY IF EXISTS posts_published_idx;
