/**
 * A run waiting for pgpair's migration lock must never make another run's CREATE INDEX
 * CONCURRENTLY wait for it (Flyway's self-deadlock: a CIC waits for every transaction older than
 * its snapshot, so a waiter that polls inside a transaction, or holds a snapshot, would be waited
 * for while it waits for the lock the CIC's run holds). Issue 15, part 2.
 *
 * Run A applies a CIC migration, held in its wait phase by a third session's open REPEATABLE READ
 * transaction (a snapshot older than the CIC). Run B starts meanwhile and polls for the lock.
 * The CIC must then wait for the third session only; once that ends, A must finish while B is
 * still polling; then B finishes with nothing left to do. Every step waits for a state
 * (pg_stat_activity, pg_locks, the runs' stderr), never for a time.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runCli, startCli, workdir, type RunningCli } from '../helpers/cli.js';
import { connectTo, scratchDatabase, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase('retries_cic');
});
afterEach(async () => db.drop());

/** Polls `probe` (a query on the test's own session) until it returns a value; the test's timeout is the guard. */
async function until<T>(probe: () => Promise<T | null | undefined>, what: string, runs: RunningCli[]): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    for (const run of runs) if (run.child.exitCode !== null) throw new Error(`a run ended while waiting for ${what}:\n${run.stderr()}`);
    await db.sql.unsafe('SELECT pg_sleep(0.05)');
  }
}

describe('a run waiting for the migration lock, beside a CREATE INDEX CONCURRENTLY', () => {
  it('holds no snapshot or transaction id: the CIC waits only for the older transaction, finishes while the waiter still polls, then the waiter finishes', async () => {
    const cwd = workdir({
      'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\nINSERT INTO t SELECT g FROM generate_series(1, 1000) g;\n',
      'sql/0002_index.up.sql': '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n',
    });
    assert.equal((await runCli(['up', '0001', '--url', db.url], { cwd })).code, 0);

    const oldSql = connectTo(db.url);
    const old = await oldSql.reserve();
    const runs: RunningCli[] = [];
    try {
      await old.unsafe(`SET application_name = 'old-snapshot'`);
      await old.unsafe('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await old.unsafe('SELECT count(*) FROM t');
      const [{ pid: oldPid }] = (await old.unsafe('SELECT pg_backend_pid() AS pid')) as unknown as [{ pid: number }];

      // A: no lock_timeout, so its CIC waits for the old transaction as long as it lasts.
      const a = startCli(['up', '--url', db.url, '--migration-lock-timeout', '0'], { cwd, timeoutMs: 60_000 });
      runs.push(a);
      const aPid = await until(async () => {
        const [row] = await db.sql.unsafe(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock' AND wait_event = 'virtualxid'`);
        return row?.pid as number | undefined;
      }, "A's CIC waiting for the old transaction", runs);

      // B: waits for the lock A holds (long enough that only A's finishing can end its wait).
      const b = startCli(['up', '--url', db.url, '--lock-timeout', '40s'], { cwd, timeoutMs: 60_000 });
      runs.push(b);
      await b.stderrMatches(/waiting for the migration lock/);

      // While B polls: the CIC still waits for the old transaction and nothing else, and no session of B's holds a
      // snapshot or a transaction id (A's CIC holds the one backend with either, apart from the old transaction).
      for (let look = 0; look < 10; look++) {
        const [blocking] = await db.sql.unsafe(`SELECT pg_blocking_pids($1::int) AS pids`, [aPid]);
        assert.deepEqual(blocking!.pids, [oldPid]);
        const holding = await db.sql.unsafe(
          `SELECT pid, application_name, state, backend_xid::text AS xid, backend_xmin::text AS xmin FROM pg_stat_activity
            WHERE datname = current_database() AND pid NOT IN ($1::int, $2::int, pg_backend_pid()) AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL) AND state <> 'active'`,
          [aPid, oldPid],
        );
        assert.deepEqual([...holding], [], 'an idle session holds a snapshot or a transaction id');
        assert.equal(b.child.exitCode, null, b.stderr());
      }

      // A logs what its CIC waits for, and who holds it.
      await a.stderrMatches(new RegExp(`0002_index waits for the end of another transaction \\(ShareLock on its virtualxid\\), held by pid ${oldPid} \\(old-snapshot, user \\w+, idle in transaction`));

      // The old transaction ends: A's CIC finishes and A exits while B is still waiting.
      await old.unsafe('ROLLBACK');
      const aDone = await a.exited;
      assert.equal(aDone.code, 0, aDone.stderr);
      assert.match(aDone.stdout, /0002_index/);
      assert.equal(b.child.exitCode, null, `B ended before A: ${b.stderr()}`);

      // Then B takes the lock and finds nothing left to do.
      const bDone = await b.exited;
      assert.equal(bDone.code, 0, bDone.stderr);
      assert.doesNotMatch(bDone.stdout, /0002_index/);
      const [index] = await db.sql.unsafe(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 't_a'::regclass`);
      assert.equal(index!.valid, true);
      const history = await db.sql.unsafe(`SELECT version_label AS v, state FROM pgpair_history ORDER BY version::numeric`);
      assert.deepEqual([...history].map((r) => `${r.v}:${r.state}`), ['0001:ok', '0002:ok']);
    } finally {
      for (const run of runs) if (run.child.exitCode === null) run.child.kill('SIGKILL');
      await old.unsafe('ROLLBACK').catch(() => {});
      old.release();
      await oldSql.end({ timeout: 1 });
    }
  });
});
