/**
 * The history table named by --table: one that pgpair did not create, a
 * schema that does not exist (and --create-schema), a pgpair history whose log
 * or its guard is gone, and read-only commands that must create nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runCli, workdirFromFixture } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });
const schemas = async () =>
  (await db.sql.unsafe(`SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`)).map((r) => String(r.nspname));
const noTrace = (stderr: string) => assert.doesNotMatch(stderr, /unexpected failure|\n\s+at |PostgresError/, stderr);

describe('a history table that pgpair did not create', () => {
  it('every command refuses it (exit 2), names its columns, suggests --table, and leaves it as it was', async () => {
    const cwd = workdirFromFixture('basic');
    await db.sql.unsafe(`CREATE TABLE pgpair_history (id serial PRIMARY KEY, note text NOT NULL, version text); INSERT INTO pgpair_history (note) VALUES ('ours')`);
    for (const args of [['up'], ['down'], ['status'], ['verify'], ['stamp', 'head'], ['repair', '--applied', '0001'], ['load'], ['up', '--sql']]) {
      const r = await cli(args, cwd);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /public\.pgpair_history exists but was not created by pgpair \(it has columns id integer, note text, version text: no version_label, name, up_checksum, .*pgpair_version; note must be filled in and pgpair does not know it\)\. pgpair will not read or write it: pass --table another_name \(e\.g\. --table public\.pgpair_migrations\)/,
        `${args.join(' ')}: ${r.stderr}`,
      );
      noTrace(r.stderr);
      assert.equal(r.stdout, '', `${args.join(' ')} prints nothing on stdout`);
    }
    const json = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.equal(json.error.code, 'E_HISTORY_TABLE');
    assert.equal(json.error.problem, 'not-pgpair');
    assert.deepEqual(await tables(db.sql), ['pgpair_history'], 'no log was created beside it');
    assert.deepEqual((await db.sql.unsafe(`SELECT note FROM pgpair_history`)).map((r) => r.note), ['ours']);
    // with a table of its own, pgpair works beside it
    const up = await cli(['up', '--table', 'pgpair_migrations'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_migrations', 'pgpair_migrations_log', 'posts', 'users']);
  });

  it('a column of another type, a view of that name, or a log table that is not pgpair\'s', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up', '0001'], cwd);
    await db.sql.unsafe(`ALTER TABLE pgpair_history ALTER COLUMN duration_ms TYPE numeric`);
    const typed = await cli(['up'], cwd);
    assert.equal(typed.code, 2, typed.stderr);
    assert.match(typed.stderr, /public\.pgpair_history exists but was not created by pgpair \(.*: duration_ms is numeric, not integer\)/);
    await db.sql.unsafe(`DROP TABLE pgpair_history; CREATE VIEW pgpair_history AS SELECT 1 AS version`);
    const view = await cli(['status'], cwd);
    assert.equal(view.code, 2, view.stderr);
    assert.match(view.stderr, /public\.pgpair_history exists but was not created by pgpair \(it is a view, not a table\)/);
    await db.sql.unsafe(`DROP VIEW pgpair_history; DROP TABLE pgpair_history_log; CREATE TABLE pgpair_history_log (line text)`);
    const log = await cli(['up'], cwd);
    assert.equal(log.code, 2, log.stderr);
    assert.match(log.stderr, /public\.pgpair_history_log exists but is not the log pgpair keeps beside public\.pgpair_history \(it has columns line text: no id, at, action/);
    noTrace(log.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history_log', 'users'], 'no history table was created beside a foreign log');
  });

  it('a history table with an extra column that may stay empty is still pgpair\'s', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up', '0001'], cwd);
    await db.sql.unsafe(`ALTER TABLE pgpair_history ADD COLUMN ticket text; ALTER TABLE pgpair_history_log ADD COLUMN host text DEFAULT 'x' NOT NULL`);
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.equal((await cli(['verify'], cwd)).code, 0);
  });
});

describe('a pgpair history whose log or its guard is gone', () => {
  it('a dropped log: commands that write refuse, saying what is missing; status still reads, with a warning', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up', '0002'], cwd);
    await db.sql.unsafe(`DROP TABLE pgpair_history_log`);
    for (const args of [['up'], ['down'], ['stamp', 'head'], ['repair', '--accept', '0001']]) {
      const r = await cli(args, cwd);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /The history table public\.pgpair_history has no log table public\.pgpair_history_log beside it \(it was dropped or renamed\): pgpair records every change in that append-only log and will not change the history without it\. Restore public\.pgpair_history_log/);
      noTrace(r.stderr);
    }
    assert.deepEqual((await db.sql.unsafe(`SELECT version_label FROM pgpair_history ORDER BY 1`)).map((r) => r.version_label), ['0001', '0002']);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'posts', 'users'], 'no new log was made up behind the user\'s back');
    const status = await cli(['status'], cwd);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /current:\s+0002/);
    assert.match(status.stderr, /has no log table public\.pgpair_history_log/);
  });

  it('a disabled or dropped append-only trigger: refused, with the statement that restores it', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up', '0001'], cwd);
    await db.sql.unsafe(`ALTER TABLE pgpair_history_log DISABLE TRIGGER pgpair_history_log_append_only`);
    const disabled = await cli(['up'], cwd);
    assert.equal(disabled.code, 2, disabled.stderr);
    assert.match(disabled.stderr, /The log public\.pgpair_history_log of public\.pgpair_history has lost its append-only trigger pgpair_history_log_append_only \(dropped or disabled\), so its entries may have been edited\. Check the log, then restore the trigger: ALTER TABLE "public"\."pgpair_history_log" ENABLE TRIGGER "pgpair_history_log_append_only"; if it was dropped, CREATE TRIGGER/);
    await db.sql.unsafe(`DROP TRIGGER pgpair_history_log_append_only ON pgpair_history_log`);
    const dropped = await cli(['up'], cwd);
    assert.equal(dropped.code, 2, dropped.stderr);
    const restore = /if it was dropped, (CREATE TRIGGER .*\(\);)/.exec(dropped.stderr)?.[1];
    assert.ok(restore, dropped.stderr);
    await db.sql.unsafe(restore);
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 0, up.stderr);
    await assert.rejects(db.sql.unsafe(`DELETE FROM pgpair_history_log`), /append-only/);
  });
});

describe('--table in a schema that does not exist, and --create-schema', () => {
  it('every command names the missing schema (exit 2) and creates nothing; up --create-schema creates it with the tables', async () => {
    const cwd = workdirFromFixture('basic');
    for (const args of [['up'], ['stamp', 'head'], ['down'], ['repair', '--applied', '0001']]) {
      const r = await cli([...args, '--table', 'nosuch.hist'], cwd);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /The schema "nosuch" of the history table nosuch\.hist does not exist, so no migration has been recorded there: pass --create-schema to create it \(with the history table, in one transaction\), or fix --table\./);
      noTrace(r.stderr);
    }
    for (const args of [['status'], ['verify']]) {
      const r = await cli([...args, '--table', 'nosuch.hist'], cwd);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /The schema "nosuch" of the history table nosuch\.hist does not exist, so no migration has been recorded there: fix --table, or create it with the first pgpair up --create-schema/);
    }
    const load = await cli(['load', '--table', 'nosuch.hist'], cwd);
    assert.equal(load.code, 2, load.stderr);
    assert.match(load.stderr, /The schema "nosuch" of the history table nosuch\.hist does not exist.*pass --create-schema/);
    assert.deepEqual(await schemas(), ['public']);
    assert.deepEqual(await tables(db.sql), []);
    const up = await cli(['up', '0002', '--table', 'nosuch.hist', '--create-schema'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /created schema nosuch, history table nosuch\.hist and its log nosuch\.hist_log/);
    assert.deepEqual(await schemas(), ['nosuch', 'public']);
    assert.deepEqual(await tables(db.sql, 'nosuch'), ['hist', 'hist_log']);
    const status = JSON.parse((await cli(['status', '--json', '--table', 'nosuch.hist'], cwd)).stdout);
    assert.equal(status.current, '0002');
    // once it exists, --create-schema changes nothing
    assert.equal((await cli(['up', '--table', 'nosuch.hist', '--create-schema'], cwd)).code, 0);
  });

  it('stamp and load --create-schema create the schema in the same transaction as the history', async () => {
    const cwd = workdirFromFixture('basic');
    const stamp = await cli(['stamp', '0001', '--table', 'audit.hist', '--create-schema'], cwd);
    assert.equal(stamp.code, 0, stamp.stderr);
    assert.deepEqual(await tables(db.sql, 'audit'), ['hist', 'hist_log']);
    const other = await scratchDatabase();
    try {
      const load = await runCli(['load', '--table', 'ops.hist', '--create-schema', '--url', other.url], { cwd });
      assert.equal(load.code, 0, load.stderr);
      assert.deepEqual(await tables(other.sql, 'ops'), ['hist', 'hist_log']);
      assert.deepEqual(await tables(other.sql), ['posts', 'users']);
    } finally {
      await other.drop();
    }
  });
});

describe('a history this role may not read', () => {
  it('status and up say which table and what to do (exit 1), not "unexpected failure"', async () => {
    const cwd = workdirFromFixture('basic');
    assert.equal((await cli(['up', '0001'], cwd)).code, 0);
    const role = `pgpair_reader_${randomBytes(4).toString('hex')}`;
    await db.sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'reader-secret'`);
    try {
      const url = new URL(db.url);
      url.username = role;
      url.password = 'reader-secret';
      for (const command of ['status', 'up']) {
        const r = await runCli([command, '--url', url.toString()], { cwd });
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /Cannot read the history table public\.pgpair_history \(connect as the role that runs the migrations, or GRANT SELECT ON "public"\."pgpair_history" TO this role\): permission denied for table pgpair_history \[42501\]/);
        noTrace(r.stderr);
        assert.doesNotMatch(r.stderr + r.stdout, /reader-secret/);
      }
    } finally {
      await db.sql.unsafe(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => {});
    }
  });
});

describe('read-only commands', () => {
  it('status and verify on a database without a history create nothing', async () => {
    const cwd = workdirFromFixture('basic');
    const status = await cli(['status'], cwd);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /current:\s+base/);
    assert.equal((await cli(['verify'], cwd)).code, 0);
    assert.equal((await cli(['verify', '--strict'], cwd)).code, 3);
    assert.deepEqual(await tables(db.sql), []);
    assert.deepEqual(await schemas(), ['public']);
  });
});
