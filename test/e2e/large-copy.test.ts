/**
 * Large files (issue 7): a migration above the large-file size is read in pieces and its COPY data
 * streamed from the file, never held whole. What a user sees must not change: the rows arrive, the
 * checksum is the file's, a bad row deep in the data is reported at its line with nothing applied,
 * and `up --sql` prints the same bytes as for a file held whole. Through the CLI with a file just
 * above the default size (8 MiB), and through the library with the size set low (largeFileBytes)
 * for the rest: CRLF files, two COPY blocks, down scripts, load, PGlite.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import * as pgpair from '../../lib/index.js';
import { LARGE_FILE_BYTES } from '../../lib/core/large-file.js';
import { cleanEnv, runCli, workdir as newWorkdir } from '../helpers/cli.js';
import { needPsql } from '../helpers/psql.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

/** Working directories of this file, removed at the end: some hold files of 9 MB. */
const workdirs: string[] = [];
function workdir(files: Record<string, string>): string {
  const dir = newWorkdir(files);
  workdirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of workdirs) rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], cwd: string, url = db.url) => runCli([...args, '--url', url], { cwd, timeoutMs: 120_000 });

/** Rows for `COPY items (id, name, note) FROM stdin`: non-ASCII text, tabs escaped, NULLs. */
function rows(count: number, line = (id: number) => `${id}\titem ${id} café 日本\t${id % 7 === 0 ? '\\N' : `note\\t${id} 🐘`}`): string[] {
  return Array.from({ length: count }, (_, index) => line(index + 1));
}

const HEAD = '-- Items, loaded by COPY.\nCREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, note text);\nCOPY items (id, name, note) FROM stdin;\n';
/** Lines before the first data line of a file that starts with HEAD. */
const HEAD_LINES = 3;

function migrationFile(data: string[], eol = '\n'): string {
  return `${HEAD}${data.join('\n')}\n\\.\nCREATE INDEX items_name_idx ON items (name);\n`.replace(/\n/g, eol);
}

/** What the table must hold, as the server prints it, for rows(count). */
function expectedDigest(count: number): string {
  const text = Array.from({ length: count }, (_, index) => {
    const id = index + 1;
    return `${id}|item ${id} café 日本|${id % 7 === 0 ? '<null>' : `note\t${id} 🐘`}`;
  }).join(',');
  return createHash('md5').update(text).digest('hex');
}

async function tableDigest(sql: Scratch['sql']): Promise<{ count: number; digest: string }> {
  const [row] = await sql.unsafe(`SELECT count(*)::int AS count, md5(string_agg(id || '|' || name || '|' || coalesce(note, '<null>'), ',' ORDER BY id)) AS digest FROM items`);
  return { count: row!.count, digest: row!.digest };
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text.replace(/\r\n?/g, '\n')).digest('hex')}`;

/** Enough rows for a file just above the default large-file size. */
const ABOVE_DEFAULT = Math.ceil((LARGE_FILE_BYTES * 1.05) / Buffer.byteLength(rows(1)[0]!));

describe('a COPY block above the default large-file size, through the CLI', () => {
  const data = rows(ABOVE_DEFAULT);

  it('applies: the table holds exactly the rows, the history checksum is the file\'s, verify exits 0', async () => {
    const text = migrationFile(data);
    assert.ok(Buffer.byteLength(text) > LARGE_FILE_BYTES, 'the file is above the large-file size');
    const cwd = workdir({ 'sql/0001_items.up.sql': text, 'sql/0001_items.down.sql': 'DROP TABLE items;\n' });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /applied 0001_items/);
    assert.deepEqual(await tableDigest(db.sql), { count: data.length, digest: expectedDigest(data.length) });
    const [history] = await db.sql.unsafe(`SELECT up_checksum, state FROM pgpair_history`);
    assert.deepEqual([history!.up_checksum, history!.state], [sha256(text), 'ok']);
    assert.equal((await cli(['verify'], cwd)).code, 0);
    const down = await cli(['down'], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
  });

  it('reports a bad row deep in the data at its line, exit 1, with nothing applied', async () => {
    const bad = data.length - 1000;
    const text = migrationFile(data.map((line, index) => (index + 1 === bad ? `x${index + 1}\tbad row\t\\N` : line)));
    const cwd = workdir({ 'sql/0001_items.up.sql': text });
    const r = await cli(['up'], cwd);
    assert.equal(r.code, 1, r.stderr);
    const line = HEAD_LINES + bad;
    assert.match(r.stderr, new RegExp(`error: sql/0001_items\\.up\\.sql:${line}:1: ERROR \\[22P02\\]: invalid input syntax for type integer: "x${bad}"`));
    assert.match(r.stderr, new RegExp(`CONTEXT: COPY items, line ${bad}, column id: "x${bad}"`));
    assert.ok(r.stderr.includes([
      ` ${line - 2} | ${data[bad - 3]}`,
      ` ${line - 1} | ${data[bad - 2]}`,
      ` ${line} | x${bad}\tbad row\t\\N`,
      ` ${' '.repeat(String(line).length)} | ^`,
      ` ${line + 1} | ${data[bad]}`,
    ].join('\n')), r.stderr);
    assert.match(r.stderr, /Nothing of 0001 was applied \(its transaction was rolled back\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
    assert.equal((await db.sql.unsafe(`SELECT version FROM pgpair_history`)).length, 0);
  });

  it('up --sql prints the same bytes as for the file held whole, and psql applies them', async (t) => {
    const cwd = workdir({ 'sql/0001_items.up.sql': migrationFile(data, '\r\n') });
    const dir = join(cwd, 'sql');
    const r = await runCli(['up', '--sql', '--from', 'base', '--dir', dir], { cwd, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const generatedAt = new Date(/^-- Generated (\S+) by pgpair/m.exec(r.stdout)![1]!);
    const whole = await pgpair.script({ dir, command: 'up', from: 'base', generatedAt, request: 'pgpair up --sql --from base', largeFileBytes: Infinity });
    assert.ok(r.stdout === whole.text, 'byte-identical to the script of the file held whole');
    assert.ok(whole.text.includes(`COPY items (id, name, note) FROM stdin;\n${data.join('\r\n')}\r\n\\.\r\n`), 'the data and its \\. line as written, CRLF kept, as psql sends them');

    const json = await runCli(['up', '--sql', '--from', 'base', '--dir', dir, '--json'], { cwd, timeoutMs: 120_000 });
    assert.equal(json.code, 0, json.stderr);
    const document = JSON.parse(json.stdout) as { script: string };
    assert.equal(json.stdout, `${JSON.stringify(document, null, 2)}\n`);
    const at = new Date(/^-- Generated (\S+) by pgpair/m.exec(document.script)![1]!);
    assert.ok(document.script === (await pgpair.script({ dir, command: 'up', from: 'base', generatedAt: at, request: 'pgpair up --sql --from base', largeFileBytes: Infinity })).text);

    if (!needPsql(t)) return;
    const file = join(cwd, 'release.sql');
    writeFileSync(file, r.stdout);
    const psql = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, db.url], { env: cleanEnv(), encoding: 'utf8' });
    assert.equal(psql.status, 0, psql.stderr);
    assert.deepEqual(await tableDigest(db.sql), { count: data.length, digest: expectedDigest(data.length) });
    assert.equal((await cli(['verify'], cwd)).code, 0);
  });

  it('refuses to print a script whose COPY data shows the database password (exit 2, nothing on stdout)', async () => {
    const secret = 'hunter2-in-the-data';
    const text = migrationFile(data.map((line, index) => (index === data.length - 10 ? `${index + 1}\t${secret}\t\\N` : line)));
    const cwd = workdir({ 'sql/0001_items.up.sql': text });
    const url = new URL(db.url);
    url.password = secret;
    // --from base: no connection, so the check holds whatever the server's authentication (the
    // embedded test server refuses a wrong password; the local one may trust any).
    const r = await cli(['up', '--sql', '--from', 'base'], cwd, url.toString());
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /The script would show the database password \(a migration file holds it\), so it is not printed/);
  });
});

describe('large files through the library, the size set low', () => {
  const SMALL = 64 * 1024;
  const first = rows(20_000);
  const second = rows(5_000, (id) => `${id}\t${'é'.repeat(id % 50)}`);
  const up = `${migrationFile(first)}CREATE TABLE more (id int, text text);\nCOPY more FROM stdin;\n${second.join('\n')}\n\\.\n`.replace(/\n/g, '\r\n');
  const down = `DROP TABLE more;\r\nDROP TABLE items;\r\n-- keep a record\r\nCREATE TABLE dropped (what text);\r\nCOPY dropped FROM stdin;\r\nitems\r\nmore\r\n\\.\r\n`;

  it('applies a CRLF file with two COPY blocks, reverts it with a COPY in its down file, and renders both scripts as for the files held whole', async () => {
    const cwd = workdir({ 'sql/0001_items.up.sql': up, 'sql/0001_items.down.sql': down });
    const dir = join(cwd, 'sql');
    assert.ok(Buffer.byteLength(up) > SMALL);
    const result = await pgpair.up({ url: db.url, dir, largeFileBytes: SMALL });
    assert.deepEqual(result.steps.map((s) => s.version), ['0001']);
    assert.deepEqual(await tableDigest(db.sql), { count: first.length, digest: expectedDigest(first.length) });
    const [more] = await db.sql.unsafe(`SELECT count(*)::int AS n, sum(length(text))::int AS chars FROM more`);
    assert.deepEqual([more!.n, more!.chars], [second.length, second.reduce((sum, line) => sum + line.split('\t')[1]!.length, 0)]);
    const [history] = await db.sql.unsafe(`SELECT up_checksum, down_checksum FROM pgpair_history`);
    assert.deepEqual([history!.up_checksum, history!.down_checksum], [sha256(up), sha256(down)]);
    assert.equal((await pgpair.verify({ url: db.url, dir, largeFileBytes: SMALL })).ok, true);

    for (const [command, from] of [['up', 'base'], ['down', '0001']] as const) {
      const options = { dir, command, from, generatedAt: new Date(0) };
      const whole = await pgpair.script({ ...options, largeFileBytes: Infinity });
      assert.equal((await pgpair.script({ ...options, largeFileBytes: -1 })).text, whole.text, `${command} --sql`);
      const pieces: (string | Uint8Array)[] = [];
      for await (const piece of (await pgpair.scriptStream({ ...options, largeFileBytes: -1 })).pieces()) pieces.push(piece);
      assert.ok(pieces.some((piece) => typeof piece !== 'string'), 'the COPY data is read from the file');
      assert.equal(Buffer.concat(pieces.map((piece) => Buffer.from(piece))).toString('utf8'), whole.text, `${command} --sql in pieces`);
    }

    await pgpair.down({ url: db.url, dir, largeFileBytes: SMALL });
    assert.deepEqual((await db.sql.unsafe(`SELECT what FROM dropped ORDER BY what`)).map((r) => r.what), ['items', 'more']);
  });

  it('reports a bad row of the second COPY block at its line, with the excerpt read from the file', async () => {
    const broken = up.replace(`\r\n17\t${'é'.repeat(17)}\r\n`, `\r\nseventeen\t${'é'.repeat(17)}\r\n`);
    assert.notEqual(broken, up);
    const cwd = workdir({ 'sql/0001_items.up.sql': broken });
    const error = await pgpair.up({ url: db.url, dir: join(cwd, 'sql'), largeFileBytes: SMALL }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof pgpair.MigrationFailedError, String(error));
    const line = broken.replace(/\r\n/g, '\n').split('\n').indexOf(`seventeen\t${'é'.repeat(17)}`) + 1;
    assert.equal(line, HEAD_LINES + first.length + 4 + 17);
    assert.deepEqual([error.line, error.column, error.statement, error.pg.sqlstate], [line, 1, 5, '22P02']);
    assert.equal(error.excerpt, [
      ` ${line - 2} | 15\t${'é'.repeat(15)}`,
      ` ${line - 1} | 16\t${'é'.repeat(16)}`,
      ` ${line} | seventeen\t${'é'.repeat(17)}`,
      `       | ^`,
      ` ${line + 1} | 18\t${'é'.repeat(18)}`,
    ].join('\n'));
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log']);
  });

  it('points at a SQL error after the COPY data with its line and column', async () => {
    const broken = `${up}SELECT nosuch FROM items;\r\n`;
    const cwd = workdir({ 'sql/0001_items.up.sql': broken });
    const error = await pgpair.up({ url: db.url, dir: join(cwd, 'sql'), largeFileBytes: SMALL }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof pgpair.MigrationFailedError, String(error));
    const lines = broken.replace(/\r\n/g, '\n').split('\n');
    assert.deepEqual([error.line, error.column, error.pg.sqlstate], [lines.length - 1, 8, '42703']);
    assert.match(error.excerpt ?? '', new RegExp(` ${lines.length - 2} \\| \\\\\\.\\n ${lines.length - 1} \\| SELECT nosuch FROM items;\\n {${String(lines.length - 1).length + 2}}\\|        \\^$`));
  });

  it('loads a large base schema with COPY data and stamps it', async () => {
    const cwd = workdir({ 'sql/0001_items.up.sql': 'SELECT 1;\n', 'schema.sql': `-- pgpair:version 0001\r\n${up}` });
    const result = await pgpair.load({ url: db.url, dir: join(cwd, 'sql'), file: join(cwd, 'schema.sql'), largeFileBytes: SMALL });
    assert.equal(result.to, '0001');
    assert.deepEqual(await tableDigest(db.sql), { count: first.length, digest: expectedDigest(first.length) });
  });
});

describe('large files on PGlite', () => {
  it('applies the COPY data from the file and reports a bad row at its line', async () => {
    const cwd = workdir({ 'sql/0001_items.up.sql': migrationFile(rows(3000)) });
    const dir = join(cwd, 'sql');
    const url = `pglite:${join(cwd, 'db')}`;
    await pgpair.up({ url, dir, largeFileBytes: 1024 });
    const { connect } = await import('../../lib/db/index.js');
    const embedded = await connect({ url });
    try {
      const [row] = await embedded.query<{ count: string; digest: string }>(`SELECT count(*) AS count, md5(string_agg(id || '|' || name || '|' || coalesce(note, '<null>'), ',' ORDER BY id)) AS digest FROM items`);
      assert.deepEqual(row, { count: '3000', digest: expectedDigest(3000) });
    } finally {
      await embedded.close();
    }
    mkdirSync(join(cwd, 'bad'));
    writeFileSync(join(cwd, 'bad', '0001_items.up.sql'), migrationFile(rows(3000).map((line, index) => (index === 2499 ? 'x\ty\tz' : line))));
    const error = await pgpair.up({ url: 'pglite:memory', dir: join(cwd, 'bad'), largeFileBytes: 1024 }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof pgpair.MigrationFailedError, String(error));
    assert.deepEqual([error.line, error.column], [HEAD_LINES + 2500, 1]);
  });
});
