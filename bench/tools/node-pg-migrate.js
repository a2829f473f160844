/**
 * node-pg-migrate with its SQL migrations: one `NNNN_slug.sql` per migration
 * holding `-- Up Migration` and `-- Down Migration` sections (its default
 * loader for .sql files).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

function binPath() {
  return join(dirname(require.resolve('node-pg-migrate/package.json')), 'bin', 'node-pg-migrate.js');
}

function nodePgMigrate(ctx, args) {
  return { cmd: process.execPath, args: [binPath(), ...args, '--migrations-dir', ctx.dir], env: { DATABASE_URL: ctx.target.url }, cwd: ctx.workDir };
}

/** @type {import('./index.js').Tool} */
export default {
  id: 'node-pg-migrate',
  label: 'node-pg-migrate',
  notes: [
    '`node-pg-migrate up` and `node-pg-migrate down N`, default settings: note that its default `--single-transaction` runs *all* pending migrations in one transaction (not one per migration), and `--verbose` (default) prints every statement.',
  ],
  async unavailable() {
    try {
      binPath();
      require.resolve('pg');
      return null;
    } catch (error) {
      return `node-pg-migrate or pg is not installed: ${error instanceof Error ? error.message : String(error)}`;
    }
  },
  async version() {
    return `node-pg-migrate ${require('node-pg-migrate/package.json').version}`;
  },
  layout: (migrations) =>
    Object.fromEntries(migrations.map((m) => [`${m.version}_${m.slug}.sql`, `-- Up Migration\n${m.up}\n-- Down Migration\n${m.down}`])),
  apply: (ctx) => [nodePgMigrate(ctx, ['up'])],
  noop: (ctx) => [nodePgMigrate(ctx, ['up'])],
  status: () => ({ na: 'node-pg-migrate has no status command (only up, down, redo and create)' }),
  revert: (ctx) => [nodePgMigrate(ctx, ['down', String(ctx.n)])],
};
