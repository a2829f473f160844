/**
 * pgpair itself, from the working tree this bench/ sits in (or PGPAIR_ROOT),
 * run as its CLI: `node bin/pgpair.js …`. On a fresh clone it is installed
 * and built first (npm ci, npm run build at the root), so `npm run bench:smoke`
 * needs nothing done by hand.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const PGPAIR_ROOT = resolve(process.env.PGPAIR_ROOT || join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
export const PGPAIR_BIN = join(PGPAIR_ROOT, 'bin', 'pgpair.js');
const BUILT = join(PGPAIR_ROOT, 'dist', 'cli', 'main.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function npm(args) {
  process.stderr.write(`bench: running npm ${args.join(' ')} in ${PGPAIR_ROOT}\n`);
  const result = spawnSync('npm', args, { cwd: PGPAIR_ROOT, stdio: ['ignore', 2, 2] });
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')} failed in ${PGPAIR_ROOT} (exit ${result.status})`);
}

/** Installs the root's dependencies if there are none, and builds dist/ if it is missing or older than lib/. */
export function ensureBuilt() {
  if (!existsSync(join(PGPAIR_ROOT, 'node_modules'))) npm(['ci', '--no-audit', '--no-fund']);
  if (!existsSync(BUILT)) npm(['run', 'build']);
  else if (newestSource(join(PGPAIR_ROOT, 'lib')) > statSync(BUILT).mtimeMs) {
    process.stderr.write('bench: dist/ is older than lib/, rebuilding\n');
    npm(['run', 'build']);
  }
}

/** The CLI, run with the same node as the bench. */
export function pgpair(ctx, args, nodeOptions = []) {
  return { cmd: process.execPath, args: [...nodeOptions, PGPAIR_BIN, ...args, '--url', ctx.target.url, '--dir', ctx.dir], cwd: ctx.workDir };
}

/** @type {import('./index.js').Tool} */
export default {
  id: 'pgpair',
  label: 'pgpair',
  notes: [
    '`node bin/pgpair.js up|status|down base --url … --dir …` with default output (one line per migration on stdout, JSON log lines on stderr). Each migration runs in its own transaction with its history row and log row.',
  ],
  async unavailable() {
    try {
      ensureBuilt();
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    return existsSync(BUILT) ? null : `${BUILT} is missing after the build`;
  },
  async version() {
    const { version } = JSON.parse(readFileSync(join(PGPAIR_ROOT, 'package.json'), 'utf8'));
    try {
      const { stdout: sha } = await execFileAsync('git', ['-C', PGPAIR_ROOT, 'rev-parse', '--short', 'HEAD']);
      const { stdout: dirty } = await execFileAsync('git', ['-C', PGPAIR_ROOT, 'status', '--porcelain', '--', 'lib', 'bin']);
      return `pgpair ${version} (${sha.trim()}${dirty.trim() ? ' + uncommitted changes in lib/ or bin/' : ''})`;
    } catch {
      return `pgpair ${version}`;
    }
  },
  layout: (migrations) =>
    Object.fromEntries(migrations.flatMap((m) => [[`${m.version}_${m.slug}.up.sql`, m.up], [`${m.version}_${m.slug}.down.sql`, m.down]])),
  apply: (ctx) => [pgpair(ctx, ['up'])],
  noop: (ctx) => [pgpair(ctx, ['up'])],
  status: (ctx) => [pgpair(ctx, ['status'])],
  revert: (ctx) => [pgpair(ctx, ['down', 'base'])],
};
