/**
 * Splitting and classifying files exactly as psql and PostgreSQL read them (issue 11 items 2, 7
 * and 9), through the real CLI on a scratch database, compared with `psql -X -v ON_ERROR_STOP=1 -f`
 * where the claim is "what psql does". A refused file: exit 2, FILE:LINE:COLUMN on stderr, nothing
 * on stdout, and nothing in the database, not even the history table.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { cleanEnv, runCli, workdir } from '../helpers/cli.js';
import { needPsql } from '../helpers/psql.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase('pgpair_lexer');
});
afterEach(async () => db.drop());

const noStack = (text: string) => assert.doesNotMatch(text, /\n\s+at [^\n]+:\d+:\d+\)?\n|TypeError|ReferenceError|unexpected failure/i);

/** Nothing at all in the database: no table (the history table included), no function. */
async function untouched(sql: Scratch['sql']): Promise<void> {
  const [row] = await sql.unsafe(`SELECT
      (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public') AS relations,
      (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public') AS functions`);
  assert.deepEqual({ ...row }, { relations: 0, functions: 0 }, 'the database was touched');
}

async function up(files: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cwd = workdir(files);
  const r = await runCli(['up', '--url', db.url], { cwd, timeoutMs: 30_000 });
  noStack(r.stderr);
  return r;
}

async function refused(files: Record<string, string>, where: RegExp): Promise<string> {
  const r = await up(files);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, where);
  await untouched(db.sql);
  return r.stderr;
}

/** Runs a file with psql as the SPEC's DBA would: `psql -X -v ON_ERROR_STOP=1 -f FILE`. */
function psqlFile(url: string, text: string): { status: number | null; stderr: string } {
  const dir = workdir({ 'lexer-psql.sql': text });
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', join(dir, 'lexer-psql.sql'), url], { env: cleanEnv(), encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

const MERGED = 'CREATE FUNCTION begin() RETURNS int LANGUAGE sql RETURN 1;\nCREATE TABLE half_applied(a int);\nCOMMIT;\nSELECT 1/0;\n';

describe('a begin word that makes psql merge statements (item 2)', () => {
  it('is refused at its line and column before anything runs; psql itself sends the merged chunk and leaves half of it applied', async (t) => {
    const stderr = await refused({ 'sql/0001_begin.up.sql': MERGED }, /0001_begin\.up\.sql:1:17\b.*"begin"/);
    assert.doesNotMatch(stderr, /Nothing of 0001 was applied/);
    if (!needPsql(t)) return;
    // What the refusal prevents: psql sends the whole file as one statement, whose COMMIT commits the first half.
    const other = await scratchDatabase('pgpair_lexer_psql');
    try {
      assert.notEqual(psqlFile(other.url, MERGED).status, 0);
      const [row] = await other.sql.unsafe(`SELECT to_regclass('public.half_applied') IS NOT NULL AS table, to_regproc('public.begin') IS NOT NULL AS function`);
      assert.deepEqual({ ...row }, { table: true, function: true });
    } finally {
      await other.drop();
    }
  });

  it('with a COPY … FROM stdin in the merged chunk: refused at once, no hang', async () => {
    const started = Date.now();
    await refused({
      'sql/0001_begin.up.sql': `CREATE FUNCTION begin() RETURNS int LANGUAGE sql RETURN 1;\nCREATE TABLE t (a int);\nCOPY t FROM stdin;\n1\n2\n\\.\nCOMMIT;\n`,
    }, /0001_begin\.up\.sql:1:17\b/);
    assert.ok(Date.now() - started < 25_000);
  });

  it('a quoted "begin" and a BEGIN ATOMIC body run', async () => {
    const r = await up({
      'sql/0001_ok.up.sql': 'CREATE FUNCTION "begin"() RETURNS int LANGUAGE sql RETURN 1;\nCREATE FUNCTION two() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 2 END; END;\nCREATE TABLE after_them (a int);\n',
    });
    assert.equal(r.code, 0, r.stderr);
    const [row] = await db.sql.unsafe(`SELECT "begin"() + two() AS n, to_regclass('public.after_them') IS NOT NULL AS table`);
    assert.deepEqual({ ...row }, { n: 3, table: true });
  });
});

describe('transaction control that does not balance (item 2)', () => {
  it('COMMIT without BEGIN: exit 2 at its line, nothing run', async () => {
    await refused({ 'sql/0001_x.up.sql': 'CREATE TABLE a (id int);\nCOMMIT;\n' }, /0001_x\.up\.sql:2:1\b.*COMMIT without an earlier BEGIN/);
  });

  it('ROLLBACK without BEGIN: exit 2 at its line, nothing run', async () => {
    await refused({ 'sql/0001_x.up.sql': 'CREATE TABLE a (id int);\n\nROLLBACK;\n' }, /0001_x\.up\.sql:3:1\b.*ROLLBACK without an earlier BEGIN/);
  });

  it('BEGIN without COMMIT: exit 2 at its line, nothing run, also when an earlier migration is fine', async () => {
    await refused({
      'sql/0001_ok.up.sql': 'CREATE TABLE ok (id int);\n',
      'sql/0002_x.up.sql': '-- opens and never closes\nBEGIN;\nCREATE TABLE a (id int);\n',
    }, /0002_x\.up\.sql:2:1\b.*BEGIN without a later COMMIT/);
  });

  it('a balanced BEGIN … COMMIT runs as written and is recorded', async () => {
    const r = await up({ 'sql/0001_x.up.sql': 'BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await db.sql.unsafe(`SELECT version, state FROM pgpair_history`)).map((row) => ({ ...row })), [{ version: '1', state: 'ok' }]);
  });
});

describe('a statement that must run outside a transaction, mixed with others (item 7)', () => {
  const mixed = 'ALTER TABLE t ADD b int;\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nUPDATE t SET b = 1;\n';

  it('is refused naming its line and the others, before anything runs (the earlier migration included)', async () => {
    await refused({ 'sql/0001_t.up.sql': 'CREATE TABLE t (a int);\n', 'sql/0002_mixed.up.sql': mixed },
      /0002_mixed\.up\.sql:2:1\b.*CREATE INDEX CONCURRENTLY.*\(lines 1 and 3\).*-- pgpair:no-transaction/);
  });

  it('runs with -- pgpair:no-transaction, and without a directive when beside SET only', async () => {
    const r = await up({
      'sql/0001_t.up.sql': 'CREATE TABLE t (a int);\n',
      'sql/0002_mixed.up.sql': `-- pgpair:no-transaction\n${mixed}`,
      'sql/0003_index.up.sql': "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY t_b ON t (b);\nCREATE INDEX CONCURRENTLY t_ab ON t (a, b);\n",
    });
    assert.equal(r.code, 0, r.stderr);
    const indexes = await db.sql.unsafe(`SELECT indexname FROM pg_indexes WHERE tablename = 't' ORDER BY 1`);
    assert.deepEqual(indexes.map((row) => row.indexname), ['t_a', 't_ab', 't_b']);
  });
});

describe('standard_conforming_strings turned off (item 9c)', () => {
  it("is refused at its line: `'x\\'' \\! …` is never run as SQL nor as a meta-command", async () => {
    await refused({
      'sql/0001_x.up.sql': "CREATE TABLE a (id int);\nSET standard_conforming_strings = off;\nSELECT 'x\\'' \\! echo pwned\n;\n",
    }, /0001_x\.up\.sql:2:1\b.*standard_conforming_strings/);
  });
});

describe('CRLF files are sent as written (item 9a)', () => {
  const crlf = [
    'CREATE TABLE t (id int, v text);',
    "INSERT INTO t VALUES (1, 'a",
    "b');",
    'COPY t (id, v) FROM stdin;',
    '2\tc',
    '\\.',
    "INSERT INTO t VALUES (3, E'x\\ny');",
    '',
  ].join('\r\n');

  it('stores what psql -f stores (a literal spanning a line end keeps its CR), with the checksum of the LF text', async (t) => {
    const r = await up({ 'sql/0001_crlf.up.sql': crlf });
    assert.equal(r.code, 0, r.stderr);
    const ours = (await db.sql.unsafe(`SELECT id, v FROM t ORDER BY id`)).map((row) => ({ ...row }));
    assert.deepEqual(ours, [{ id: 1, v: 'a\r\nb' }, { id: 2, v: 'c' }, { id: 3, v: 'x\ny' }]);
    const [history] = await db.sql.unsafe(`SELECT up_checksum AS checksum FROM pgpair_history`);
    assert.equal(history!.checksum, `sha256:${createHash('sha256').update(crlf.replace(/\r\n/g, '\n')).digest('hex')}`);
    if (!needPsql(t)) return;
    const other = await scratchDatabase('pgpair_lexer_psql');
    try {
      const run = psqlFile(other.url, crlf);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual((await other.sql.unsafe(`SELECT id, v FROM t ORDER BY id`)).map((row) => ({ ...row })), ours);
    } finally {
      await other.drop();
    }
  });

  it('points at the right line and column of a CRLF file', async () => {
    const cwd = workdir({ 'sql/0001_crlf.up.sql': "CREATE TABLE t (v text);\r\nINSERT INTO t VALUES ('a\r\nb');\r\nSELECT nosuch FROM t;\r\n" });
    const r = await runCli(['up', '--url', db.url], { cwd, timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    noStack(r.stderr);
    assert.match(r.stderr, /0001_crlf\.up\.sql:4:8\b/);
    assert.doesNotMatch(r.stderr, /\r/);
    const [row] = await db.sql.unsafe(`SELECT to_regclass('public.t') IS NULL AS rolled_back`);
    assert.equal(row!.rolled_back, true);
  });
});
