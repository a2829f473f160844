/**
 * `pgpair test` on the synthetic corpus (corpus.js: each migration one table with an index and a
 * comment): N migrations up, down and up again on one scratch database, three fingerprints per
 * step. Runs the library (dist/run/schema-test.js, built by `npm run build` at the root) in this
 * process, on the server of BENCH_DATABASE_URL and, for N up to PGLITE_MAX, on an embedded PGlite.
 *
 *   node bench/schema-test.js [N ...]     default: 100 1000
 *
 * Prints one Markdown table row per run: N, where, total seconds, ms per migration, and the
 * fingerprint share (timed separately on the final state: one fingerprint of N tables).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateCorpus, writeFiles } from './corpus.js';
import { DEFAULT_URL } from './support/db.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PGLITE_MAX = 100;

/** @param {string} path */
const load = (path) => import(pathToFileURL(join(ROOT, 'dist', path)).href);

async function main() {
  const sizes = process.argv.slice(2).map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const url = process.env.BENCH_DATABASE_URL || DEFAULT_URL;
  const { testMigrations } = await load('run/schema-test.js');
  const { takeFingerprint } = await load('run/fingerprint.js');
  const { withScratchDatabase } = await load('run/scratch.js');
  const { migrator } = await load('run/provider.js');
  process.stdout.write('| migrations | database | total s | ms per migration | one fingerprint at the end, ms | result |\n|---:|---|---:|---:|---:|---|\n');
  for (const n of sizes.length > 0 ? sizes : [100, 1000]) {
    const work = await mkdtemp(join(tmpdir(), 'pgpair-bench-schema-test-'));
    try {
      const dir = join(work, 'sql');
      /** @type {Record<string, string>} */
      const files = {};
      for (const m of generateCorpus(n)) {
        files[`${m.version}_${m.slug}.up.sql`] = m.up;
        files[`${m.version}_${m.slug}.down.sql`] = m.down;
      }
      await writeFiles(dir, files);
      for (const where of n <= PGLITE_MAX ? ['server', 'embedded'] : ['server']) {
        const serverUrl = where === 'server' ? url : undefined;
        const started = performance.now();
        const result = await testMigrations({ dir, url: serverUrl });
        const totalMs = performance.now() - started;
        // One fingerprint of the whole corpus applied: the largest of the run's 3N.
        const fingerprintMs = await withScratchDatabase({ serverUrl }, async (/** @type {any} */ scratch) => {
          const m = await migrator({ ...scratch.target, dir });
          try {
            await m.up();
          } finally {
            await m.close();
          }
          const t = performance.now();
          await takeFingerprint(scratch.db, { historyTable: { schema: null, name: 'pgpair_history' } });
          return performance.now() - t;
        });
        const verdict = result.ok ? `ok (${result.counts.ok} ok)` : `FAILED ${JSON.stringify(result.counts)}`;
        process.stdout.write(`| ${n} | ${where} | ${(totalMs / 1000).toFixed(1)} | ${(totalMs / n).toFixed(1)} | ${fingerprintMs.toFixed(0)} | ${verdict} |\n`);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

main().catch((error) => {
  process.stderr.write(`bench/schema-test.js: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
