/**
 * Test databases: what a migrated database per test costs, for 20, 100 and 1000 migrations of the
 * bench corpus (bench/corpus.js), per call, median of several:
 *
 * - fresh apply: CREATE DATABASE, then pgpair's migrator applies every migration (what a suite
 *   without templates does per test file);
 * - clone by name: testDatabase({ url, template }) (connect, CREATE DATABASE … TEMPLATE,
 *   disconnect), the template already built (what a global setup hands to each test file);
 * - clone by dir: testDatabase({ url, dir }), which also reads and hashes every file per call;
 * - bare CREATE DATABASE … TEMPLATE of the same template on an open connection (the floor);
 * - PGlite snapshot: testDatabase() without a URL (a new in-memory PGlite loaded from the
 *   snapshot), the snapshot already made; and the one-time costs (template build, snapshot build).
 *
 * Usage: nice node bench/template.js [--url postgres://…/postgres] [--sizes 20,100,1000] [--reps 7] [--no-pglite]
 * Needs `npm run build` (it runs dist/). Prints a Markdown table and a JSON line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { dropTemplates, migrator, templateDatabase, testDatabase } from '../dist/index.js';
import { generateCorpus, writeFiles } from './corpus.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres' },
    sizes: { type: 'string', default: '20,100,1000' },
    reps: { type: 'string', default: '7' },
    'apply-reps': { type: 'string', default: '3' },
    'no-pglite': { type: 'boolean', default: false },
  },
});
const url = String(values.url);
const sizes = String(values.sizes).split(',').map(Number);
const reps = Number(values.reps);
const applyReps = Number(values['apply-reps']);

/** @param {number[]} xs @returns {number} */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? Number.NaN) + (s[m] ?? Number.NaN)) / 2;
}

/** @param {string} base @param {string} name */
function withDatabase(base, name) {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/** @param {() => Promise<unknown>} fn @returns {Promise<number>} ms */
async function timed(fn) {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

const admin = postgres(url, { max: 1, onnotice: () => {} });
const root = await mkdtemp(join(tmpdir(), 'pgpair-bench-template-'));
const results = [];
try {
  for (const n of sizes) {
    const dir = join(root, `p${n}`, 'sql');
    /** @type {Record<string, string>} */
    const files = {};
    for (const m of generateCorpus(n)) {
      files[`${m.version}_${m.slug}.up.sql`] = m.up;
      files[`${m.version}_${m.slug}.down.sql`] = m.down;
    }
    await writeFiles(dir, files);

    // Fresh apply, per call: a new database and every migration.
    const apply = [];
    for (let i = 0; i < applyReps; i++) {
      const name = `pgpair_bench_apply_${n}_${i}`;
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}"`);
      apply.push(
        await timed(async () => {
          await admin.unsafe(`CREATE DATABASE "${name}"`);
          const m = await migrator({ url: withDatabase(url, name), dir });
          try {
            await m.up();
          } finally {
            await m.close();
          }
        }),
      );
      await admin.unsafe(`DROP DATABASE "${name}"`);
    }

    await dropTemplates({ url, dir });
    let template = '';
    const build = await timed(async () => {
      template = (await templateDatabase({ url, dir })).name;
    });

    // Paired: each round makes one database each way, in turn, so that the load of the moment
    // (the machine may be shared) weighs on all three alike.
    const serverUrl = /** @type {`postgres://${string}`} */ (url);
    const clone = [];
    const byDir = [];
    const bare = [];
    const dropMs = [];
    for (let i = 0; i < reps; i++) {
      for (const [times, options] of /** @type {const} */ ([
        [clone, { url: serverUrl, dir, template }],
        [byDir, { url: serverUrl, dir }],
      ])) {
        /** @type {import('../dist/index.js').ServerTestDatabase | undefined} */
        let db;
        times.push(
          await timed(async () => {
            db = await testDatabase(options);
          }),
        );
        const made = db;
        if (made) dropMs.push(await timed(() => made.drop()));
      }
      const name = `pgpair_bench_bare_${n}_${i}`;
      bare.push(await timed(() => admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${template}"`)));
      await admin.unsafe(`DROP DATABASE "${name}"`);
    }
    await dropTemplates({ url, dir });

    /** @type {{ snapshotBuild: number, load: number } | null} */
    let pglite = null;
    if (!values['no-pglite']) {
      const first = await timed(async () => {
        const db = await testDatabase({ dir });
        await db.drop();
      });
      const loads = [];
      for (let i = 0; i < Math.min(reps, 5); i++) {
        /** @type {import('../dist/index.js').PgliteTestDatabase | undefined} */
        let db;
        loads.push(
          await timed(async () => {
            db = await testDatabase({ dir });
          }),
        );
        await db?.drop();
      }
      pglite = { snapshotBuild: first, load: median(loads) };
    }

    const row = { migrations: n, applyMs: median(apply), templateBuildMs: build, cloneMs: median(clone), cloneByDirMs: median(byDir), bareMs: median(bare), dropMs: median(dropMs), pglite };
    results.push(row);
    console.error(JSON.stringify(row));
  }
} finally {
  await admin.end();
  await rm(root, { recursive: true, force: true });
}

const f = (/** @type {number} */ ms) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
console.log('| migrations | fresh apply (ms) | clone by name (ms) | bare CREATE DATABASE … TEMPLATE (ms) | clone / bare | apply / clone | clone by dir (ms) | drop() (ms) | template build, once (ms) | PGlite snapshot load (ms) | PGlite snapshot build, once (ms) |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.migrations} | ${f(r.applyMs)} | ${f(r.cloneMs)} | ${f(r.bareMs)} | ${(r.cloneMs / r.bareMs).toFixed(2)}× | ${(r.applyMs / r.cloneMs).toFixed(0)}× | ${f(r.cloneByDirMs)} | ${f(r.dropMs)} | ${f(r.templateBuildMs)} | ${r.pglite ? f(r.pglite.load) : '–'} | ${r.pglite ? f(r.pglite.snapshotBuild) : '–'} |`,
  );
}
console.log(JSON.stringify({ bench: 'template', reps, applyReps, results }));
