/**
 * Lock timeouts and retries (issue 15, part 2; SPEC §4 Guards): migration SQL runs with a
 * lock_timeout (5s by default); a transactional migration that hits it, or a deadlock, is rolled
 * back and retried after a backoff, each retry logged with the table and the session in the way
 * and appended to the history log; when the retries are used up the run fails (exit 1) naming
 * the file, the table, the blocking session, the attempts and what to do. Another session holds
 * the locks; the tests wait for states (log entries, pg_locks), never for times. The library runs
 * set the backoff base low (lockRetryBaseMs) so nothing waits seconds.
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
      // The side session that names the holder may not see a 200 ms wait on a busy machine: wait for a retry that names it.
      await running.stderrMatches(new RegExp(`failed on a lock timeout \\(55P03\\) waiting for AccessExclusiveLock on t, held by pid ${lock.pid} .*retrying in \\d+ ms`));
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
