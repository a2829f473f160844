/**
 * Issue 16: a fleet of schemas and a fleet of databases on one server, each target with
 * --migrations migrations (default 20). For each fleet, `pgpair up` over all of it (one process,
 * --parallel 4 by default) is measured: wall time, peak RSS (GNU time), and the connections pgpair
 * holds, sampled from pg_stat_activity every 20 ms while it runs (its migration sessions,
 * application_name `pgpair`, and its short side sessions, `pgpair-watch` / `pgpair-cancel`).
 * Then every target's history is counted to check that each got every migration exactly once.
 *
 *   nice node bench/fleet.js                                   # 100 and 1000 schemas, 10 and 100 databases
 *   nice node bench/fleet.js --schemas 100 --databases 10      # a quick look
 *
 * BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/postgres) names the server; the bench
 * creates and drops its own bench_fleet_<pid>_… databases. Prints a Markdown table on stdout.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { cleanupExec, haveGnuTime, run } from './support/exec.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(HERE, '..', 'bin', 'pgpair.js');
const SERVER = process.env.BENCH_DATABASE_URL || 'postgres://root@127.0.0.1:5432/postgres';

const { values: options } = parseArgs({
  options: {
    schemas: { type: 'string', default: '100,1000' },
    databases: { type: 'string', default: '10,100' },
    migrations: { type: 'string', default: '20' },
    parallel: { type: 'string', default: '4' },
  },
});
const counts = (text) => text.split(',').filter(Boolean).map(Number);
const migrationCount = Number(options.migrations);
const parallel = Number(options.parallel);
const prefix = `bench_fleet_${process.pid}`;
const log = (text) => process.stderr.write(`bench:fleet: ${text}\n`);

/** @param {string} database */
function urlOf(database) {
  const url = new URL(SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

const admin = postgres(SERVER, { max: 1, onnotice: () => {} });

/** The migrations: each creates a table with an index and a comment; the downs drop them. */
async function writeMigrations(dir) {
  await mkdir(dir, { recursive: true });
  for (let i = 1; i <= migrationCount; i++) {
    const v = String(i).padStart(4, '0');
    await writeFile(join(dir, `${v}_item_${i}.up.sql`), `CREATE TABLE item_${i} (id bigint PRIMARY KEY, name text NOT NULL, at timestamptz DEFAULT now());\nCREATE INDEX item_${i}_name ON item_${i} (name);\nCOMMENT ON TABLE item_${i} IS 'fleet bench ${i}';\n`);
    await writeFile(join(dir, `${v}_item_${i}.down.sql`), `DROP TABLE item_${i};\n`);
  }
}

/** Samples pgpair's sessions on the server every 20 ms until stop() resolves with the peaks. */
function sampleConnections() {
  const sampler = postgres(SERVER, { max: 1, onnotice: () => {}, connection: { application_name: 'pgpair-bench-sampler' } });
  const peak = { migration: 0, side: 0, samples: 0 };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [row] = await sampler.unsafe(`SELECT count(*) FILTER (WHERE application_name = 'pgpair')::int AS migration,
        count(*) FILTER (WHERE application_name IN ('pgpair-watch', 'pgpair-cancel'))::int AS side FROM pg_stat_activity WHERE datname LIKE '${prefix}%'`);
      if (!row) throw new Error('pg_stat_activity returned no row');
      peak.migration = Math.max(peak.migration, row.migration);
      peak.side = Math.max(peak.side, row.side);
      peak.samples++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await sampler.end();
      return peak;
    },
  };
}

/**
 * The fleet's own memory, apart from what V8 has not collected yet: a child process runs
 * `status` over the same targets through the library (lib/run/fleet.ts), keeping no report,
 * forcing a GC after every quarter of them and reporting the live heap then (MB). Flat means the
 * fleet itself keeps nothing per target but a small result record.
 */
async function heapProbe(targets, cwd) {
  const file = join(cwd, 'heap-probe.mjs');
  await writeFile(join(cwd, 'targets.json'), JSON.stringify(targets));
  await writeFile(
    file,
    `import { readFileSync } from 'node:fs';
import { fleet } from ${JSON.stringify(resolve(HERE, '..', 'dist', 'index.js'))};
const targets = JSON.parse(readFileSync(${JSON.stringify(join(cwd, 'targets.json'))}, 'utf8'));
const marks = [];
let done = 0;
const heap = () => { globalThis.gc(); return Math.round(process.memoryUsage().heapUsed / 1e5) / 10; };
const before = heap();
await fleet({ targets, dir: ${JSON.stringify(join(cwd, 'sql'))}, parallel: ${parallel}, onResult: () => { done++; if (done % Math.ceil(targets.length / 4) === 0 || done === targets.length) marks.push(heap()); } }, async (m) => { await m.status(); });
console.log(JSON.stringify({ before, marks }));
`,
  );
  const result = await run({ cmd: 'nice', args: ['-n', '10', process.execPath, '--expose-gc', file], cwd, timeoutMs: 1_800_000 }, { measure: false });
  if (result.code !== 0) throw new Error(`heap probe exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim());
}

/** Runs `pgpair up` over the fleet with `args`, measured. */
async function measure(label, targets, args, cwd, check, urls) {
  const sampler = sampleConnections();
  const result = await run({ cmd: 'nice', args: ['-n', '10', process.execPath, BIN, 'up', '--quiet', '--log-level', 'error', '--parallel', String(parallel), ...args], cwd, timeoutMs: 1_800_000 });
  const peak = await sampler.stop();
  if (result.code !== 0) throw new Error(`${label}: pgpair exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  const applied = await check();
  if (applied !== targets * migrationCount) throw new Error(`${label}: ${applied} history rows, expected ${targets * migrationCount}`);
  const probe = await heapProbe(urls, cwd);
  const row = { label, targets, heap: `${probe.before} → ${probe.marks.join(' → ')}`, wallMs: Math.round(result.wallMs), perTargetMs: Math.round(result.wallMs / targets), rssMb: result.maxRssKb === null ? null : Math.round(result.maxRssKb / 1024), migration: peak.migration, side: peak.side, samples: peak.samples };
  log(JSON.stringify(row));
  return row;
}

async function schemaFleet(n, cwd) {
  const database = `${prefix}_s${n}`;
  await admin.unsafe(`CREATE DATABASE "${database}"`);
  const db = postgres(urlOf(database), { max: 1, onnotice: () => {} });
  try {
    const names = Array.from({ length: n }, (_, i) => `tenant_${String(i + 1).padStart(4, '0')}`);
    await db.unsafe(names.map((name) => `CREATE SCHEMA "${name}";`).join('\n'));
    return await measure(`${n} schemas of one database`, n, ['--url', urlOf(database), '--schemas', 'tenant_*'], cwd, async () => {
      const rows = await db.unsafe(names.map((name) => `SELECT count(*)::int AS n FROM "${name}".pgpair_history`).join(' UNION ALL '));
      return rows.reduce((sum, r) => sum + r.n, 0);
    }, names.map((name) => `${urlOf(database)}?schema=${name}`));
  } finally {
    await db.end();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${database}"`);
  }
}

async function databaseFleet(n, cwd) {
  const names = Array.from({ length: n }, (_, i) => `${prefix}_d${n}_${i + 1}`);
  try {
    for (const name of names) await admin.unsafe(`CREATE DATABASE "${name}"`);
    const file = join(cwd, `targets-${n}.txt`);
    await writeFile(file, `# ${n} databases\n${names.map(urlOf).join('\n')}\n`);
    return await measure(`${n} databases`, n, ['--targets', file], cwd, async () => {
      let sum = 0;
      for (const name of names) {
        const db = postgres(urlOf(name), { max: 1, onnotice: () => {} });
        const [row] = await db.unsafe(`SELECT count(*)::int AS n FROM pgpair_history`);
        sum += row?.n ?? 0;
        await db.end();
      }
      return sum;
    }, names.map(urlOf));
  } finally {
    for (const name of names) await admin.unsafe(`DROP DATABASE IF EXISTS "${name}"`);
  }
}

async function main() {
  if (!haveGnuTime) log('GNU time (/usr/bin/time) is not installed: peak RSS is not measured');
  const cwd = await mkdtemp(join(tmpdir(), 'pgpair-bench-fleet-'));
  const rows = [];
  try {
    await writeMigrations(join(cwd, 'sql'));
    for (const n of counts(options.schemas)) rows.push(await schemaFleet(n, cwd));
    for (const n of counts(options.databases)) rows.push(await databaseFleet(n, cwd));
  } finally {
    await rm(cwd, { recursive: true, force: true });
    await cleanupExec();
    await admin.end();
  }
  console.log(`${migrationCount} migrations per target, --parallel ${parallel}, one pgpair process (nice -n 10).\n`);
  console.log('| fleet | targets | wall time | per target | peak RSS | live heap after GC, MB (start → each quarter) | pgpair connections (max seen) | side connections (max seen) | samples |');
  console.log('|---|---:|---:|---:|---:|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.label} | ${r.targets} | ${(r.wallMs / 1000).toFixed(1)} s | ${r.perTargetMs} ms | ${r.rssMb ?? 'n/a'} MB | ${r.heap} | ${r.migration} | ${r.side} | ${r.samples} |`);
}

await main();
