/** Statement-level behaviour (issue: lexer): $$ bodies, COPY, non-transactional files, own transactions, errors, notices. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
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

describe('the statements fixture', () => {
  it('applies $$ functions, a DO block, BEGIN ATOMIC, COPY data, CREATE INDEX CONCURRENTLY and an own transaction; then reverts them', async () => {
    const cwd = workdirFromFixture('statements');
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /applied 0003_index_concurrently/);
    assert.doesNotMatch(r.stdout, /seeded/, 'NOTICEs never reach stdout');
    assert.match(r.stderr, /0001_functions: NOTICE: seeded 1 note\(s\)/, 'NOTICEs are logged with their migration');
    const [note] = await db.sql.unsafe(`SELECT note_count() AS n, (SELECT body FROM notes) AS body`);
    assert.deepEqual([Number(note!.n), note!.body], [1, 'from a DO block; with a semicolon']);
    const rows = await db.sql.unsafe(`SELECT id, label, note, raw FROM measurements ORDER BY id`);
    assert.deepEqual(
      rows.map((x) => [x.id, x.label, x.note, x.raw]),
      [
        [1, 'FIRST', null, 'back\\slash'],
        [2, 'tab\there', 'semi;colon', "quote's"],
        [3, 'newline\nin', null, '$$dollar$$'],
      ],
    );
    const [index] = await db.sql.unsafe(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'measurements_label_idx'::regclass`);
    assert.equal(index!.indisvalid, true);
    const audit = await db.sql.unsafe(`SELECT count(*)::int AS n FROM audit`);
    assert.equal(audit[0]!.n, 2);
    const history = await db.sql.unsafe(`SELECT version_label, transactional, state, statements_done, statements_total FROM pgpair_history ORDER BY version`);
    assert.deepEqual(
      history.map((h) => [h.version_label, h.transactional, h.state, h.statements_done, h.statements_total]),
      [
        ['0001', true, 'ok', null, null],
        ['0002', true, 'ok', null, null],
        ['0003', false, 'ok', 1, 1],
        ['0004', false, 'ok', 4, 4],
      ],
    );
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.deepEqual(status.migrations.map((m: { transactional: boolean }) => m.transactional), [true, true, false, false]);
    const text = await cli(['status'], cwd);
    assert.match(text.stdout, /0003\s+index_concurrently\s+applied.*no-transaction/);
    const down = await cli(['down', 'base'], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
  });
});

describe('non-transactional failures', () => {
  it('mark the version failed with the statement number; up refuses (exit 3) until repair', async () => {
    const cwd = workdir({
      'sql/0001_base.up.sql': 'CREATE TABLE items (id int PRIMARY KEY, sku text);\n',
      'sql/0002_indexes.up.sql': '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY items_id_idx ON items (id);\n\nCREATE INDEX CONCURRENTLY items_sku_idx ON items (nosuch);\n',
      'sql/0003_later.up.sql': 'CREATE TABLE later (id int);\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sql\/0002_indexes\.up\.sql:4:1: ERROR \[42703\]: column "nosuch" does not exist/);
    assert.match(r.stderr, /0002 ran outside a transaction \(the file starts with -- pgpair:no-transaction\), so the statements before the failing one stay done; it is now marked failed\./);
    assert.match(r.stderr, /pgpair repair --applied 0002 or pgpair repair --reverted 0002/);
    const [row] = await db.sql.unsafe(`SELECT state, statements_done, statements_total, error FROM pgpair_history WHERE version = '2'`);
    assert.deepEqual([row!.state, row!.statements_done, row!.statements_total], ['failed', 1, 2]);
    assert.match(String(row!.error), /up failed at statement 2 of 2 \(sql\/0002_indexes\.up\.sql:4\): column "nosuch" does not exist/);
    const first = await db.sql.unsafe(`SELECT 1 FROM pg_class WHERE relname = 'items_id_idx'`);
    assert.equal(first.length, 1, 'the statement before the failure stays done');

    const again = await cli(['up'], cwd);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /sql\/0002_indexes\.up\.sql: failed after 1 of 2 statements/);
    assert.match(again.stderr, /repair --applied 0002/);
    assert.equal((await tables(db.sql)).includes('later'), false);
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.equal(status.migrations[1].state, 'failed');
    assert.equal((await cli(['verify'], cwd)).code, 3);
    assert.equal((await cli(['down'], cwd)).code, 3, 'down refuses too');

    // The person finishes it by hand, fixes the file, and tells pgpair.
    await db.sql.unsafe(`CREATE INDEX items_sku_idx ON items (sku)`);
    writeFileSync(join(cwd, 'sql', '0002_indexes.up.sql'), '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY items_id_idx ON items (id);\n\nCREATE INDEX CONCURRENTLY items_sku_idx ON items (sku);\n');
    const repaired = await cli(['repair', '--applied', '0002'], cwd);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.match(repaired.stdout, /recorded 0002_indexes as applied \(was failed\)/);
    assert.equal((await cli(['repair', '--accept', '0002'], cwd)).code, 0);
    const finish = await cli(['up'], cwd);
    assert.equal(finish.code, 0, finish.stderr);
    assert.match(finish.stdout, /applied 0003_later/);
    const log = await db.sql.unsafe(`SELECT action, version FROM pgpair_history_log ORDER BY id`);
    assert.deepEqual(log.map((l) => `${l.action} ${l.version}`), ['up 0001', 'failed 0002', 'repair 0002', 'repair 0002', 'up 0003']);
  });

  it('repair --reverted removes the failed version so it runs again', async () => {
    const cwd = workdir({ 'sql/0001_x.up.sql': '-- pgpair:no-transaction\nCREATE TABLE x (id int);\nSELECT 1/0;\n' });
    assert.equal((await cli(['up'], cwd)).code, 1);
    await db.sql.unsafe('DROP TABLE x');
    const usage = await cli(['repair', '--applied', '0001', '--reverted', '0001'], cwd);
    assert.equal(usage.code, 2);
    const r = await cli(['repair', '--reverted', '0001'], cwd);
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(join(cwd, 'sql', '0001_x.up.sql'), '-- pgpair:no-transaction\nCREATE TABLE x (id int);\n');
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 0, up.stderr);
    const notFailed = await cli(['repair', '--applied', '0001'], cwd);
    assert.equal(notFailed.code, 2);
    assert.match(notFailed.stderr, /not failed/);
  });
});

describe('errors at FILE:LINE:COLUMN', () => {
  it('a bad COPY data row is reported at its file line, nothing is applied, and the run ends', async () => {
    const cwd = workdir({
      'sql/0001_copy.up.sql': 'CREATE TABLE t (id int, name text);\nCOPY t FROM stdin;\n1\tone\n2\ttwo\nthree\t3\n4\tfour\n\\.\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sql\/0001_copy\.up\.sql:5:1: ERROR \[22P02\]: invalid input syntax for type integer: "three"/);
    assert.match(r.stderr, /CONTEXT: COPY t, line 3/);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
  });

  it('a COPY whose error arrives after the data ended still fails cleanly (no hang)', async () => {
    const cwd = workdir({
      'sql/0001_copy.up.sql': 'CREATE TABLE t (id int PRIMARY KEY);\nCOPY t FROM stdin;\n1\n1\n\\.\n',
      'sql/0002_nontx_copy.up.sql': '-- pgpair:no-transaction\nCREATE TABLE u (id int PRIMARY KEY);\nCOPY u FROM stdin;\n7\n7\n\\.\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /sql\/0001_copy\.up\.sql:\d+:\d+: ERROR \[23505\]: duplicate key value violates unique constraint "t_pkey"/);
    writeFileSync(join(cwd, 'sql', '0001_copy.up.sql'), 'CREATE TABLE t (id int PRIMARY KEY);\nCOPY t FROM stdin;\n1\n2\n\\.\n');
    const r2 = await cli(['up'], cwd);
    assert.equal(r2.code, 1, r2.stderr);
    assert.match(r2.stderr, /sql\/0002_nontx_copy\.up\.sql:\d+:\d+: ERROR \[23505\]/);
    const [row] = await db.sql.unsafe(`SELECT state, statements_done FROM pgpair_history WHERE version = '2'`);
    assert.deepEqual([row!.state, row!.statements_done], ['failed', 1]);
  });

  it('an error inside a function body points into the body', async () => {
    const cwd = workdir({
      'sql/0001_do.up.sql': 'CREATE TABLE ok (id int);\n\nDO $$\nBEGIN\n  INSERT INTO nosuch VALUES (1);\nEND\n$$;\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sql\/0001_do\.up\.sql:5:15: ERROR \[42P01\]: relation "nosuch" does not exist/);
    assert.match(r.stderr, /CONTEXT: PL\/pgSQL function inline_code_block line 3 at SQL statement/);
  });

  it('deep inside a long file, in a statement-by-statement file, the line is right', async () => {
    const filler = Array.from({ length: 400 }, (_, i) => `INSERT INTO big VALUES (${i}, 'row ${i}; with ''quotes''');`).join('\n');
    const cwd = workdir({
      'sql/0001_big.up.sql': `-- pgpair:no-transaction\nCREATE TABLE big (id int, label text);\n${filler}\nINSERT INTO big VALUES (1, 'x', 'too many');\n`,
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sql\/0001_big\.up\.sql:403:33: ERROR \[42601\]: INSERT has more expressions than target columns/);
    const [row] = await db.sql.unsafe(`SELECT statements_done FROM pgpair_history`);
    assert.equal(row!.statements_done, 401);
  });

  it('psql meta-commands are refused with file and line before anything runs', async () => {
    const cwd = workdir({
      'sql/0001_fine.up.sql': 'CREATE TABLE fine (id int);\n',
      'sql/0002_meta.up.sql': 'CREATE TABLE meta (id int);\n\\set ON_ERROR_STOP 1\n\\i other.sql\n',
    });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /sql\/0002_meta\.up\.sql:2:1: .*meta-command/i);
    assert.match(r.stderr, /sql\/0002_meta\.up\.sql:3:1: /);
    // A file problem is found before anything is created, the history table included.
    assert.deepEqual(await tables(db.sql), [], 'not even 0001 ran');
  });

  it('an unknown pgpair directive is an error, not a silent skip', async () => {
    const cwd = workdir({ 'sql/0001_typo.up.sql': '-- pgpair:no-transacton\nCREATE TABLE t (id int);\n' });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sql\/0001_typo\.up\.sql:1: "-- pgpair:no-transacton" is not a pgpair directive/);
  });
});
