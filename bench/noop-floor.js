/**
 * Issue 7's no-op target (`up` with 1000 applied ≤ 1.8× a bare `node -e ''`) against what any
 * program must spend on that job with pgpair's fixed choices (Node, postgres.js, every file
 * checksummed, SPEC section 2): programs that do only parts of it, timed interleaved with pgpair.
 *
 *   bare node          node -e ''
 *   files only         read and SHA-256 every file of 1000 migrations (2000 files)
 *   postgres.js only   import postgres.js, connect, try and release an advisory lock, read the history
 *   floor              both, in one process: the least a no-op `up` can do
 *   pgpair             pgpair up (nothing to do) on the same database and files
 *
 *   npm run bench:floor            # in bench/; --runs 15 (default)
 *
 * BENCH_DATABASE_URL as for runner.js; the scratch database is bench_<pid>_floor_….
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateCorpus, writeFiles } from './corpus.js';
import { Scratch, serverFromEnv } from './support/db.js';
import { cleanEnv } from './support/exec.js';
import { median } from './support/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const { values: options } = parseArgs({ options: { runs: { type: 'string', default: '15' }, n: { type: 'string', default: '1000' } } });

const FILES = `
import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
export function hashAll(dir) {
  for (const name of readdirSync(dir)) createHash('sha256').update(readFileSync(dir + '/' + name)).digest('hex');
}`;
const DATABASE = `
import postgres from 'postgres';
export async function lockAndRead(url) {
  const sql = postgres(url, { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
  await sql.unsafe("SELECT pg_try_advisory_lock(hashtextextended('bench-floor', 0))");
  await sql.unsafe('SELECT * FROM pgpair_history');
  await sql.unsafe("SELECT pg_advisory_unlock(hashtextextended('bench-floor', 0))");
  await sql.end();
}`;

async function main() {
  const n = Number(options.n);
  const runs = Number(options.runs);
  const work = await mkdtemp(join(os.tmpdir(), 'pgpair-bench-floor-'));
  const scratch = new Scratch(serverFromEnv());
  try {
    const dir = join(work, 'sql');
    const files = {};
    for (const m of generateCorpus(n)) {
      files[`${m.version}_${m.slug}.up.sql`] = m.up;
      files[`${m.version}_${m.slug}.down.sql`] = m.down;
    }
    await writeFiles(dir, files);
    // The helper modules live under the pgpair root's node_modules resolution (postgres.js is pgpair's).
    const helpers = await mkdtemp(join(ROOT, '.bench-floor-'));
    try {
      await writeFile(join(helpers, 'files.mjs'), FILES);
      await writeFile(join(helpers, 'database.mjs'), DATABASE);
      await writeFile(join(helpers, 'files-only.mjs'), `import { hashAll } from './files.mjs';\nhashAll(process.argv[2]);\n`);
      await writeFile(join(helpers, 'database-only.mjs'), `import { lockAndRead } from './database.mjs';\nawait lockAndRead(process.argv[2]);\n`);
      await writeFile(join(helpers, 'floor.mjs'), `import { hashAll } from './files.mjs';\nimport { lockAndRead } from './database.mjs';\nhashAll(process.argv[2]);\nawait lockAndRead(process.argv[3]);\n`);
      const target = await scratch.create('floor');
      const stamp = spawnSync(process.execPath, [join(ROOT, 'bin', 'pgpair.js'), 'stamp', 'head', '--url', target.url, '--dir', dir, '--quiet'], { env: cleanEnv(), encoding: 'utf8' });
      if (stamp.status !== 0) throw new Error(`pgpair stamp head failed: ${stamp.stderr}`);
      /** @type {[string, string[]][]} */
      const commands = [
        ['bare `node -e \'\'`', ['-e', '']],
        [`files only: read and hash ${2 * n} files`, [join(helpers, 'files-only.mjs'), dir]],
        ['postgres.js only: import, connect, lock, read the history, unlock', [join(helpers, 'database-only.mjs'), target.url]],
        ['floor: both in one process', [join(helpers, 'floor.mjs'), dir, target.url]],
        [`pgpair no-op \`up\`, ${n} applied`, [join(ROOT, 'bin', 'pgpair.js'), 'up', '--url', target.url, '--dir', dir, '--quiet']],
      ];
      const times = commands.map(() => /** @type {number[]} */ ([]));
      for (let run = 0; run < runs; run++) {
        for (const [index, [label, args]] of commands.entries()) {
          const started = process.hrtime.bigint();
          const result = spawnSync(process.execPath, args, { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'], cwd: work });
          if (result.status !== 0) throw new Error(`${label} failed (exit ${result.status}): ${String(result.stderr).slice(-800)}`);
          times[index]?.push(Number(process.hrtime.bigint() - started) / 1e6);
        }
      }
      const bare = median(times[0]);
      const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
      const lines = [
        `No-op floor, ${n} migrations, ${runs} interleaved runs each; ${os.cpus()[0]?.model?.trim()}, ${os.availableParallelism()} cores, Node ${process.versions.node}, load ${load}.`,
        '',
        '| program | median ms | min–max ms | × bare node |',
        '|---|---:|---:|---:|',
        ...times.map((spent, index) => `| ${commands[index]?.[0]} | ${median(spent).toFixed(1)} | ${Math.min(...spent).toFixed(1)}–${Math.max(...spent).toFixed(1)} | ${(median(spent) / bare).toFixed(2)}× |`),
        '',
      ];
      process.stdout.write(lines.join('\n'));
    } finally {
      await rm(helpers, { recursive: true, force: true });
    }
  } finally {
    await scratch.dropAll();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`bench:floor: ${error.stack ?? error}\n`);
  process.exit(1);
});
