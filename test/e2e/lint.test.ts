/** pgpair lint and up --lint through the real CLI: offline and connected, formats, exit codes, and a refused up that applied nothing. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

const FILES = {
  'sql/0001_orders.up.sql': 'CREATE TABLE orders (id int, a int);\nCREATE TABLE small (id int);\n',
  'sql/0002_index.up.sql': 'CREATE INDEX orders_a ON orders (a);\nCREATE INDEX small_id ON small (id);\nCREATE TABLE fresh (id int);\nCREATE INDEX fresh_id ON fresh (id);\n',
};

describe('pgpair lint offline', () => {
  it('needs no database, creates none, and exits 3 with file:line:col, rule, why and the rewrite on stdout', async () => {
    const cwd = workdir(FILES);
    const r = await runCli(['lint'], { cwd });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^sql\/0002_index\.up\.sql:1:1: error index-not-concurrent: CREATE INDEX without CONCURRENTLY locks orders in SHARE mode/m);
    assert.match(r.stdout, /^ {2}instead: CREATE INDEX CONCURRENTLY/m);
    assert.match(r.stdout, /^sql\/0002_index\.up\.sql:2:1: error index-not-concurrent/m);
    assert.doesNotMatch(r.stdout, /0002_index\.up\.sql:4:/, 'fresh is created in the same file');
    assert.match(r.stdout, /2 errors, 0 warnings in 2 files; PostgreSQL 12 assumed/);
    assert.equal(existsSync(join(cwd, '.pgpair')), false, 'no embedded database was made');
    assert.doesNotMatch(r.stderr, /embedded/);
  });
  it('works offline under CI=true as well (a missing URL is no error for lint)', async () => {
    const r = await runCli(['lint', '--json'], { cwd: workdir(FILES), env: { CI: 'true' } });
    assert.equal(r.code, 3, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, false);
    assert.equal(doc.connected, false);
    assert.equal(doc.serverVersionSource, 'assumed');
    assert.equal(doc.errors, 2);
    assert.deepEqual(Object.keys(doc.findings[0]).sort(), ['column', 'file', 'fix', 'line', 'message', 'rule', 'severity', 'table', 'version']);
    assert.deepEqual([doc.findings[0].file, doc.findings[0].line, doc.findings[0].column, doc.findings[0].rule, doc.findings[0].severity], ['sql/0002_index.up.sql', 1, 1, 'index-not-concurrent', 'error']);
  });
  it('--from base lints the files as one run: the tables of 0001 are new', async () => {
    const r = await runCli(['lint', '--from', 'base'], { cwd: workdir(FILES) });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /0 errors, 0 warnings in 2 files/);
  });
  it('--format github prints workflow annotations, escaped', async () => {
    const cwd = workdir({ 'sql/0001_a,b.up.sql': 'CREATE TABLE t (id int);\n', 'sql/0002_x,y:z.up.sql': 'ALTER TABLE t DROP COLUMN id;\nDROP INDEX i;\n' });
    const r = await runCli(['lint', '--format', 'github'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^::warning file=sql\/0002_x%2Cy%3Az\.up\.sql,line=1,col=15,title=pgpair lint drop-column::dropping column id of t: .*\. Instead: first deploy code/);
    assert.match(lines[1]!, /^::warning file=sql\/0002_x%2Cy%3Az\.up\.sql,line=2,col=12,title=pgpair lint drop-index-not-concurrent::/);
    assert.equal(lines.length, 3);
  });
  it('usage errors exit 2: a bad --server-version, --json with another --format, a bad --min-rows', async () => {
    const cwd = workdir(FILES);
    for (const args of [['--server-version', '11'], ['--server-version', 'fifteen'], ['--json', '--format', 'github'], ['--min-rows', '-1'], ['--format', 'xml']]) {
      const r = await runCli(['lint', ...args], { cwd });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
    }
    const script = await runCli(['up', '--sql', '--from', 'base', '--lint', 'error'], { cwd });
    assert.equal(script.code, 2, script.stderr);
    assert.match(script.stderr, /--lint error does not apply to --sql/);
    assert.equal(script.stdout, '');
  });
  it('--server-version 14.2 flags CREATE INDEX CONCURRENTLY (the 14.0-14.3 bug); 14.4 does not', async () => {
    const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t (id int);\n', 'sql/0002_i.up.sql': 'CREATE INDEX CONCURRENTLY i ON t (id);\n' });
    const bad = await runCli(['lint', '--server-version', '14.2'], { cwd });
    assert.equal(bad.code, 3);
    assert.match(bad.stdout, /concurrent-index-pg14-bug/);
    const fixed = await runCli(['lint', '--server-version', '14.4'], { cwd });
    assert.equal(fixed.code, 0, fixed.stdout);
  });
});

describe('pgpair lint and up --lint connected', () => {
  let db: Scratch;
  beforeEach(async () => {
    db = await scratchDatabase('lint_e2e');
  });
  afterEach(async () => db.drop());

  async function setUp(): Promise<string> {
    const cwd = workdir({ 'sql/0001_orders.up.sql': FILES['sql/0001_orders.up.sql'] });
    const up = await runCli(['up', '--url', db.url, '-q'], { cwd });
    assert.equal(up.code, 0, up.stderr);
    await db.sql.unsafe('INSERT INTO orders SELECT g, g FROM generate_series(1, 20000) g; ANALYZE orders; ANALYZE small;');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(cwd, 'sql/0002_index.up.sql'), FILES['sql/0002_index.up.sql']);
    return cwd;
  }

  it('lints only the pending file, with the server version and row counts; --min-rows makes the small table quiet', async () => {
    const cwd = await setUp();
    const r = await runCli(['lint', '--url', db.url, '--min-rows', '1000', '--json'], { cwd });
    assert.equal(r.code, 3, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.connected, true);
    assert.equal(doc.serverVersionSource, 'server');
    assert.deepEqual(doc.files, ['sql/0002_index.up.sql']);
    assert.deepEqual(doc.findings.map((f: { table: string; rows: number }) => [f.table, f.rows]), [['orders', 20000]]);
    assert.match(doc.findings[0].message, /orders has ~20k rows/);
    const all = await runCli(['lint', '--url', db.url], { cwd });
    assert.equal(all.code, 3);
    assert.match(all.stdout, /0002_index\.up\.sql:2:1: error index-not-concurrent: .*small/, 'without --min-rows the small table counts');
    const every = await runCli(['lint', '--url', db.url, '--all', '--json'], { cwd });
    assert.deepEqual(JSON.parse(every.stdout).files, ['sql/0001_orders.up.sql', 'sql/0002_index.up.sql'], '--all lints the applied file too');
  });

  it('up --lint error refuses with exit 3, lists the findings, and applies nothing; up (warn) logs them and applies', async () => {
    const cwd = await setUp();
    const refused = await runCli(['up', '--url', db.url, '--lint', 'error', '--min-rows', '1000'], { cwd });
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /error: pgpair up --lint error: 1 error-level lint finding .* nothing was applied:\n {2}sql\/0002_index\.up\.sql:1:1 index-not-concurrent/);
    assert.equal(refused.stdout, '');
    const versions = await db.sql.unsafe('SELECT version_label FROM pgpair_history ORDER BY 1');
    assert.deepEqual(versions.map((v) => v.version_label), ['0001']);
    assert.equal((await db.sql.unsafe("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")).length, 0);

    const json = await runCli(['up', '--url', db.url, '--lint', 'error', '--json'], { cwd });
    assert.equal(json.code, 3);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.ok, false);
    assert.equal(doc.error.code, 'E_LINT');
    assert.deepEqual(doc.error.findings.map((f: { rule: string; line: number }) => `${f.rule}@${f.line}`), ['index-not-concurrent@1', 'index-not-concurrent@2']);

    const warned = await runCli(['up', '--url', db.url, '--min-rows', '1000'], { cwd });
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /lint error index-not-concurrent at sql\/0002_index\.up\.sql:1:1/);
    assert.match(warned.stdout, /applied 0002_index/);
  });

  it('a table made outside pgpair: its size and column types come from the catalogue', async () => {
    const cwd = await setUp();
    await db.sql.unsafe('CREATE TABLE legacy (name varchar(10), n integer); INSERT INTO legacy SELECT g::text, g FROM generate_series(1, 3000) g; ANALYZE legacy;');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(cwd, 'sql/0002_index.up.sql'), 'ALTER TABLE legacy ALTER COLUMN name TYPE text;\nALTER TABLE legacy ALTER COLUMN n TYPE bigint;\n');
    const r = await runCli(['lint', '--url', db.url, '--json'], { cwd });
    assert.equal(r.code, 3, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.findings.map((f: { rule: string; line: number; rows: number }) => [f.rule, f.line, f.rows]), [['alter-column-type', 2, 3000]]);
    assert.match(doc.findings[0].message, /changing the type of n integer to bigint rewrites legacy/);
  });

  it('ADD PRIMARY KEY USING INDEX: attnotnull from the catalogue says which columns still need a NOT NULL scan', async () => {
    const cwd = await setUp();
    await db.sql.unsafe('CREATE TABLE legacy (id int, code int NOT NULL); INSERT INTO legacy SELECT g, g FROM generate_series(1, 3000) g; ANALYZE legacy;');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(cwd, 'sql/0002_index.up.sql'), '-- pgpair:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY legacy_id ON legacy (id);\nCREATE UNIQUE INDEX CONCURRENTLY legacy_code ON legacy (code);\n');
    writeFileSync(join(cwd, 'sql/0003_pk.up.sql'), 'ALTER TABLE legacy ADD CONSTRAINT legacy_pk PRIMARY KEY USING INDEX legacy_code;\n');
    const quiet = await runCli(['lint', '--url', db.url, '--json'], { cwd });
    assert.equal(quiet.code, 0, quiet.stdout);
    writeFileSync(join(cwd, 'sql/0003_pk.up.sql'), 'ALTER TABLE legacy ADD CONSTRAINT legacy_pk PRIMARY KEY USING INDEX legacy_id;\n');
    const r = await runCli(['lint', '--url', db.url, '--json'], { cwd });
    assert.equal(r.code, 3, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.findings.map((f: { rule: string; file: string; rows: number }) => [f.rule, f.file, f.rows]), [['set-not-null', 'sql/0003_pk.up.sql', 3000]]);
    assert.match(doc.findings[0].message, /sets NOT NULL on id of legacy/);
  });

  it('a suppressed finding lets up --lint error run', async () => {
    const cwd = await setUp();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(cwd, 'sql/0002_index.up.sql'), '-- pgpair:lint-ignore index-not-concurrent 20k rows build in 50 ms, accepted\nCREATE INDEX orders_a ON orders (a);\n');
    const r = await runCli(['up', '--url', db.url, '--lint', 'error'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /lint error/);
    const versions = await db.sql.unsafe('SELECT version_label FROM pgpair_history ORDER BY 1');
    assert.deepEqual(versions.map((v) => v.version_label), ['0001', '0002']);
  });
});
