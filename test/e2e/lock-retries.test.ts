/**
 * Lock timeouts and retries (issue 15, part 2; SPEC §4 Guards): migration SQL runs with a
 * lock_timeout (5s by default); a migration that hits it, or a deadlock, is retried after a
 * backoff, each retry logged with the table and the session in the way and appended to the
 * history log; when the retries are used up the run fails (exit 1) naming the file, the table,
 * the blocking session, the attempts and what to do. A non-transactional CREATE INDEX
 * CONCURRENTLY that failed leaves an INVALID index, which pgpair drops before trying again.
 * Another session holds the locks; the tests wait for states (log entries, pg_locks), never
 * for times. The library runs set the backoff base low (lockRetryBaseMs) so nothing waits seconds.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { up } from '../../lib/index.js';
import { runCli, startCli, workdir } from '../helpers/cli.js';
import { connectTo, scratchDatabase, type Scratch, type Sql } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase('retries');
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });

interface Entry {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose JSON lines are kept, and a way to wait until one of them matches. */
function capturingLogger() {
  const entries: Entry[] = [];
  const waiters: { test: (e: Entry[]) => boolean; resolve: () => void }[] = [];
  const logger = pino({ level: 'debug' }, {
    write: (line: string) => {
      entries.push(JSON.parse(line) as Entry);
      for (const w of waiters.filter((w) => w.test(entries))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
  });
  const until = (test: (e: Entry[]) => boolean) => (test(entries) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve })));
  return { logger, entries, until };
}

const retries = (entries: Entry[]) => entries.filter((e) => e.level === 40 && /retrying in \d+ ms/.test(e.msg));

/** A second session holding locks: `statements` run first (in an open transaction when they BEGIN one); `end` rolls it back and closes it. */
async function holder(url: string, statements: string[], applicationName = 'lock-holder') {
  const sql: Sql = connectTo(url);
  const reserved = await sql.reserve();
  await reserved.unsafe(`SET application_name = '${applicationName}'`);
  const [{ pid }] = (await reserved.unsafe('SELECT pg_backend_pid() AS pid')) as unknown as [{ pid: number }];
  for (const statement of statements) await reserved.unsafe(statement);
  let ended = false;
  return {
    pid,
    run: (statement: string) => reserved.unsafe(statement).then(() => undefined),
    end: async () => {
      if (ended) return;
      ended = true;
      await reserved.unsafe('ROLLBACK').catch(() => {});
      reserved.release();
      await sql.end({ timeout: 1 });
    },
  };
}

async function logRows() {
  return [...(await db.sql.unsafe(`SELECT action, version, detail FROM pgpair_history_log WHERE action IN ('retry', 'failed') ORDER BY id`))] as unknown as { action: string; version: string; detail: string }[];
}

async function versions() {
  return [...(await db.sql.unsafe(`SELECT version_label AS v, state FROM pgpair_history ORDER BY version::numeric`))].map((r) => `${r.v}:${r.state}`);
}

describe('a transactional migration that meets a lock', () => {
  it('is rolled back and retried, each retry logged with the table and the blocker, and succeeds once the lock is gone', async () => {
    const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\n', 'sql/0002_alter.up.sql': 'CREATE TABLE side(a int);\nALTER TABLE t ADD COLUMN b int;\n' });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const lock = await holder(db.url, ['BEGIN', 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE']);
    const { logger, entries, until } = capturingLogger();
    let run: Promise<unknown>;
    try {
      run = up({ url: db.url, dir: join(cwd, 'sql'), logger, migrationLockTimeoutMs: 400, lockRetries: 50, lockRetryBaseMs: 10, lockWaitLogMs: 50 });
      run.catch(() => {});
      await until((e) => retries(e).length >= 2);
    } finally {
      await lock.end();
    }
    const result = (await run) as { steps: { version: string; lockRetries?: number }[] };
    assert.deepEqual(result.steps.map((s) => s.version), ['0002']);
    assert.equal(result.steps[0]!.lockRetries, retries(entries).length, 'the step says how often it was retried');
    assert.deepEqual(await versions(), ['0001:ok', '0002:ok']);
    assert.deepEqual((await db.sql.unsafe(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'b'`))[0]!.n, 1);
    // Statement 1 ran in every attempt; its table exists once, from the attempt that committed.
    assert.deepEqual((await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'side'`))[0]!.n, 1);

    const logged = retries(entries);
    assert.ok(logged.length >= 2);
    for (const [i, entry] of logged.entries()) {
      assert.equal(entry.attempt, i + 1);
      assert.equal(entry.table, 't');
      assert.equal(entry.sqlstate, '55P03');
      assert.deepEqual((entry.blockers as { pid: number }[]).map((b) => b.pid), [lock.pid]);
      assert.match(entry.msg, new RegExp(`^0002_alter \\(up\\) failed on a lock timeout \\(55P03\\) waiting for AccessExclusiveLock on t, held by pid ${lock.pid} \\(lock-holder, user \\w+, idle in transaction`));
      assert.match(entry.msg, /attempt \d+ of 51, rolled back, retrying in \d+ ms$/);
    }
    // While it waited, the wait itself was logged too, with who holds the lock.
    assert.ok(entries.some((e) => e.level === 30 && e.msg.startsWith(`0002_alter waits for AccessExclusiveLock on t, held by pid ${lock.pid}`)));
    const rows = await logRows();
    assert.equal(rows.length, logged.length);
    for (const [i, row] of rows.entries()) {
      assert.equal(row.action, 'retry');
      assert.equal(row.version, '0002');
      assert.match(row.detail, new RegExp(`^attempt ${i + 1} of 51: 0002_alter \\(up\\) failed on a lock timeout \\(55P03\\) waiting for AccessExclusiveLock on t, held by pid ${lock.pid} `));
    }
  });

  it('fails after the last retry (exit 1), naming the file, the table, the blocking session, the attempts and what to do', async () => {
    const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\n', 'sql/0002_alter.up.sql': 'ALTER TABLE t ADD COLUMN b int;\n' });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const lock = await holder(db.url, ['BEGIN', 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE'], 'nightly-report');
    let r: Awaited<ReturnType<typeof cli>>;
    try {
      r = await cli(['up', '--migration-lock-timeout', '300ms', '--lock-retries', '1'], cwd);
    } finally {
      await lock.end();
    }
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /sql\/0002_alter\.up\.sql:1:1: ERROR \[55P03\]: canceling statement due to lock timeout/);
    assert.match(r.stderr, /Nothing of 0002 was applied/);
    assert.match(r.stderr, new RegExp(`it was tried 2 times \\(--lock-retries 1\\), each time a statement waited longer than the lock timeout \\(--migration-lock-timeout, 300 ms\\) for AccessExclusiveLock on t, held by pid ${lock.pid} \\(nightly-report, user \\w+, idle in transaction, in a transaction since \\d{4}-\\d\\d-\\d\\dT`));
    assert.match(r.stderr, new RegExp(`WHERE pid = ${lock.pid}\\)`));
    assert.match(r.stderr, /raise --migration-lock-timeout or --lock-retries\. Rerunning is safe/);
    // The one retry was logged on stderr before the failure.
    assert.match(r.stderr, /attempt 1 of 2, rolled back, retrying in \d+ ms/);
    assert.deepEqual(await versions(), ['0001:ok']);
    const rows = await logRows();
    assert.deepEqual(rows.map((row) => row.action), ['retry', 'failed']);
    assert.match(rows[1]!.detail, new RegExp(`^up gave up after 2 attempts \\(--lock-retries 1\\), the last one on a lock timeout \\(55P03\\) waiting for AccessExclusiveLock on t, held by pid ${lock.pid} `));
    // `pgpair history` shows them, newest first.
    const history = await cli(['history'], cwd);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /failed 0002_alter\s.*up gave up after 2 attempts[\s\S]*retry 0002_alter\s.*attempt 1 of 2: 0002_alter \(up\) failed on a lock timeout/);
    // Once the session is gone, the same run succeeds.
    assert.equal((await cli(['up'], cwd)).code, 0);
    assert.deepEqual(await versions(), ['0001:ok', '0002:ok']);
  });

  it('on the command line: the retry is logged on stderr, and the result line says the step needed it', async () => {
    const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\n', 'sql/0002_alter.up.sql': 'ALTER TABLE t ADD COLUMN b int;\n' });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const lock = await holder(db.url, ['BEGIN', 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE']);
    let r: Awaited<ReturnType<typeof cli>>;
    try {
      const running = startCli(['up', '--migration-lock-timeout', '200ms', '--lock-retries', '10', '--url', db.url], { cwd });
      await running.stderrMatches(/retrying in \d+ ms/);
      await lock.end();
      r = await running.exited;
    } finally {
      await lock.end();
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^applied 0002_alter \(\d+ ms, after \d+ lock retr(y|ies)\)$/m);
    assert.match(r.stderr, new RegExp(`0002_alter \\(up\\) failed on a lock timeout \\(55P03\\) waiting for AccessExclusiveLock on t, held by pid ${lock.pid} `));
    assert.deepEqual(await versions(), ['0001:ok', '0002:ok']);
  });

  it('--lock-retries 0 fails at the first lock timeout; SIGINT during a backoff ends the run with 130 and nothing recorded', async () => {
    const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\n', 'sql/0002_alter.up.sql': 'ALTER TABLE t ADD COLUMN b int;\n' });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const lock = await holder(db.url, ['BEGIN', 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE']);
    try {
      const once = await cli(['up', '--migration-lock-timeout', '200ms', '--lock-retries', '0'], cwd);
      assert.equal(once.code, 1, once.stderr);
      assert.match(once.stderr, /it was not retried \(--lock-retries 0\)/);
      assert.doesNotMatch(once.stderr, /retrying in/);

      const running = startCli(['up', '--migration-lock-timeout', '200ms', '--lock-retries', '5', '--url', db.url], { cwd });
      await running.stderrMatches(/retrying in \d+ ms/);
      running.child.kill('SIGINT');
      const r = await running.exited;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /Interrupted by SIGINT/);
      assert.match(r.stderr, /nothing of it was applied/);
    } finally {
      await lock.end();
    }
    assert.deepEqual(await versions(), ['0001:ok']);
    assert.equal((await db.sql.unsafe(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'b'`))[0]!.n, 0);
  });

  it('is retried after a deadlock (40P01) too', async () => {
    const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\nCREATE TABLE u(a int);\n', 'sql/0002_both.up.sql': 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE;\nLOCK TABLE u IN ACCESS EXCLUSIVE MODE;\n' });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const other = await holder(db.url, ['BEGIN', 'LOCK TABLE u IN ACCESS EXCLUSIVE MODE']);
    const { logger, entries, until } = capturingLogger();
    try {
      const run = up({ url: db.url, dir: join(cwd, 'sql'), logger, migrationLockTimeoutMs: 0, lockRetries: 3, lockRetryBaseMs: 10, lockWaitLogMs: 50 });
      run.catch(() => {});
      // The migration holds t and waits for u; the other session then asks for t: a deadlock, which the migration's
      // backend (waiting longest) finds and is cancelled for. Its retry then waits for the other session, until it ends.
      await until((e) => e.some((entry) => /^0002_both waits for AccessExclusiveLock on u/.test(entry.msg)));
      const asked = other.run('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
      await until((e) => retries(e).length >= 1);
      await asked;
      await other.end();
      await run;
    } finally {
      await other.end();
    }
    const [retry] = retries(entries);
    assert.equal(retry!.sqlstate, '40P01');
    assert.match(retry!.msg, /^0002_both \(up\) failed on a deadlock \(40P01\)/);
    assert.deepEqual(await versions(), ['0001:ok', '0002:ok']);
    assert.match((await logRows())[0]!.detail, /^attempt 1 of 4: 0002_both \(up\) failed on a deadlock \(40P01\)/);
  });
});

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

