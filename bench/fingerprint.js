/**
 * Issue 14: how long one schema fingerprint takes, and that it is one query, on schemas of 100
 * and 1000 tables (each: an identity primary key, four more columns with defaults, a CHECK, an
 * index and a comment), on the server and on PGlite (in memory).
 *
 *   npm run build && node bench/fingerprint.js            # --runs 5 (default), --sizes 100,1000
 *
 * BENCH_DATABASE_URL as for runner.js (default postgres://root@127.0.0.1:5432/postgres); the
 * scratch database is bench_<pid>_fingerprint_N, dropped at the end. Needs only pgpair's own
 * dependencies (it loads dist/, not bench/node_modules).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: options } = parseArgs({ options: { runs: { type: 'string', default: '5' }, sizes: { type: 'string', default: '100,1000' } } });
const runs = Number(options.runs);
const sizes = options.sizes.split(',').map(Number);

const { takeFingerprint, compareFingerprints } = await import(pathToFileURL(join(ROOT, 'dist/index.js')).href);
const { connect } = await import(pathToFileURL(join(ROOT, 'dist/db/index.js')).href);

const adminUrl = process.env.BENCH_DATABASE_URL || 'postgres://root@127.0.0.1:5432/postgres';

/** @param {number} n */
function schemaSql(n) {
  return `DO $$ BEGIN FOR i IN 1..${n} LOOP
  EXECUTE format('CREATE TABLE t%s (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL DEFAULT ''x'', at timestamptz DEFAULT now(), n integer CHECK (n > 0), ref bigint)', i);
  EXECUTE format('CREATE INDEX ON t%s (name)', i);
  EXECUTE format('COMMENT ON TABLE t%s IS ''table %s''', i, i);
END LOOP; END $$;`;
}

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Times takeFingerprint on `db` (a Connection), counting the queries it sends. */
async function measure(label, db, n) {
  let queries = 0;
  const counting = {
    server: db.server,
    query: (text, params) => {
      queries++;
      return db.query(text, params);
    },
    exec: (text) => db.exec(text),
    copyFrom: (statement, data) => db.copyFrom(statement, data),
  };
  const times = [];
  let fingerprint = null;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fingerprint = await takeFingerprint(counting, { historyTable: { schema: null, name: 'pgpair_history' } });
    times.push(performance.now() - start);
  }
  const compareStart = performance.now();
  const differences = compareFingerprints(fingerprint, fingerprint);
  const compareMs = performance.now() - compareStart;
  console.log(
    `| ${label} | ${n} | ${fingerprint.objects.length} | ${median(times).toFixed(0)} | ${Math.min(...times).toFixed(0)} | ${(queries / runs).toFixed(0)} | ${(JSON.stringify(fingerprint).length / 1e6).toFixed(1)} | ${compareMs.toFixed(0)} (${differences.length} differences) |`,
  );
}

console.log(`${runs} runs each; server ${new URL(adminUrl).host}\n`);
console.log('| where | tables | objects | median ms | min ms | queries per fingerprint | JSON MB | compare ms |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const n of sizes) {
  const name = `bench_${process.pid}_fingerprint_${n}`;
  const admin = await connect({ url: adminUrl });
  // Two statements, two calls: CREATE DATABASE cannot run in the implicit transaction of a multi-statement query.
  await admin.exec(`DROP DATABASE IF EXISTS "${name}"`);
  await admin.exec(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await connect({ url: url.toString() });
  try {
    await db.exec(schemaSql(n));
    await measure(`PostgreSQL ${Math.floor(db.server.versionNum / 10000)}`, db, n);
  } finally {
    await db.close();
    await admin.exec(`DROP DATABASE IF EXISTS "${name}"`);
    await admin.close();
  }
  const lite = await connect({ url: 'pglite:memory' });
  try {
    await lite.exec(schemaSql(n));
    await measure('PGlite (memory)', lite, n);
  } finally {
    await lite.close();
  }
}
