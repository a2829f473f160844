/**
 * dbmate (Go), from its npm package, which ships the binary. The binary is
 * run directly, as a Go user would, not through the package's Node wrapper
 * (which would add one Node start to every call).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

async function binary() {
  const { resolveBinary } = await import('dbmate');
  return resolveBinary();
}

let resolved = null;

function dbmate(ctx, args) {
  return {
    cmd: resolved,
    args: ['--url', `${ctx.target.url}?sslmode=disable`, '--migrations-dir', ctx.dir, '--no-dump-schema', ...args],
    cwd: ctx.workDir,
  };
}

/** @type {import('./index.js').Tool} */
export default {
  id: 'dbmate',
  label: 'dbmate',
  notes: [
    '`dbmate --no-dump-schema migrate|status|rollback` (the binary inside the npm package). `--no-dump-schema`: by default dbmate runs pg_dump after every change, which is not migration work. Each migration runs in its own transaction with its history row.',
    '`rollback` reverts one migration and has no target, so "revert all" is N invocations, each with its own process and connection: how a dbmate user has to do it.',
  ],
  async unavailable() {
    try {
      resolved = await binary();
      await execFileAsync(resolved, ['--version']);
      return null;
    } catch (error) {
      return `the dbmate binary cannot run here: ${error instanceof Error ? error.message : String(error)}`;
    }
  },
  async version() {
    const { stdout } = await execFileAsync(resolved, ['--version']);
    return stdout.trim();
  },
  layout: (migrations) =>
    Object.fromEntries(migrations.map((m) => [`${m.version}_${m.slug}.sql`, `-- migrate:up\n${m.up}\n-- migrate:down\n${m.down}`])),
  apply: (ctx) => [dbmate(ctx, ['migrate'])],
  noop: (ctx) => [dbmate(ctx, ['migrate'])],
  status: (ctx) => [dbmate(ctx, ['status'])],
  revert: (ctx) => Array.from({ length: ctx.n }, () => dbmate(ctx, ['rollback'])),
};
