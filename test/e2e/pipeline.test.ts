/**
 * Pipelined runs (lib/run/execute/transaction.ts: a migration's statements, the check after its
 * last one, the session restore, its history rows and COMMIT travel without waiting) against the
 * two ways a run ends abruptly: the process killed (SIGKILL) and its backend terminated
 * (pg_terminate_backend), at a moment chosen by the database's state, mid-run. Afterwards the
 * schema must agree with the history: every recorded version's table exists, no table exists
 * without its version, and a second `up` finishes the job.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { up } from '../../lib/index.js';
import { runCli, startCli, workdir, type RunningCli } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';
import { capturingLogger, holder, retries } from '../helpers/locks.js';

const N = 40;

/** N migrations of plain DDL (no check after its statements, execute/pipeline.ts), each with its down. */
function plainFiles(n = N): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    const v = String(i).padStart(4, '0');
    out[`sql/${v}_t${v}.up.sql`] = `CREATE TABLE t${v} (id int PRIMARY KEY, name text);\nCREATE INDEX t${v}_name ON t${v} (name);\nCOMMENT ON TABLE t${v} IS 'migration ${i}';\n`;
    out[`sql/${v}_t${v}.down.sql`] = `DROP TABLE t${v};\n`;
  }
  return out;
}

/** N migrations; each creates a table, an index and a comment, and sleeps a little so that a run lasts. */
function files(): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 1; i <= N; i++) {
    const v = String(i).padStart(4, '0');
    out[`sql/${v}_t${v}.up.sql`] = `CREATE TABLE t${v} (id int PRIMARY KEY, name text);\nCREATE INDEX t${v}_name ON t${v} (name);\nSELECT pg_sleep(0.02);\nCOMMENT ON TABLE t${v} IS 'migration ${i}';\n`;
    out[`sql/${v}_t${v}.down.sql`] = `DROP TABLE t${v};\n`;
  }
  return out;
}

async function recorded(db: Scratch): Promise<string[]> {
  const exists = await db.sql.unsafe(`SELECT to_regclass('public.pgpair_history') IS NOT NULL AS e`);
  if (!exists[0]?.e) return [];
  const rows = await db.sql.unsafe(`SELECT version FROM pgpair_history WHERE state = 'ok'`);
  return rows.map((r) => `t${String(r.version).padStart(4, '0')}`).sort();
}

/** Every recorded version's table exists, and no table exists that is not recorded. */
async function schemaMatchesHistory(db: Scratch): Promise<number> {
  const inHistory = await recorded(db);
  const present = (await tables(db.sql)).filter((t) => /^t\d{4}$/.test(t));
  assert.deepEqual(present, inHistory, 'the tables present are exactly those of the recorded versions');
  return inHistory.length;
}

async function until(what: string, probe: () => Promise<boolean>, run: RunningCli): Promise<void> {
  for (let i = 0; i < 2400; i++) {
    if (await probe()) return;
    if (run.child.exitCode !== null) assert.fail(`the run ended before ${what}:\n${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Waits until no session of pgpair's is left on the database (a killed client's backend ends when it notices). */
async function pgpairGone(db: Scratch): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const rows = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair'`);
    if (rows[0]?.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('a pgpair session is still on the database');
}

describe('a pipelined run ended abruptly leaves the schema and the history in agreement', () => {
  const made: Scratch[] = [];
  let cwd: string;
  const fresh = async (): Promise<Scratch> => {
    const db = await scratchDatabase('pgpair_pipe');
    made.push(db);
    return db;
  };
  before(() => {
    cwd = workdir(files());
  });
  after(async () => {
    for (const db of made) await db.drop();
  });

  it('SIGKILL of the process mid-run: what is recorded is applied, nothing else is; up finishes it', async () => {
    const db = await fresh();
    const run = startCli(['up', '--url', db.url], { cwd, timeoutMs: 120_000 });
    await until('a few migrations are recorded', async () => (await recorded(db)).length >= 5, run);
    run.child.kill('SIGKILL');
    const result = await run.exited;
    assert.equal(result.signal, 'SIGKILL');
    await pgpairGone(db);
    const done = await schemaMatchesHistory(db);
    assert.ok(done >= 5 && done < N, `stopped mid-run (${done} of ${N} recorded)`);
    const again = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await schemaMatchesHistory(db), N);
  });

  it('pg_terminate_backend mid-run: exit 1 with a clear message, schema agrees with history; up finishes it', async () => {
    const db = await fresh();
    const run = startCli(['up', '--url', db.url], { cwd, timeoutMs: 120_000 });
    await until('a few migrations are recorded', async () => (await recorded(db)).length >= 5, run);
    await db.sql.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair'`);
    const result = await run.exited;
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /Lost the connection|terminat/i);
    assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
    await pgpairGone(db);
    const done = await schemaMatchesHistory(db);
    assert.ok(done >= 5 && done < N, `stopped mid-run (${done} of ${N} recorded)`);
    const again = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await schemaMatchesHistory(db), N);
  });

  it('a failing migration in the middle: nothing after it is applied or recorded, nothing of it either', async () => {
    const db = await fresh();
    const broken = workdir({ ...files(), 'sql/0020_t0020.up.sql': 'CREATE TABLE t0020 (id int);\nSELECT * FROM no_such_table;\n' });
    const result = await runCli(['up', '--url', db.url], { cwd: broken });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /0020_t0020\.up\.sql:2:/);
    assert.equal(await schemaMatchesHistory(db), 19);
  });
});

/**
 * The pipeline across migrations (lib/run/execute/pipeline.ts): migration i+1 is sent whole while
 * i runs and commits, and commits only if i did. These are the attacks on that promise.
 */
describe('the pipeline across migrations', () => {
  const made: Scratch[] = [];
  const fresh = async (): Promise<Scratch> => {
    const db = await scratchDatabase('pgpair_pipe');
    made.push(db);
    return db;
  };
  after(async () => {
    for (const db of made) await db.drop();
  });

  it('a failing plain-DDL migration in the middle: nothing of it or after it is applied, the error names its line', async () => {
    const db = await fresh();
    const broken = workdir({ ...plainFiles(), 'sql/0020_t0020.up.sql': 'CREATE TABLE t0020 (id int);\nCREATE INDEX t0020_x ON t0020 (no_such_column);\n' });
    const result = await runCli(['up', '--url', db.url], { cwd: broken });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /0020_t0020\.up\.sql:2:/);
    assert.match(result.stderr, /Nothing of 0020 was applied/);
    assert.equal(await schemaMatchesHistory(db), 19);
    const log = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pgpair_history_log WHERE action = 'up'`);
    assert.equal(log[0]!.n, 19, 'one log entry per applied migration, none for what followed the failure');
    // Every history row says how long its migration took on the server.
    const durations = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pgpair_history WHERE duration_ms IS NULL OR duration_ms < 0`);
    assert.equal(durations[0]!.n, 0);
  });

  it('down through the pipeline: every down file runs once, newest first, and up puts them back', async () => {
    const db = await fresh();
    const cwd = workdir(plainFiles());
    assert.equal((await runCli(['up', '--url', db.url], { cwd })).code, 0);
    const down = await runCli(['down', 'base', '--url', db.url], { cwd });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(await schemaMatchesHistory(db), 0);
    const order = await db.sql.unsafe(`SELECT version FROM pgpair_history_log WHERE action = 'down' ORDER BY id`);
    assert.deepEqual(order.map((r) => r.version), Array.from({ length: N }, (_, i) => String(N - i).padStart(4, '0')));
    assert.equal((await runCli(['up', '--url', db.url], { cwd })).code, 0);
    assert.equal(await schemaMatchesHistory(db), N);
  });

  it('SIGINT mid-run: exit 130, and what the run says it applied is exactly what the history holds', async () => {
    const db = await fresh();
    const cwd = workdir(plainFiles(400));
    const run = startCli(['up', '--url', db.url], { cwd, timeoutMs: 120_000 });
    await until('a few migrations are recorded', async () => (await recorded(db)).length >= 5, run);
    run.child.kill('SIGINT');
    const result = await run.exited;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /Interrupted by SIGINT/);
    const done = (await db.sql.unsafe(`SELECT count(*)::int AS n FROM pgpair_history`))[0]!.n as number;
    const present = (await tables(db.sql)).filter((t) => /^t\d{4}$/.test(t)).length;
    assert.equal(present, done, 'the tables present are those of the recorded versions');
    assert.ok(done >= 5 && done < 400, `stopped mid-run (${done} of 400 recorded)`);
    const said = result.stdout.split('\n').filter((line) => line.startsWith('applied ')).length;
    assert.equal(said, done, `the run reported ${said} applied, the history holds ${done}`);
  });

  it('a migration that releases the lock and takes it again is rolled back, and nothing sent behind it commits', async () => {
    const db = await fresh();
    const key = `hashtextextended('pgpair:' || current_database() || ':' || 'public.pgpair_history', 0)`;
    const cwd = workdir({
      ...plainFiles(2),
      'sql/0002_t0002.up.sql': `CREATE TABLE t0002 (id int);\nSELECT pg_advisory_unlock_all();\nSELECT pg_advisory_lock(${key});\n`,
      'sql/0003_t0003.up.sql': 'CREATE TABLE t0003 (id int);\n',
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /statement 2 of 3 \(sql\/0002_t0002\.up\.sql:2:1\) released pgpair's migration lock/);
    assert.match(result.stderr, /nothing of 0002 was applied/);
    assert.deepEqual(await recorded(db), ['t0001']);
    assert.equal(await schemaMatchesHistory(db), 1);
  });

  it('an event trigger that releases the lock behind plain DDL is caught: nothing of that migration is applied', async () => {
    const db = await fresh();
    // Only for the comment on t0001 (pgpair comments on its own history table too, before any migration).
    await db.sql.unsafe(`CREATE FUNCTION let_go() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity = 'public.t0001') THEN PERFORM pg_advisory_unlock_all(); END IF;
    END $$`);
    await db.sql.unsafe(`CREATE EVENT TRIGGER let_go ON ddl_command_end WHEN TAG IN ('COMMENT') EXECUTE FUNCTION let_go()`);
    const cwd = workdir(plainFiles(3));
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 1, result.stderr);
    // The event trigger exists, so pgpair checks after every statement, and names the one that let go.
    assert.match(result.stderr, /statement 3 of 3 \(sql\/0001_t0001\.up\.sql:3:1\) released pgpair's migration lock/);
    assert.match(result.stderr, /nothing of 0001 was applied/);
    assert.equal(await schemaMatchesHistory(db), 0);
  });

  it('a lock timeout in the middle: that migration is retried, the one sent behind it runs once, after it', async () => {
    const db = await fresh();
    const cwd = workdir({
      'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\n',
      'sql/0002_alter.up.sql': 'CREATE TABLE side(a int);\nALTER TABLE t ADD COLUMN b int;\n',
      'sql/0003_after.up.sql': 'CREATE TABLE after_it(a int);\n',
      'sql/0004_last.up.sql': 'CREATE TABLE last_one(a int);\n',
    });
    assert.equal((await runCli(['up', '0001', '--url', db.url], { cwd })).code, 0);
    const lock = await holder(db.url, ['BEGIN', 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE']);
    const { logger, until: logged } = capturingLogger();
    let run: Promise<unknown>;
    try {
      run = up({ url: db.url, dir: join(cwd, 'sql'), logger, migrationLockTimeoutMs: 300, lockRetries: 50, lockRetryBaseMs: 10, lockWaitLogMs: 50 });
      run.catch(() => {});
      await logged((e) => retries(e).length >= 1);
    } finally {
      await lock.end();
    }
    const result = (await run) as { steps: { version: string }[] };
    assert.deepEqual(result.steps.map((s) => s.version), ['0002', '0003', '0004']);
    const rows = await db.sql.unsafe(`SELECT version, state FROM pgpair_history ORDER BY version`);
    assert.deepEqual(rows.map((r) => `${r.version}:${r.state}`), ['1:ok', '2:ok', '3:ok', '4:ok']);
    const ups = await db.sql.unsafe(`SELECT version FROM pgpair_history_log WHERE action = 'up' ORDER BY id`);
    assert.deepEqual(ups.map((r) => r.version), ['0001', '0002', '0003', '0004'], 'each applied once, in order');
    const made = await db.sql.unsafe(`SELECT relname FROM pg_class WHERE relname IN ('side', 'after_it', 'last_one') ORDER BY relname`);
    assert.deepEqual(made.map((r) => r.relname), ['after_it', 'last_one', 'side']);
  });
});
