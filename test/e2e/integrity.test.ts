/**
 * What a migration may not do to pgpair's bookkeeping (issue 11, items 2–4; issue 12, item 4):
 * end pgpair's transaction behind the splitter's back, release the migration lock, leave session
 * state for the next migration or for the history row, or fail at COMMIT without a proper report.
 * Each runs through the CLI against real PostgreSQL and, where the driver matters, PGlite.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { runCli, workdir } from '../helpers/cli.js';
import { connectTo, scratchDatabase, tables, testServerUrl, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });

async function historyRows() {
  return [...(await db.sql.unsafe(`SELECT version_label AS version, state, error FROM pgpair_history ORDER BY version::numeric`))];
}

/**
 * A COMMIT that pgpair's splitter cannot see: a function turns standard_conforming_strings off
 * for the session, after which the server reads statement 4 as three statements while pgpair
 * (lexing with the default) reads one. No lexer can follow a setting changed inside a function.
 */
const HIDDEN = (control: 'COMMIT' | 'ROLLBACK') =>
  [
    `CREATE FUNCTION scs_off() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_' || 'conforming_strings', 'off', false) $$;`,
    'SELECT scs_off();',
    'CREATE TABLE half_applied(a int);',
    `SELECT 'ab\\' , ' ; ${control}; SELECT ' -- \\' '`,
    ';',
    'CREATE TABLE after_control(a int);',
    '',
  ].join('\n');

describe('a statement that ends pgpair\'s transaction unseen', () => {
  it('COMMIT: says what stayed applied, marks the version failed, runs nothing after it, and up refuses to go on', async () => {
    const cwd = workdir({ 'sql/0001_hidden.up.sql': HIDDEN('COMMIT'), 'sql/0002_next.up.sql': 'CREATE TABLE t2(a int);\n' });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /statement 4 of 5 \(sql\/0001_hidden\.up\.sql:4:1\) ended pgpair's transaction/);
    assert.match(r.stderr, /statements 1–4 were committed and stay applied/);
    assert.match(r.stderr, /0001 is marked failed/);
    assert.match(r.stderr, /repair --applied 0001/);
    assert.doesNotMatch(r.stderr, /Nothing of 0001 was applied|unexpected/i);
    assert.equal(r.stdout, '');
    // The truth in the database: what committed stays, nothing ran after the COMMIT, 0002 did not start.
    assert.deepEqual(await tables(db.sql), ['half_applied', 'pgpair_history', 'pgpair_history_log']);
    const rows = await historyRows();
    assert.deepEqual(rows.map((x) => [x.version, x.state]), [['0001', 'failed']]);
    assert.match(String(rows[0]!.error), /statement 4 of 5/);
    const log = await db.sql.unsafe(`SELECT action, version FROM pgpair_history_log ORDER BY id`);
    assert.deepEqual(log.map((x) => `${x.action} ${x.version}`), ['failed 0001']);
    const again = await cli(['up'], cwd);
    assert.equal(again.code, 3, again.stderr);
    assert.match(again.stderr, /0001/);
    assert.deepEqual(await tables(db.sql), ['half_applied', 'pgpair_history', 'pgpair_history_log']);
  });

  it('ROLLBACK with nothing run after it: says nothing was applied and records nothing', async () => {
    const cwd = workdir({ 'sql/0001_hidden.up.sql': HIDDEN('ROLLBACK') });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /statement 4 of 5 .* ended pgpair's transaction/);
    assert.match(r.stderr, /statements 1–4 were rolled back/);
    assert.match(r.stderr, /Nothing of 0001 was applied/);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    assert.deepEqual(await historyRows(), []);
  });

  it('a COPY … FROM stdin the server starts inside such a statement is aborted with an error, not a hang', async () => {
    const text = HIDDEN('COMMIT').replace(`; COMMIT; SELECT '`, `; COPY half_applied FROM stdin; SELECT '`);
    const cwd = workdir({ 'sql/0001_copy.up.sql': text });
    const r = await runCli(['up', '--url', db.url], { cwd, timeoutMs: 30_000 });
    assert.equal(r.signal, null, 'pgpair hung and was killed');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /sql\/0001_copy\.up\.sql:4/);
    assert.match(r.stderr, /COPY … FROM STDIN that pgpair did not see/);
    assert.match(r.stderr, /Nothing of 0001 was applied/);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    assert.deepEqual(await historyRows(), []);
  });
});

describe('a migration that releases the migration lock', () => {
  for (const [label, text, statement] of [
    ['directly', 'SELECT pg_advisory_unlock_all();\nCREATE TABLE t1(a int);\n', 1],
    ['through a function', "CREATE FUNCTION let_go() RETURNS void LANGUAGE sql AS $$ SELECT pg_advisory_unlock_all() $$;\nSELECT let_go();\nCREATE TABLE t1(a int);\n", 2],
    ['as its only statement', 'SELECT pg_advisory_unlock_all();\n', 1],
  ] as const) {
    it(`${label}: is rolled back, the run stops with exit 1 naming the statement`, async () => {
      const cwd = workdir({ 'sql/0001_unlock.up.sql': text, 'sql/0002_next.up.sql': 'CREATE TABLE t2(a int);\n' });
      const r = await cli(['up'], cwd);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`statement ${statement} of \\d+ \\(sql/0001_unlock\\.up\\.sql:${statement}:1\\) released pgpair's migration lock`));
      assert.match(r.stderr, /nothing of 0001 was applied/);
      assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
      assert.deepEqual(await historyRows(), []);
    });
  }

  it('outside a transaction: stops after that statement and marks the version failed', async () => {
    const cwd = workdir({ 'sql/0001_unlock.up.sql': '-- pgpair:no-transaction\nSELECT pg_advisory_unlock_all();\nCREATE TABLE t1(a int);\n', 'sql/0002_next.up.sql': 'CREATE TABLE t2(a int);\n' });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /statement 1 of 2 .* released pgpair's migration lock/);
    assert.match(r.stderr, /0001 is marked failed|statements 1–1 stay done/);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    const rows = await historyRows();
    assert.deepEqual(rows.map((x) => [x.version, x.state]), [['0001', 'failed']]);
    assert.match(String(rows[0]!.error), /released the migration lock/);
  });
});

describe('session state does not leak from one migration into the next, nor into the bookkeeping', () => {
  const role = `pgpair_low_${randomBytes(4).toString('hex')}`;
  after(async () => {
    const admin = connectTo(testServerUrl());
    try {
      await admin.unsafe(`DROP ROLE IF EXISTS "${role}"`);
    } finally {
      await admin.end();
    }
  });

  it('search_path set by SET, by pg_dump\'s set_config and in a non-transactional file; a role; a statement_timeout', async () => {
    const admin = connectTo(testServerUrl());
    try {
      await admin.unsafe(`CREATE ROLE "${role}" NOLOGIN`);
    } finally {
      await admin.end();
    }
    const cwd = workdir({
      'sql/0001_other.up.sql': 'CREATE SCHEMA other;\nSET search_path = other;\nCREATE TABLE in_other(a int);\n',
      'sql/0002_plain.up.sql': 'CREATE TABLE t2(a int);\n',
      'sql/0003_dump.up.sql': "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.t3(a int);\n",
      'sql/0004_plain.up.sql': 'CREATE TABLE t4(a int);\n',
      'sql/0005_role.up.sql': `SET ROLE "${role}";\nSET statement_timeout = '300ms';\n`,
      'sql/0006_plain.up.sql': 'SELECT pg_sleep(0.6);\nCREATE TABLE t6(a int);\n',
      'sql/0007_outside.up.sql': '-- pgpair:no-transaction\nSET search_path = other;\nSET ROLE NONE;\n',
      'sql/0008_plain.up.sql': 'CREATE TABLE t8(a int);\n',
      'sql/0009_authorization.up.sql': `SET SESSION AUTHORIZATION "${role}";\n`,
      'sql/0010_plain.up.sql': 'CREATE TABLE t10(a int);\n',
      // Outside a transaction the role holds for the file's later statements, never for pgpair's progress rows.
      'sql/0011_outside_role.up.sql': `-- pgpair:no-transaction\nSET ROLE "${role}";\nSELECT current_user;\nSET SESSION AUTHORIZATION "${role}";\nSELECT 1;\n`,
      'sql/0012_plain.up.sql': 'CREATE TABLE t12(a int);\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log', 't10', 't12', 't2', 't3', 't4', 't6', 't8']);
    assert.deepEqual(await tables(db.sql, 'other'), ['in_other']);
    const owners = await db.sql.unsafe(`SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't%' ORDER BY 1`);
    for (const row of owners) assert.equal(row.tableowner, new URL(db.url).username || 'root', `${row.tablename} is owned by ${row.tableowner}`);
    const rows = await historyRows();
    assert.deepEqual(rows.map((x) => x.state), Array(12).fill('ok'));
    const by = await db.sql.unsafe(`SELECT DISTINCT applied_by FROM pgpair_history`);
    assert.deepEqual(by.map((x) => x.applied_by), [new URL(db.url).username || 'root']);
  });

  it('a migration may RESET ALL or change settings freely: nothing pgpair relies on lives in a setting', async () => {
    const cwd = workdir({
      'sql/0001_reset.up.sql': "SET search_path = pg_catalog;\nRESET ALL;\nCREATE TABLE t1(a int);\nSELECT set_config('pgpair.transaction', 'forged', true);\nCREATE TABLE t1b(a int);\n",
      'sql/0002_plain.up.sql': 'CREATE TABLE t2(a int);\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log', 't1', 't1b', 't2']);
  });

  it('down restores the session too', async () => {
    const cwd = workdir({
      'sql/0001_a.up.sql': 'CREATE SCHEMA other;\nCREATE TABLE t1(a int);\n',
      'sql/0001_a.down.sql': 'DROP TABLE t1;\nDROP SCHEMA other;\n',
      'sql/0002_b.up.sql': 'CREATE TABLE t2(a int);\n',
      'sql/0002_b.down.sql': 'DROP TABLE t2;\nSET search_path = other;\n',
    });
    assert.equal((await cli(['up'], cwd)).code, 0);
    const r = await cli(['down', 'base'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
  });
});

describe('a deferred constraint that fails at COMMIT', () => {
  it('is reported like any SQL error of the migration, and nothing of it is applied', async () => {
    const cwd = workdir({
      'sql/0001_ok.up.sql': 'CREATE TABLE first(a int);\n',
      'sql/0002_deferred.up.sql': 'CREATE TABLE parent(id int PRIMARY KEY);\nCREATE TABLE child(pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO child VALUES (1);\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /sql\/0002_deferred\.up\.sql/);
    assert.match(r.stderr, /23503/);
    assert.match(r.stderr, /at COMMIT/);
    assert.match(r.stderr, /child_pid_fkey/);
    assert.match(r.stderr, /DETAIL: Key \(pid\)=\(1\) is not present/);
    assert.match(r.stderr, /Nothing of 0002 was applied/);
    assert.doesNotMatch(r.stderr, /unexpected/i);
    assert.deepEqual(await tables(db.sql), ['first', 'pgpair_history', 'pgpair_history_log']);
    assert.deepEqual((await historyRows()).map((x) => x.version), ['0001']);
  });
});

describe('on PGlite', () => {
  async function pgliteTables(dir: string): Promise<string[]> {
    const pg = new PGlite(dir);
    try {
      const result = await pg.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
      return result.rows.map((r) => r.tablename);
    } finally {
      await pg.close();
    }
  }

  it('the hidden COMMIT, the released lock and the leaked search_path are caught the same way', async () => {
    const hidden = workdir({ 'sql/0001_hidden.up.sql': HIDDEN('COMMIT'), 'sql/0002_next.up.sql': 'CREATE TABLE t2(a int);\n' });
    const url = `pglite:${join(hidden, 'db')}`;
    const r = await runCli(['up', '--url', url], { cwd: hidden });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /statement 4 of 5 .* ended pgpair's transaction/);
    assert.match(r.stderr, /0001 is marked failed/);
    const status = await runCli(['status', '--json', '--url', url], { cwd: hidden });
    assert.equal(JSON.parse(status.stdout).migrations[0].state, 'failed');

    const unlock = workdir({ 'sql/0001_unlock.up.sql': 'SELECT pg_advisory_unlock_all();\nCREATE TABLE t1(a int);\n' });
    const u = await runCli(['up', '--url', `pglite:${join(unlock, 'db')}`], { cwd: unlock });
    assert.equal(u.code, 1, u.stderr);
    assert.match(u.stderr, /released pgpair's migration lock/);
    assert.deepEqual(await pgliteTables(join(unlock, 'db')), ['pgpair_history', 'pgpair_history_log']);

    const path = workdir({ 'sql/0001_other.up.sql': 'CREATE SCHEMA other;\nSET search_path = other;\n', 'sql/0002_plain.up.sql': 'CREATE TABLE t2(a int);\n' });
    const p = await runCli(['up', '--url', `pglite:${join(path, 'db')}`], { cwd: path });
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(await pgliteTables(join(path, 'db')), ['pgpair_history', 'pgpair_history_log', 't2']);
  });
});

describe('a lock timeout from --migration-lock-timeout', () => {
  it('names the table and the session in the way, says the file is fine and that rerunning is safe, never "fix the file"', async () => {
    const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t(a int);\n', 'sql/0002_alter.up.sql': 'ALTER TABLE t ADD COLUMN b int;\n' });
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const holder = await db.sql.reserve();
    try {
      await holder.unsafe('BEGIN');
      await holder.unsafe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
      const [{ pid }] = (await holder.unsafe('SELECT pg_backend_pid() AS pid')) as unknown as [{ pid: number }];
      // --lock-retries 0: one attempt (the retries have their own tests, test/e2e/lock-retries.test.ts).
      const r = await cli(['up', '--migration-lock-timeout', '1s', '--lock-retries', '0'], cwd);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /55P03/);
      assert.match(r.stderr, /Nothing of 0002 was applied/);
      assert.match(r.stderr, /The file is fine/);
      // Seen from a second session while it waited: the table, the lock and who holds it.
      assert.match(r.stderr, new RegExp(`AccessExclusiveLock on t, held by pid ${pid} \\(`));
      assert.match(r.stderr, /waits for AccessExclusiveLock on t/);
      assert.match(r.stderr, /Rerunning is safe/);
      assert.doesNotMatch(r.stderr, /Fix the file/);
    } finally {
      await holder.unsafe('ROLLBACK');
      holder.release();
    }
    assert.equal((await cli(['up'], cwd)).code, 0);
  });
});
