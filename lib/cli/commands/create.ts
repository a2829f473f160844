/** `pgpair create MESSAGE`: Alembic's `revision -m "add comments table"`, as a slug and a pair of files. */
import { createMigration, type CreatedMigration } from '../../read/create.js';
import { UsageError } from '../../core/errors.js';
import { versionStyle } from '../options.js';

/**
 * A slug from what a person typed: letters (accents dropped), digits, '.', '-'
 * and '_' kept as written; any run of other characters (spaces, quotes,
 * slashes) becomes one '_'. `add comments table` → `add_comments_table`.
 */
export function slugFromMessage(message: string): string {
  return message
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+|[._-]+$/g, '')
    // `create add_users.up.sql`: the file name's endings are pgpair's to add.
    .replace(/\.sql$/i, '')
    .replace(/\.(up|down)$/i, '');
}

/** Writes the pair named by `message`; --timestamp or PGPAIR_VERSIONS choose how it is versioned. */
export async function createCommand(ctx: { dir: string; message: string; timestamp: boolean; env: Record<string, string | undefined> }): Promise<CreatedMigration> {
  const slug = slugFromMessage(ctx.message);
  if (slug === '') {
    throw new UsageError(`Invalid migration name ${JSON.stringify(ctx.message)}: it has no letters or digits to name the files by; use e.g. pgpair create add_users.`);
  }
  const versions = versionStyle(ctx.timestamp, ctx.env);
  return createMigration({ dir: ctx.dir, name: slug, ...(versions ? { versions } : {}) });
}
