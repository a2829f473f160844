/** `load`: bootstrap an empty database from a base schema (schema.sql or pg_dump output) and stamp it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FIXTURES, runCli, startCli, workdirFromFixture } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch, type Sql } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });
/** Everything a load could leave behind: schemas (but public), relations, functions, types of their own. */
async function leftovers(sql: Sql): Promise<string[]> {
  const rows = await sql.unsafe(`
    SELECT 'schema ' || nspname AS what FROM pg_namespace WHERE nspname NOT IN ('public', 'pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
    UNION ALL SELECT c.relkind::text || ' ' || n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    UNION ALL SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    ORDER BY 1`);
  return rows.map((r) => String(r.what));
}

const recorded = async () => (await db.sql.unsafe(`SELECT version_label, how FROM pgpair_history ORDER BY version::numeric`)).map((r) => `${r.version_label}:${r.how}`);

describe('load', () => {
  it('loads <dir>/schema.sql into an empty database and stamps the version it declares; up is then a no-op', async () => {
    const cwd = workdirFromFixture('basic');
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^loaded sql\/schema\.sql \(2 statements in \d+ ms\)\nstamped 0001_create_users\nstamped 0002_create_posts\nstamped 0003_add_bio\nnow at 0003 on \S+\n$/);
    assert.deepEqual(await recorded(), ['0001:stamped', '0002:stamped', '0003:stamped']);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log', 'posts', 'users']);
    assert.match((await cli(['up'], cwd)).stdout, /^already at 0003; nothing to apply on \S+\n$/);
    assert.equal((await cli(['verify'], cwd)).code, 0);
  });

  it('accepts pg_dump output (SET, set_config search_path, COPY data, \\restrict) and --stamp', async () => {
    const cwd = workdirFromFixture('pgdump');
    const r = await cli(['load', 'sql/schema.sql', '--stamp', '0002'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await recorded(), ['0001:stamped', '0002:stamped']);
    const users = await db.sql.unsafe(`SELECT id, email, bio FROM users ORDER BY id`);
    assert.deepEqual(users.map((u) => [Number(u.id), u.email, u.bio]), [[1, 'ann@example.com', null], [2, 'bob@example.com', 'likes tabs\tand backslashes \\']]);
    // the session's search_path was emptied by the dump; the history went to the right place anyway
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.equal(status.current, '0002');
  });

  it('refuses a database that is not empty, and one whose file declares no version', async () => {
    const cwd = workdirFromFixture('basic');
    await db.sql.unsafe('CREATE TABLE already_here (id int)');
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is not empty \(1 tables, views, sequences or functions\), so pgpair load refuses to load sql\/schema\.sql/);
    assert.deepEqual(await tables(db.sql), ['already_here']);
    await db.sql.unsafe('DROP TABLE already_here');
    writeFileSync(join(cwd, 'sql', 'schema.sql'), 'CREATE TABLE t (id int);\n');
    const none = await cli(['load'], cwd);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /sql\/schema\.sql declares no version: add a comment -- pgpair:version N/);
    assert.deepEqual(await tables(db.sql), []);
  });

  it('a failing schema leaves the database empty, with nothing stamped, and names FILE:LINE:COLUMN', async () => {
    const cwd = workdirFromFixture('basic');
    writeFileSync(join(cwd, 'sql', 'schema.sql'), '-- pgpair:version 0003\nCREATE TABLE users (id int);\nCREATE TABLE posts (user_id int REFERENCES userz);\n');
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sql\/schema\.sql:3:1: ERROR \[42P01\]: relation "userz" does not exist/);
    assert.match(r.stderr, /Nothing was loaded/);
    assert.deepEqual(await leftovers(db.sql), [], 'not even pgpair\'s own tables are left');
    const missing = await cli(['load', 'nope.sql'], cwd);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.sql does not exist/);
  });

  it('Ctrl-C during a load cancels the statement on the server at once: nothing loaded, the lock released', async () => {
    const cwd = workdirFromFixture('basic');
    writeFileSync(join(cwd, 'sql', 'schema.sql'), '-- pgpair:version 0001\nCREATE TABLE users (id int);\nSELECT pg_sleep(60);\nCREATE TABLE posts (id int);\n');
    const run = startCli(['load', '--url', db.url], { cwd });
    const sleeping = async () => (await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep%'`))[0]!.n as number;
    const deadline = Date.now() + 30_000;
    while ((await sleeping()) === 0) {
      assert.ok(Date.now() < deadline, `the load never reached pg_sleep: ${run.stderr()}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const interrupted = Date.now();
    run.child.kill('SIGINT');
    const { code, stderr } = await run.exited;
    assert.ok(Date.now() - interrupted < 20_000, 'it did not wait for the 60 s statement');
    assert.equal(code, 130, stderr);
    assert.match(stderr, /Interrupted by SIGINT during pgpair load sql\/schema\.sql: its transaction was rolled back, so nothing was loaded and nothing recorded\. Run pgpair load again\./);
    assert.equal(await sleeping(), 0, 'the statement is no longer running on the server');
    assert.deepEqual(await leftovers(db.sql), []);
    const [locks] = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    assert.equal(locks!.n, 0, 'the migration lock was released');
  });

  it('a non-transactional schema that fails leaves its earlier statements but creates none of pgpair\'s tables', async () => {
    const cwd = workdirFromFixture('basic');
    writeFileSync(join(cwd, 'sql', 'schema.sql'), '-- pgpair:version 0001\n-- pgpair:no-transaction\nCREATE TABLE users (id int);\nCREATE INDEX CONCURRENTLY users_id ON users (nosuch);\n');
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /sql\/schema\.sql:4:\d+: ERROR \[42703\]/);
    assert.match(r.stderr, /ran outside a transaction .*the statements before the failing one stay done; pgpair created none of its tables and recorded nothing/);
    assert.deepEqual(await leftovers(db.sql), ['r public.users']);
  });
});

/**
 * A pg_dump of a database that pgpair manages holds pgpair's own tables, their
 * rows and the log's trigger function. Loading it adopts that history as it
 * was. test/fixtures/pgdump-managed/schema.sql is such a dump (pg_dump 15,
 * --no-owner --no-privileges) of the fixture's migrations, with 0004 (run
 * outside a transaction) failed once and repaired.
 */
describe('load of a pg_dump of a database pgpair manages', () => {
  const historyRows = async (sql: Sql, table = 'public.pgpair_history') =>
    (await sql.unsafe(`SELECT version_label, how, state, transactional, applied_at, statements_done FROM ${table} ORDER BY version::numeric`)).map(
      (r) => `${r.version_label}:${r.how}:${r.state}:${r.transactional}:${(r.applied_at as Date).toISOString()}:${r.statements_done}`,
    );
  const logRows = async (sql: Sql, table = 'public.pgpair_history_log') => (await sql.unsafe(`SELECT id, action, version FROM ${table} ORDER BY id`)).map((r) => `${r.id}:${r.action}:${r.version}`);

  it('loads, adopts the dump\'s history and log rows as they were (not re-stamped), and status, verify and up agree with the files', async () => {
    const cwd = workdirFromFixture('pgdump-managed');
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^loaded sql\/schema\.sql \(\d+ statements in \d+ ms\)\nadopted the history it holds \(4 versions recorded\)\nnow at 0004 on \S+\n$/);
    assert.doesNotMatch(r.stdout, /stamped/);
    const history = await historyRows(db.sql);
    assert.equal(history.length, 4);
    for (const row of history.slice(0, 3)) assert.match(row, /^000[123]:executed:ok:true:2026-12-03T07:3\d:\d\d\.\d+Z:null$/, 'the recorded time of the dump, not now');
    assert.match(history[3]!, /^0004:executed:ok:false:2026-12-03T07:3\d:\d\d\.\d+Z:2$/);
    // the dump's five entries (three ups, 0004's failure and its repair), then one for the load itself
    assert.deepEqual(await logRows(db.sql), ['1:up:0001', '2:up:0002', '3:up:0003', '4:failed:0004', '5:repair:0004', '6:load:0004']);
    const [entry] = await db.sql.unsafe(`SELECT detail, db_user, application_name FROM pgpair_history_log WHERE action = 'load'`);
    assert.match(String(entry!.detail), /^loaded sql\/schema\.sql and adopted the history it holds: 4 versions, at 0004$/);
    assert.equal(entry!.application_name, 'pgpair');
    // the log is append-only as before: the dump's trigger came with it
    await assert.rejects(db.sql.unsafe(`DELETE FROM pgpair_history_log`), /append-only/);
    const users = await db.sql.unsafe(`SELECT email, bio FROM users ORDER BY id`);
    assert.deepEqual(users.map((u) => [u.email, u.bio]), [['ann@example.com', null], ['bob@example.com', 'tab\there']]);
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.equal(status.current, '0004');
    assert.deepEqual(status.migrations.map((m: { state: string; how: string }) => `${m.state}:${m.how}`), ['applied:executed', 'applied:executed', 'applied:executed', 'applied:executed']);
    const verify = await cli(['verify', '--strict'], cwd);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match((await cli(['up'], cwd)).stdout, /^already at 0004; nothing to apply on \S+\n$/);
    const down = await cli(['down'], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual((await historyRows(db.sql)).length, 3);
  });

  it('a stamp that agrees with the dump\'s history is fine; one that would change it is refused and leaves nothing', async () => {
    const cwd = workdirFromFixture('pgdump-managed');
    const conflicting = await cli(['load', '--stamp', '0002'], cwd);
    assert.equal(conflicting.code, 2, conflicting.stderr);
    assert.match(conflicting.stderr, /sql\/schema\.sql holds pgpair's history \(4 versions recorded in public\.pgpair_history, at 0004\), and a load adopts it as it was; the stamp 0002 .* would change it \(2 steps\)\. Nothing was loaded\. Leave the stamp out .*, or stamp 0004\./);
    assert.doesNotMatch(conflicting.stderr, /unexpected|\n\s+at /);
    assert.deepEqual(await leftovers(db.sql), []);
    const path = join(cwd, 'sql', 'schema.sql');
    writeFileSync(path, `-- pgpair:version 0003\n${readFileSync(path, 'utf8')}`);
    const directive = await cli(['load'], cwd);
    assert.equal(directive.code, 2);
    assert.match(directive.stderr, /the stamp 0003 \(from --stamp or its -- pgpair:version comment\) would change it \(1 step\)/);
    assert.deepEqual(await leftovers(db.sql), []);
    const agreeing = await cli(['load', '--stamp', 'head'], cwd);
    assert.equal(agreeing.code, 0, agreeing.stderr);
    assert.match(agreeing.stdout, /adopted the history it holds \(4 versions recorded\)\nnow at 0004 on \S+\n$/);
    assert.deepEqual(await logRows(db.sql), ['1:up:0001', '2:up:0002', '3:up:0003', '4:failed:0004', '5:repair:0004', '6:load:0004']);
  });

  it('a bad statement in the middle of the dump leaves nothing at all, pgpair\'s tables included', async () => {
    const cwd = workdirFromFixture('pgdump-managed');
    const path = join(cwd, 'sql', 'schema.sql');
    const text = readFileSync(path, 'utf8');
    const at = text.indexOf('COPY public.pgpair_history_log');
    assert.ok(at > 0);
    writeFileSync(path, `${text.slice(0, at)}SELECT * FROM no_such_table;\n\n${text.slice(at)}`);
    const line = text.slice(0, at).split('\n').length;
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`sql/schema\\.sql:${line}:15: ERROR \\[42P01\\]: relation "no_such_table" does not exist`));
    assert.match(r.stderr, /Nothing was loaded \(the transaction was rolled back\) and nothing was recorded/);
    assert.deepEqual(await leftovers(db.sql), []);
  });

  it('an empty history left by an earlier run does not stand in the way of the dump\'s own', async () => {
    const cwd = workdirFromFixture('pgdump-managed');
    const stamped = await cli(['stamp', 'base'], cwd);
    assert.equal(stamped.code, 0, stamped.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await historyRows(db.sql)).length, 4);
    assert.deepEqual(await logRows(db.sql), ['1:up:0001', '2:up:0002', '3:up:0003', '4:failed:0004', '5:repair:0004', '6:load:0004']);
  });

  it('a dump whose history holds a failed version is adopted as it is, with a warning; verify then reports it', async () => {
    const cwd = workdirFromFixture('pgdump-managed');
    const path = join(cwd, 'sql', 'schema.sql');
    const text = readFileSync(path, 'utf8');
    const failed = text.replace(/^(4\t0004\tpost_indexes\t.*\texecuted\t)ok(\tf\t)2(\t2\t)\\N/m, '$1failed$21$3at statement 2');
    assert.notEqual(failed, text);
    writeFileSync(path, failed);
    const r = await cli(['load'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the adopted history and the files in sql disagree, as they did where the dump was made; pgpair verify lists it, pgpair repair resolves it:\\n {2}.*0004/);
    const [row] = await db.sql.unsafe(`SELECT state, statements_done, error FROM pgpair_history WHERE version = '4'`);
    assert.deepEqual([row!.state, row!.statements_done, row!.error], ['failed', 1, 'at statement 2']);
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 3, verify.stdout);
    assert.match(verify.stdout, /0004/);
  });

  it('a dump whose history is under --table myschema.hist: adopted with that --table; without it, refused naming it, and nothing left', async () => {
    const cwd = workdirFromFixture('pgdump-managed');
    copyFileSync(join(FIXTURES, 'pgdump-managed-table', 'schema.sql'), join(cwd, 'sql', 'schema.sql'));
    const wrong = await cli(['load', '--stamp', '0003'], cwd);
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /sql\/schema\.sql holds a pgpair history as myschema\.hist, not as public\.pgpair_history: pass --table myschema\.hist to adopt it/);
    assert.deepEqual(await leftovers(db.sql), []);
    const right = await cli(['load', '--table', 'myschema.hist'], cwd);
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stdout, /adopted the history it holds \(3 versions recorded\)\nnow at 0003 on \S+\n$/);
    assert.deepEqual(await logRows(db.sql, 'myschema.hist_log'), ['1:up:0001', '2:up:0002', '3:up:0003', '4:load:0003']);
    assert.deepEqual(await tables(db.sql), ['posts', 'users'], 'no second history in public');
    const status = JSON.parse((await cli(['status', '--json', '--table', 'myschema.hist'], cwd)).stdout);
    assert.equal(status.current, '0003');
    assert.equal((await cli(['verify', '--table', 'myschema.hist'], cwd)).code, 0);
  });

  it('a dump made now by the pg_dump on PATH (owners included, \\restrict lines) loads the same way', async (t) => {
    const source = await scratchDatabase();
    try {
      const [{ server_version_num: serverVersion }] = (await source.sql.unsafe(`SELECT current_setting('server_version_num')::int AS server_version_num`)) as unknown as [{ server_version_num: number }];
      const version = spawnSync('pg_dump', ['--version'], { encoding: 'utf8' });
      const major = /(\d+)(?:\.\d+)?/.exec(version.stdout ?? '')?.[1];
      if (version.error || !major) return t.skip('pg_dump is not installed');
      if (Number(major) < Math.floor(serverVersion / 10000)) return t.skip(`pg_dump ${major} cannot dump the test server (PostgreSQL ${Math.floor(serverVersion / 10000)})`);
      const cwd = workdirFromFixture('basic');
      const up = await runCli(['up', '--url', source.url], { cwd });
      assert.equal(up.code, 0, up.stderr);
      const dump = spawnSync('pg_dump', ['-d', source.url], { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
      assert.equal(dump.status, 0, dump.stderr);
      writeFileSync(join(cwd, 'dump.sql'), dump.stdout);
      const r = await cli(['load', 'dump.sql'], cwd);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /adopted the history it holds \(3 versions recorded\)\nnow at 0003 on \S+\n$/);
      const original = await historyRows(source.sql);
      assert.deepEqual(await historyRows(db.sql), original);
      assert.deepEqual(await logRows(db.sql), ['1:up:0001', '2:up:0002', '3:up:0003', '4:load:0003']);
      assert.equal((await cli(['verify', '--strict'], cwd)).code, 0);
    } finally {
      await source.drop();
    }
  });
});
