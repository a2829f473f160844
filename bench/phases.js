/**
 * Where a no-op `up` spends its time, phase by phase, by calling pgpair's own
 * modules from dist/ in the order the migrator does (read files → connect →
 * lock → read history twice → status with every up file analysed → unlock).
 * It imports internal modules, so it is a diagnostic that may need updating
 * when lib/ is reorganised; `npm run bench` does not depend on it.
 *
 *   node phases.js DIR [DIR…]    each DIR a pgpair migration directory; BENCH_DATABASE_URL as for the runner
 *
 * For each DIR it creates a scratch database, stamps it to head with the CLI
 * (so every file counts as applied), and prints the median of 5 runs per phase.
 * The first line, reading the same files with readFileSync, is not part of
 * pgpair: it shows what the reading could cost (it is left out of the total).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Scratch, serverFromEnv } from './support/db.js';
import { median } from './support/stats.js';
import { PGPAIR_BIN, PGPAIR_ROOT, ensureBuilt } from './tools/pgpair.js';

ensureBuilt();
const load = (path) => import(pathToFileURL(join(PGPAIR_ROOT, 'dist', path)).href);
const started = performance.now();
const cli = await load('cli/main.js');
const importMs = performance.now() - started;
void cli;
// The types are those of lib/'s sources, which dist/ is built from: `npm run typecheck` then
// fails here when a name this diagnostic uses is renamed or removed.
/** @type {typeof import('../lib/read/source.js')} */
const { readMigrations } = await load('read/source.js');
/** @type {typeof import('../lib/db/index.js')} */
const { connect } = await load('db/index.js');
/** @type {typeof import('../lib/core/history.js')} */
const { historyTables } = await load('core/history.js');
/** @type {typeof import('../lib/run/read-history.js')} */
const { readHistory } = await load('run/read-history.js');
/** @type {typeof import('../lib/run/lock.js')} */
const { LOCK_KEY_SQL } = await load('run/lock.js');
/** @type {typeof import('../lib/core/status.js')} */
const { computeStatus } = await load('core/status.js');
/** @type {typeof import('../lib/core/plan.js')} */
const { planUp } = await load('core/plan.js');

async function once(url, dir) {
  const times = {};
  let t = performance.now();
  const lap = (name) => {
    const now = performance.now();
    times[name] = (times[name] ?? 0) + (now - t);
    t = now;
  };
  for (const name of readdirSync(dir)) readFileSync(join(dir, name));
  lap('(for comparison, not in pgpair: readFileSync of every file)');
  const files = await readMigrations(dir);
  lap('readMigrations: read (fs/promises, one at a time), checksum and validate every file');
  const db = await connect({ url, connectTimeout: 10, onNotice: () => {} });
  lap('connect (incl. loading postgres.js the first time)');
  const tables = historyTables({ schema: null, name: 'pgpair_history' }, db.server.schema);
  // As withLock's first attempt: the key computed on the server and the lock tried in one query.
  const [lock] = await db.query(`SELECT k::text AS key, pg_try_advisory_lock(k) AS locked FROM (SELECT ${LOCK_KEY_SQL} AS k) AS lock_key`, [tables.display]);
  if (!lock?.locked) throw new Error(`the migration lock on ${tables.display} is held by another session`);
  const key = lock.key;
  lap('lock (1 query)');
  await readHistory(db, tables);
  lap('read history to see that it exists (2 queries)');
  const { rows } = await readHistory(db, tables);
  lap('read history again for the plan (2 queries)');
  const report = computeStatus(files.migrations, rows);
  lap('status: lex every up file to know if it is transactional');
  planUp(report, { allowOutOfOrder: false });
  lap('plan');
  await db.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
  await db.close();
  lap('unlock and close');
  return times;
}

const scratch = new Scratch(serverFromEnv());
try {
  console.log(`importing dist/cli/main.js (everything the CLI loads at start): ${importMs.toFixed(0)} ms`);
  for (const dir of process.argv.slice(2)) {
    const target = await scratch.create('phases');
    try {
      execFileSync(process.execPath, [PGPAIR_BIN, 'stamp', 'head', '--quiet', '--url', target.url, '--dir', dir], { stdio: 'inherit' });
      const runs = [];
      for (let i = 0; i < 6; i++) runs.push(await once(target.url, dir));
      runs.shift(); // the first run loads modules and warms the file cache
      console.log(`\n${dir}: median of ${runs.length} in-process runs, ms`);
      for (const phase of Object.keys(runs[0] ?? {})) console.log(`  ${median(runs.map((r) => r[phase])).toFixed(1).padStart(8)}  ${phase}`);
      const total = (r) => Object.entries(r).reduce((sum, [phase, ms]) => (phase.startsWith('(') ? sum : sum + ms), 0);
      console.log(`  ${median(runs.map(total)).toFixed(1).padStart(8)}  total of pgpair's phases`);
    } finally {
      await scratch.drop(target);
    }
  }
} finally {
  await scratch.dropAll();
}
