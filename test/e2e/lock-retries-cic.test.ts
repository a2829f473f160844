/**
 * Lock retries of a non-transactional CREATE INDEX CONCURRENTLY (issue 15, part 2): one that
 * failed on a lock timeout or a deadlock leaves an INVALID index, which pgpair drops before
 * trying the statement again, and when it gives up; never an index that existed before the
 * attempt, nor another session's build in progress. Sessions of the test hold an old snapshot
 * (the CIC waits for it: a virtualxid lock) or the table's locks; every step waits for a state.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { up } from '../../lib/index.js';
import { runCli, startCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';
import { capturingLogger, holder, logRows as logRowsOf, retries, versions as versionsOf } from '../helpers/locks.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase('retries');
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });
const logRows = () => logRowsOf(db.sql);
const versions = () => versionsOf(db.sql);

describe('a CREATE INDEX CONCURRENTLY that meets an older transaction', () => {
  async function indexes() {
    return [...(await db.sql.unsafe(`SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 't'::regclass ORDER BY 1`))].map((r) => `${r.name}:${r.valid ? 'valid' : 'INVALID'}`);
  }

  it('drops the INVALID index it left (only that one) and tries the statement again, named or not', async () => {
    const cwd = workdir({
      'sql/0001_t.up.sql': 'CREATE TABLE t(a int, b int);\nINSERT INTO t VALUES (1, 1), (1, 2);\n',
      'sql/0002_idx.up.sql': '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\nCREATE INDEX CONCURRENTLY ON t (b);\n',
    });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    // The user's own INVALID index from an earlier failed build: pgpair must leave it alone.
    await db.sql.unsafe('CREATE UNIQUE INDEX CONCURRENTLY t_old ON t (a)').catch(() => {});
    assert.deepEqual(await indexes(), ['t_old:INVALID']);
    // An older transaction with a snapshot: each CIC waits for it to end (virtualxid), past the lock timeout.
    const old = await holder(db.url, ['BEGIN ISOLATION LEVEL REPEATABLE READ', 'SELECT 1'], 'old-report');
    const { logger, entries, until } = capturingLogger();
    try {
      const run = up({ url: db.url, dir: join(cwd, 'sql'), logger, migrationLockTimeoutMs: 300, lockRetries: 50, lockRetryBaseMs: 10, lockWaitLogMs: 50 });
      run.catch(() => {});
      await until((e) => retries(e).length >= 2);
      await old.end();
      await run;
    } finally {
      await old.end();
    }
    assert.deepEqual(await indexes(), ['t_a:valid', 't_b_idx:valid', 't_old:INVALID']);
    assert.deepEqual(await versions(), ['0001:ok', '0002:ok']);
    const [first] = retries(entries);
    assert.match(first!.msg, new RegExp(`^statement 1 of 2 \\(\\S*sql/0002_idx\\.up\\.sql:2\\) of 0002_idx \\(up\\) failed on a lock timeout \\(55P03\\) waiting for the end of another transaction \\(ShareLock on its virtualxid\\), held by pid ${old.pid} \\(old-report`));
    assert.match(first!.msg, /attempt 1 of 51, retrying in \d+ ms$/);
    const dropped = entries.filter((e) => e.level === 40 && /^dropped the INVALID index/.test(e.msg)).map((e) => e.msg);
    assert.ok(dropped.length >= 1, 'the left-over index was dropped and said so');
    for (const msg of dropped) assert.match(msg, /^dropped the INVALID index "public"\."t_a" that the failed CREATE INDEX CONCURRENTLY \(statement 1 of 2 \(\S*sql\/0002_idx\.up\.sql:2\)\) left, before trying it again$/);
    assert.ok((await logRows()).every((row) => row.action === 'retry'));
  });

  it('an unnamed one whose retries run out: its INVALID index is dropped, the migration marked failed, and the message says so', async () => {
    const cwd = workdir({
      'sql/0001_t.up.sql': 'CREATE TABLE t(a int, b int);\n',
      'sql/0002_idx.up.sql': '-- pgpair:no-transaction\nCREATE TABLE done_first(a int);\nCREATE INDEX CONCURRENTLY ON t (b);\n',
    });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const old = await holder(db.url, ['BEGIN ISOLATION LEVEL REPEATABLE READ', 'SELECT 1'], 'old-report');
    const { logger, entries } = capturingLogger();
    let failure: unknown;
    try {
      failure = await up({ url: db.url, dir: join(cwd, 'sql'), logger, migrationLockTimeoutMs: 300, lockRetries: 1, lockRetryBaseMs: 10, lockWaitLogMs: 50 }).then(() => null, (error: unknown) => error);
    } finally {
      await old.end();
    }
    assert.ok(failure instanceof Error && (failure as { code?: string }).code === 'E_MIGRATION_FAILED', String(failure));
    const message = (failure as Error).message;
    assert.match(message, /sql\/0002_idx\.up\.sql:3:1: ERROR \[55P03\]: canceling statement due to lock timeout/);
    assert.match(message, /That statement itself was rolled back\. The file is fine: it was tried 2 times \(--lock-retries 1\)/);
    assert.match(message, new RegExp(`held by pid ${old.pid} \\(old-report`));
    assert.match(message, /pgpair dropped the INVALID index "public"\."t_b_idx" that the failed CREATE INDEX CONCURRENTLY left\./);
    assert.match(message, /pgpair repair --applied 0002/);
    assert.doesNotMatch(message, /Rerunning is safe/, 'a migration marked failed needs repair, not a rerun');
    assert.deepEqual(await indexes(), []);
    assert.deepEqual(await versions(), ['0001:ok', '0002:failed']);
    assert.deepEqual((await logRows()).map((row) => row.action), ['retry', 'failed', 'failed']);
    assert.equal(retries(entries).length, 1);
  });

  it('SIGINT during the pause before a retry: exit 130, the migration marked failed, its INVALID index dropped', async () => {
    const cwd = workdir({
      'sql/0001_t.up.sql': 'CREATE TABLE t(a int, b int);\n',
      'sql/0002_idx.up.sql': '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n',
    });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const old = await holder(db.url, ['BEGIN ISOLATION LEVEL REPEATABLE READ', 'SELECT 1'], 'old-report');
    try {
      const running = startCli(['up', '--migration-lock-timeout', '200ms', '--lock-retries', '5', '--url', db.url], { cwd });
      await running.stderrMatches(/retrying in \d+ ms/);
      running.child.kill('SIGINT');
      const r = await running.exited;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /Interrupted by SIGINT during up 0002_idx/);
      assert.match(r.stderr, /marked failed/);
    } finally {
      await old.end();
    }
    assert.deepEqual(await indexes(), []);
    assert.deepEqual(await versions(), ['0001:ok', '0002:failed']);
  });

  it("never drops another session's index build in progress: it gives up without retrying, and says why", async () => {
    const cwd = workdir({
      'sql/0001_t.up.sql': 'CREATE TABLE t(a int, b int);\n',
      'sql/0002_idx.up.sql': '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY ON t (b);\n',
    });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    // H holds the table's ShareUpdateExclusiveLock; X's own CIC queues for it, and pgpair's queues behind X. Once H ends,
    // X creates its (INVALID, in progress) index and waits for the old snapshot, while pgpair's CIC still waits for X.
    const h = await holder(db.url, ['BEGIN', 'LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE'], 'h');
    const old = await holder(db.url, ['BEGIN ISOLATION LEVEL REPEATABLE READ', 'SELECT 1'], 'old-report');
    const x = await holder(db.url, [], 'x-build');
    const { logger, until } = capturingLogger();
    let failure: unknown;
    try {
      const building = x.run('CREATE INDEX CONCURRENTLY x_idx ON t (a)');
      building.catch(() => {});
      const waitingFor = async (pid: number | null) => {
        for (;;) {
          const rows = await db.sql.unsafe(`SELECT pid FROM pg_locks WHERE relation = 't'::regclass AND mode = 'ShareUpdateExclusiveLock' AND NOT granted`);
          if (rows.some((r) => pid === null || r.pid === pid)) return;
          await db.sql.unsafe('SELECT pg_sleep(0.02)');
        }
      };
      await waitingFor(x.pid);
      const run = up({ url: db.url, dir: join(cwd, 'sql'), logger, migrationLockTimeoutMs: 3000, lockRetries: 3, lockRetryBaseMs: 10, lockWaitLogMs: 50 }).then(() => null, (error: unknown) => error);
      await until((e) => e.some((entry) => /^0002_idx waits for ShareUpdateExclusiveLock on t/.test(entry.msg)));
      await h.end();
      for (;;) {
        const [row] = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_index WHERE indexrelid = to_regclass('x_idx') AND NOT indisvalid`);
        if (row!.n === 1) break;
        await db.sql.unsafe('SELECT pg_sleep(0.02)');
      }
      failure = await run;
      await old.end();
      await building;
    } finally {
      await h.end();
      await old.end();
      await x.end();
    }
    assert.ok(failure instanceof Error, String(failure));
    // Two CICs on one table: pgpair's either times out or (as PostgreSQL usually decides) is the deadlock's victim.
    assert.match((failure as Error).message, /ERROR \[(55P03|40P01)\]/);
    assert.match((failure as Error).message, /pgpair could not tell whether the failed CREATE INDEX CONCURRENTLY left an INVALID index on t \(another session may be building one there\), so it did not try it again/);
    assert.deepEqual(await indexes(), ['x_idx:valid']);
    assert.deepEqual(await versions(), ['0001:ok', '0002:failed']);
    assert.deepEqual((await logRows()).map((row) => row.action), ['failed', 'failed']);
  });
});
