/** up, down and status through the real CLI against real PostgreSQL. */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runCli, workdir, workdirFromFixture } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });

async function history(table = 'pgpair_history') {
  return db.sql.unsafe(`SELECT version_label AS version, name, how, state, applied_by, duration_ms, up_checksum, down_checksum, pgpair_version FROM ${table} ORDER BY version::numeric`);
}

async function logActions(table = 'pgpair_history_log') {
  const rows = await db.sql.unsafe(`SELECT action, version FROM ${table} ORDER BY id`);
  return rows.map((r) => `${r.action} ${r.version}`);
}

describe('up', () => {
  it('applies every pending migration in version order, one line each with its duration, then is a no-op', async () => {
    const cwd = workdirFromFixture('basic');
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4, r.stdout);
    assert.match(lines[0]!, /^applied 0001_create_users \(\d+ ms\)$/);
    assert.match(lines[1]!, /^applied 0002_create_posts \(\d+ ms\)$/);
    assert.match(lines[2]!, /^applied 0003_add_bio \(\d+ ms\)$/);
    assert.match(lines[3]!, /^now at 0003 \(3 migrations applied in \d+ ms\) on \S+$/);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log', 'posts', 'users']);
    const rows = await history();
    assert.deepEqual(rows.map((x) => [x.version, x.name, x.how, x.state]), [
      ['0001', 'create_users', 'executed', 'ok'],
      ['0002', 'create_posts', 'executed', 'ok'],
      ['0003', 'add_bio', 'executed', 'ok'],
    ]);
    for (const row of rows) {
      assert.match(String(row.up_checksum), /^sha256:[0-9a-f]{64}$/);
      assert.match(String(row.down_checksum), /^sha256:[0-9a-f]{64}$/);
      assert.equal(row.applied_by, new URL(db.url).username || 'root');
      assert.equal(row.pgpair_version, '0.1.0');
    }
    const again = await cli(['up'], cwd);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^already at 0003; nothing to apply on \S+\n$/);
    assert.deepEqual(await logActions(), ['up 0001', 'up 0002', 'up 0003']);
  });

  it('stops at a target version or after --steps', async () => {
    const cwd = workdirFromFixture('basic');
    const first = await cli(['up', '0002'], cwd);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual((await history()).map((x) => x.version), ['0001', '0002']);
    assert.match(first.stdout, /now at 0002/);
    const below = await cli(['up', '0001'], cwd);
    assert.equal(below.code, 2);
    assert.match(below.stderr, /older than the current version 0002; use pgpair down 0001/);
    const unknown = await cli(['up', '0009'], cwd);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /No migration has version 0009\. Known versions: 0001, 0002, 0003/);
    await cli(['down', 'base'], cwd);
    const steps = await cli(['up', '--steps', '2'], cwd);
    assert.equal(steps.code, 0, steps.stderr);
    assert.deepEqual((await history()).map((x) => x.version), ['0001', '0002']);
  });

  it('a failing migration leaves neither its changes nor a history row, exits 1, and keeps the ones before it', async () => {
    const cwd = workdirFromFixture('basic');
    writeFileSync(
      join(cwd, 'sql', '0004_broken.up.sql'),
      `-- Adds two tables; the second statement has a typo.\nCREATE TABLE tags (id int PRIMARY KEY);\n\nCREATE TABLE tag_links (\n  tag_id int REFERENCES tags,\n  post_id int REFERENCES postz\n);\n`,
    );
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /applied 0003_add_bio/);
    // PostgreSQL gives no position for this error (psql shows none either): the failing statement is pointed at.
    assert.match(r.stderr, /sql\/0004_broken\.up\.sql:4:1: ERROR \[42P01\]: relation "postz" does not exist/);
    assert.match(r.stderr, /\n 4 \| CREATE TABLE tag_links \(\n   \| \^\n/);
    assert.match(r.stderr, /Nothing of 0004 was applied \(its transaction was rolled back\)\. 0001, 0002, 0003 were applied before it and stay so\./);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log', 'posts', 'users']);
    assert.deepEqual((await history()).map((x) => x.version), ['0001', '0002', '0003']);
    const json = await cli(['up', '--json'], cwd);
    assert.equal(json.code, 1);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.ok, false);
    assert.deepEqual([doc.error.code, doc.error.version, doc.error.file, doc.error.line, doc.error.column, doc.error.sqlstate], ['E_MIGRATION_FAILED', '0004', 'sql/0004_broken.up.sql', 4, 1, '42P01']);
  });

  it('maps the server error position to FILE:LINE:COLUMN, also after multi-byte text', async () => {
    const cwd = workdirFromFixture('basic');
    writeFileSync(
      join(cwd, 'sql', '0004_typo.up.sql'),
      `-- Café ☕ — naïve comment with multi-byte text 🎉\nINSERT INTO users (email) VALUES ('zoë@例え.jp');\nSELECT émoji_🎉, nosuch FROM users;\n`,
    );
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sql\/0004_typo\.up\.sql:3:8: ERROR \[42703\]: column "émoji_🎉" does not exist/);
    assert.match(r.stderr, /\n 3 \| SELECT émoji_🎉, nosuch FROM users;\n   \|        \^\n/);
    const users = await db.sql.unsafe(`SELECT count(*)::int AS n FROM users`);
    assert.equal(users[0]!.n, 0, 'the insert before the error was rolled back');
  });

  it('works with 20-digit versions and sorts them numerically', async () => {
    const cwd = workdir({
      'sql/20150100000001000000_a.up.sql': 'CREATE TABLE a (id int);',
      'sql/9_b.up.sql': 'CREATE TABLE b (id int);',
      'sql/100000000000000000000_c.up.sql': 'CREATE TABLE c (id int);',
    });
    const r = await cli(['up', '--json'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).steps.map((s: { version: string }) => s.version), ['9', '20150100000001000000', '100000000000000000000']);
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.equal(status.current, '100000000000000000000');
  });
});

describe('down', () => {
  it('reverts exactly one migration by default, down to a kept version, or to base', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up'], cwd);
    const one = await cli(['down'], cwd);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^reverted 0003_add_bio \(\d+ ms\)\nnow at 0002/);
    const columns = await db.sql.unsafe(`SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY column_name`);
    assert.deepEqual(columns.map((c) => c.column_name), ['email', 'id']);
    await cli(['up'], cwd);
    const to = await cli(['down', '0001'], cwd);
    assert.equal(to.code, 0, to.stderr);
    assert.deepEqual((await history()).map((x) => x.version), ['0001']);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log', 'users']);
    const all = await cli(['down', 'base'], cwd);
    assert.equal(all.code, 0);
    assert.equal((await history()).length, 0);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    const none = await cli(['down'], cwd);
    assert.match(none.stdout, /^already at base; nothing to revert on \S+\n$/);
    assert.deepEqual((await logActions()).slice(-3), ['down 0003', 'down 0002', 'down 0001']);
  });

  it('--steps N reverts at most N', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up'], cwd);
    const r = await cli(['down', '--steps', '2'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await history()).map((x) => x.version), ['0001']);
  });

  it('refuses to cross a migration without a down file before touching anything', async () => {
    const cwd = workdirFromFixture('basic');
    rmSync(join(cwd, 'sql', '0002_create_posts.down.sql'));
    await cli(['up'], cwd);
    const r = await cli(['down', 'base'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot revert 0002_create_posts: it has no down file \(sql\/0002_create_posts\.down\.sql\), so it is irreversible\. Nothing was reverted\./);
    assert.deepEqual((await history()).map((x) => x.version), ['0001', '0002', '0003']);
    const columns = await db.sql.unsafe(`SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bio'`);
    assert.equal(columns.length, 1, '0003 was not reverted either');
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.deepEqual(status.migrations.map((m: { reversible: boolean }) => m.reversible), [true, false, true]);
    const one = await cli(['down'], cwd);
    assert.equal(one.code, 0, 'the step above the irreversible one can still be reverted');
  });

  it('a failing down file leaves the migration applied and recorded', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up'], cwd);
    writeFileSync(join(cwd, 'sql', '0003_add_bio.down.sql'), 'ALTER TABLE users DROP COLUMN bio;\nALTER TABLE users DROP COLUMN nosuch;\n');
    const r = await cli(['down'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sql\/0003_add_bio\.down\.sql:2:\d+: ERROR \[42703\]: column "nosuch" of relation "users" does not exist/);
    assert.deepEqual((await history()).map((x) => x.version), ['0001', '0002', '0003']);
    const bio = await db.sql.unsafe(`SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bio'`);
    assert.equal(bio.length, 1);
  });
});

describe('status', () => {
  it('prints the SPEC document with --json and a table otherwise', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up', '0002'], cwd);
    const r = await cli(['status', '--json'], cwd);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.current, '0002');
    assert.equal(doc.head, '0003');
    assert.equal(doc.migrations.length, 3);
    const [first, , third] = doc.migrations;
    assert.equal(first.version, '0001');
    assert.equal(first.name, 'create_users');
    assert.equal(first.state, 'applied');
    assert.equal(first.how, 'executed');
    assert.ok(!Number.isNaN(Date.parse(first.appliedAt)));
    assert.equal(typeof first.appliedBy, 'string');
    assert.equal(typeof first.durationMs, 'number');
    assert.equal(first.transactional, true);
    assert.equal(first.reversible, true);
    assert.deepEqual([third.state, third.how, third.appliedAt, third.appliedBy, third.durationMs], ['pending', null, null, null, null]);
    const text = await cli(['status'], cwd);
    assert.match(text.stdout, /current:  0002\nhead:     0003/);
    assert.match(text.stdout, /0001\s+create_users\s+applied\s+executed\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\S+\s+\d+ ms/);
    assert.match(text.stdout, /0003\s+add_bio\s+pending/);
    assert.match(text.stdout, /2 applied, 1 pending/);
    assert.equal(text.stderr, '');
  });

  it('reads without creating anything on a fresh database', async () => {
    const cwd = workdirFromFixture('basic');
    const r = await cli(['status', '--json'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).current, null);
    assert.deepEqual(await tables(db.sql), []);
  });
});

describe('history table', () => {
  it('--table schema.name keeps history and log there, and the log is append-only', async () => {
    const cwd = workdirFromFixture('basic');
    const r = await cli(['up', '--table', 'myschema.my_history', '--create-schema'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await tables(db.sql, 'myschema'), ['my_history', 'my_history_log']);
    assert.deepEqual((await history('myschema.my_history')).map((x) => x.version), ['0001', '0002', '0003']);
    assert.deepEqual(await logActions('myschema.my_history_log'), ['up 0001', 'up 0002', 'up 0003']);
    await assert.rejects(db.sql.unsafe(`DELETE FROM myschema.my_history_log`), /append-only/);
    await assert.rejects(db.sql.unsafe(`UPDATE myschema.my_history_log SET action = 'x'`), /append-only/);
    const status = JSON.parse((await cli(['status', '--json', '--table', 'myschema.my_history'], cwd)).stdout);
    assert.equal(status.current, '0003');
    const other = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.equal(other.current, null, 'the default table is separate');
  });

  it('a quoted --table whose names hold a quote, a backslash and non-ASCII text works for every command', async () => {
    // pgpair's own statements carry such names as literals (the lock key, to_regclass): they must be quoted right.
    const cwd = workdirFromFixture('basic');
    const table = `"it's \\ schéma"."Hist'ory"`;
    const up = await cli(['up', '--table', table, '--create-schema'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await tables(db.sql, "it's \\ schéma"), ["Hist'ory", "Hist'ory_log"]);
    const rows = await db.sql.unsafe(`SELECT version_label FROM "it's \\ schéma"."Hist'ory" ORDER BY version`);
    assert.deepEqual(rows.map((x) => x.version_label), ['0001', '0002', '0003']);
    const status = await cli(['status', '--json', '--table', table], cwd);
    assert.equal(JSON.parse(status.stdout).current, '0003', status.stderr);
    assert.equal((await cli(['verify', '--table', table], cwd)).code, 0);
    const down = await cli(['down', 'base', '--table', table], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await logActions(`"it's \\ schéma"."Hist'ory_log"`), ['up 0001', 'up 0002', 'up 0003', 'down 0003', 'down 0002', 'down 0001']);
  });

  it('a migration that runs DEALLOCATE ALL does not disturb the bookkeeping of the ones after it', async () => {
    const cwd = workdir({
      'sql/0001_a.up.sql': 'CREATE TABLE a (id int);\n',
      'sql/0001_a.down.sql': 'DROP TABLE a;\n',
      'sql/0002_b.up.sql': 'DEALLOCATE ALL;\nCREATE TABLE b (id int);\n',
      'sql/0002_b.down.sql': 'DEALLOCATE ALL;\nDROP TABLE b;\n',
      'sql/0003_c.up.sql': 'CREATE TABLE c (id int);\n',
      'sql/0003_c.down.sql': 'DROP TABLE c;\n',
    });
    const up = await runCli(['up', '--url', db.url], { cwd, timeoutMs: 30_000 });
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual((await history()).map((x) => [x.version, x.state]), [['0001', 'ok'], ['0002', 'ok'], ['0003', 'ok']]);
    const down = await runCli(['down', 'base', '--url', db.url], { cwd, timeoutMs: 30_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    assert.deepEqual(await logActions(), ['up 0001', 'up 0002', 'up 0003', 'down 0003', 'down 0002', 'down 0001']);
  });

  it('refuses a migration that runs DISCARD ALL (it would release the lock) before anything runs, exit 2, naming file and line', async () => {
    const cwd = workdir({
      'sql/0001_a.up.sql': 'CREATE TABLE a (id int);\n',
      'sql/0001_a.down.sql': 'DROP TABLE a;\n',
      'sql/0002_b.up.sql': 'CREATE TABLE b (id int);\n-- start afresh\nDISCARD ALL;\n',
      'sql/0002_b.down.sql': 'DROP TABLE b;\n',
    });
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 2, up.stderr);
    assert.match(up.stderr, /0002_b\.up\.sql:3:1: DISCARD ALL would release pgpair's migration lock/);
    assert.doesNotMatch(up.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await tables(db.sql), [], 'nothing ran, not even 0001, and nothing was created');
    const script = await cli(['up', '--sql', '--from', 'base'], cwd);
    assert.equal(script.code, 2, script.stderr);
    assert.equal(script.stdout, '');
    assert.match(script.stderr, /0002_b\.up\.sql:3:1: DISCARD ALL/);
  });

  it('records who, when, how long, and the log keeps every action', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up'], cwd);
    await cli(['down', '0001'], cwd);
    await cli(['stamp', 'head'], cwd);
    const log = await db.sql.unsafe(`SELECT action, version, how, db_user, application_name, pgpair_version, at FROM pgpair_history_log ORDER BY id`);
    assert.deepEqual(log.map((l) => `${l.action} ${l.version} ${l.how}`), [
      'up 0001 executed',
      'up 0002 executed',
      'up 0003 executed',
      'down 0003 executed',
      'down 0002 executed',
      'stamp 0002 stamped',
      'stamp 0003 stamped',
    ]);
    for (const l of log) {
      assert.equal(l.application_name, 'pgpair');
      assert.ok(l.at instanceof Date);
      assert.equal(typeof l.db_user, 'string');
    }
  });
});
