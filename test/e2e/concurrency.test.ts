/** The migration lock: concurrent runs serialise, a waiting run gives up naming the holder. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import postgres from 'postgres';
import { runCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

function manyMigrations(n: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    const v = String(i).padStart(4, '0');
    files[`sql/${v}_table_${i}.up.sql`] = `CREATE TABLE t_${i} (id int PRIMARY KEY);\nINSERT INTO applied_once VALUES (${i});\n`;
    files[`sql/${v}_table_${i}.down.sql`] = `DROP TABLE t_${i};\nDELETE FROM applied_once WHERE v = ${i};\n`;
  }
  files['sql/0000_counter.up.sql'] = 'CREATE TABLE applied_once (v int PRIMARY KEY);\n';
  return files;
}

describe('concurrency', () => {
  it('eight `up` processes started at once on a fresh database all exit 0 and apply every migration exactly once', async () => {
    const cwd = workdir(manyMigrations(12));
    const runs = await Promise.all(Array.from({ length: 8 }, () => runCli(['up', '--json', '--url', db.url], { cwd, timeoutMs: 120_000 })));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const applied = runs.map((run) => JSON.parse(run.stdout).steps.length as number);
    assert.equal(applied.reduce((a, b) => a + b, 0), 13, `steps per process: ${applied.join(', ')}`);
    const [counts] = await db.sql.unsafe(`SELECT (SELECT count(*) FROM applied_once)::int AS rows, (SELECT count(*) FROM pgpair_history)::int AS history,
      (SELECT count(*) FROM pgpair_history_log WHERE action = 'up')::int AS log`);
    assert.deepEqual({ ...counts }, { rows: 12, history: 13, log: 13 });
    const locks = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()`);
    assert.equal(locks[0]!.n, 0, 'every run released the lock');
  });

  it('a run waiting longer than --lock-timeout exits 1 naming the holder; another history table is not blocked', async () => {
    const cwd = workdir(manyMigrations(1));
    const holder = postgres(db.url, { max: 1, onnotice: () => {}, connection: { application_name: 'dba-console' } });
    try {
      const [{ pid }] = (await holder.unsafe(`SELECT pg_backend_pid() AS pid`)) as unknown as [{ pid: number }];
      await holder.unsafe(`SELECT pg_advisory_lock(hashtextextended('pgpair:' || current_database() || ':' || 'public.pgpair_history', 0))`);
      const started = Date.now();
      const r = await runCli(['up', '--lock-timeout', '1500ms', '--url', db.url], { cwd });
      const waited = Date.now() - started;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`Timed out after \\d+\\.\\ds waiting for the migration lock, held by pid ${pid} \\(dba-console\\)`));
      assert.match(r.stderr, /connected since \d{4}-\d\d-\d\dT/);
      assert.match(r.stderr, /waiting for the migration lock on public\.pgpair_history, held by pid \d+ \(dba-console\)/);
      assert.ok(waited >= 1500, `gave up after ${waited} ms`);
      const history = await db.sql.unsafe(`SELECT to_regclass('pgpair_history') AS t`);
      assert.equal(history[0]!.t, null, 'nothing was created while waiting');
      const json = await runCli(['up', '--json', '--lock-timeout', '1', '--url', db.url], { cwd });
      assert.equal(json.code, 1);
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.error.code, 'E_LOCK_TIMEOUT');
      assert.equal(doc.error.holder.pid, pid);
      const other = await runCli(['up', '--table', 'other_history', '--url', db.url], { cwd });
      assert.equal(other.code, 0, other.stderr);
    } finally {
      await holder.end();
    }
  });
});
