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
import { runCli, startCli, workdir, type RunningCli } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

const N = 40;

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
