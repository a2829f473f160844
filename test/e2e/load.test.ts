/** `load`: bootstrap an empty database from a base schema (schema.sql or pg_dump output) and stamp it. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runCli, workdirFromFixture } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });
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
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    assert.deepEqual(await recorded(), []);
    const missing = await cli(['load', 'nope.sql'], cwd);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.sql does not exist/);
  });
});
