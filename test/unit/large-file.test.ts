/**
 * Large files (lib/large-file.ts, lib/source.ts): a file read in pieces must come out exactly as the
 * same file read whole — checksum, statements with their positions, directives, problems, run mode,
 * the lines of error excerpts and the --sql script — except that its COPY data is located in the
 * file rather than held, and reads back as the same text. Both paths run over the lexer fixtures and
 * over generated files, with pieces of 1 to 7 bytes so that every boundary falls everywhere: inside
 * UTF-8 sequences, between CR and LF, inside `\.` lines and the BOM.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { analyzeFile, type FileAnalysis } from '../../lib/core/analyze.js';
import { normaliseSql } from '../../lib/core/checksum.js';
import { DirectoryError, FileChangedError } from '../../lib/core/errors.js';
import type { MigrationFile } from '../../lib/core/files.js';
import { LineEndNormaliser } from '../../lib/core/line-ends.js';
import { splitStatements, type CopyDataLocation } from '../../lib/core/lexer.js';
import { script, scriptStream } from '../../lib/run/migrator.js';
import { excerpt, excerptWindow, formatExcerpt, lineColumnAt, lineColumnInStatement } from '../../lib/core/position.js';
import { readCopyData, readLines, readMigrations, readSqlFile } from '../../lib/read/source.js';

const scratch = mkdtempSync(join(tmpdir(), 'pgpair-large-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let cases = 0;

/** A directory holding one migration file with these bytes. */
function directoryWith(bytes: Uint8Array): string {
  const dir = join(scratch, `case${cases++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, '0001_case.up.sql'), bytes);
  return dir;
}

async function readBack(file: MigrationFile, location: CopyDataLocation): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  for await (const piece of readCopyData(file, location)) pieces.push(piece);
  return Buffer.concat(pieces);
}

/** The analysis of a large file with its COPY data read back as text, to compare with the file read whole. */
async function comparable(file: MigrationFile, analysis: FileAnalysis): Promise<FileAnalysis> {
  const statements = [];
  for (const statement of analysis.statements) {
    const copyData = statement.copyData;
    if (!copyData?.location) {
      statements.push(statement);
      continue;
    }
    const bytes = await readBack(file, copyData.location);
    const text = bytes.toString('utf8');
    assert.equal(bytes.length, copyData.location.end - copyData.location.start, 'the data is its byte range');
    assert.equal(text.length, copyData.location.length, 'the data has its length in UTF-16 units');
    const terminator = copyData.terminator === undefined ? {} : { terminator: copyData.terminator };
    statements.push({ ...statement, copyData: { text, offset: copyData.offset, line: copyData.line, terminated: copyData.terminated, ...terminator } });
  }
  return { ...analysis, statements };
}

type Outcome = { problems: unknown } | { file: MigrationFile };

async function read(dir: string, options: { largeFileBytes?: number; chunkBytes?: number }): Promise<Outcome> {
  try {
    const set = await readMigrations(dir, options);
    return { file: set.migrations[0]!.up };
  } catch (error) {
    if (error instanceof DirectoryError) return { problems: error.problems };
    throw error;
  }
}

/** Reads the bytes whole and in pieces of `chunkBytes`, and asserts that everything agrees. */
async function assertSameBothWays(bytes: Uint8Array, chunkBytes: number): Promise<void> {
  const dir = directoryWith(bytes);
  const whole = await read(dir, { largeFileBytes: Infinity });
  const pieces = await read(dir, { largeFileBytes: -1, chunkBytes });
  if ('problems' in whole || 'problems' in pieces) {
    assert.deepEqual(pieces, whole, 'the same directory problems (invalid UTF-8, NUL bytes) with the same lines');
    return;
  }
  const small = whole.file;
  const large = pieces.file;
  assert.equal(small.text !== undefined && small.large === undefined, true, 'read whole');
  assert.equal(large.text === undefined && large.large !== undefined, true, 'read in pieces');
  assert.equal(large.checksum, small.checksum, 'checksum');
  const expected = analyzeFile(small);
  const got = await comparable(large, analyzeFile(large));
  assert.deepEqual(got, expected, 'statements, positions, COPY data, directives, problems, mode');
  // Error positions: from the statement alone, as from the whole text.
  for (const statement of expected.statements) {
    for (const index of new Set([0, 1, statement.text.length >> 1, statement.text.length - 1, statement.text.length])) {
      assert.deepEqual(lineColumnInStatement(statement, index), lineColumnAt(small.text!, statement.offset + Math.max(0, Math.min(index, statement.text.length))));
    }
  }
  // Excerpts: every line, read from the file.
  const lineCount = large.large!.lineCount;
  // Counted as position.ts's excerpt counts them: a last line that is empty (or only the CR of a CRLF) is none.
  const lines = small.text!.split('\n');
  if (lines.length > 1 && (lines.at(-1) === '' || lines.at(-1) === '\r')) lines.pop();
  assert.equal(lineCount, lines.length, 'line count');
  for (let line = 1; line <= lineCount; line++) {
    const window = excerptWindow(lineCount, line);
    assert.equal(formatExcerpt(await readLines(large, window.first, window.last), window, 3), excerpt(small.text!, line, 3), `excerpt at line ${line}`);
  }
  // The --sql script, when the file can run: the same bytes, also in pieces.
  if (expected.problems.length === 0) {
    const options = { dir, command: 'up' as const, from: 'base', generatedAt: new Date(0) };
    const text = (await script({ ...options, largeFileBytes: Infinity })).text;
    assert.equal((await script({ ...options, largeFileBytes: -1 })).text, text, 'script');
    const stream = await scriptStream({ ...options, largeFileBytes: -1 });
    const parts: Buffer[] = [];
    for await (const piece of stream.pieces()) parts.push(typeof piece === 'string' ? Buffer.from(piece) : Buffer.from(piece));
    assert.equal(Buffer.concat(parts).toString('utf8'), text, 'script in pieces');
  }
}

const fixtureFiles = ['lexer', 'statements', 'pgdump'].flatMap((folder) => {
  const directory = fileURLToPath(new URL(`../fixtures/${folder}/`, import.meta.url));
  return readdirSync(directory).filter((name) => name.endsWith('.sql')).sort().map((name) => ({ name: `${folder}/${name}`, bytes: readFileSync(directory + name) }));
});

describe('a large file read in pieces agrees with the file read whole', () => {
  it('has the fixtures to compare', () => {
    assert.ok(fixtureFiles.length >= 20, `${fixtureFiles.length} fixture files`);
    assert.ok(fixtureFiles.some(({ bytes }) => /FROM stdin;\n/.test(bytes.toString())), 'with COPY data');
  });

  for (const { name, bytes } of fixtureFiles) {
    it(`on ${name}, with LF and with CRLF line ends, in pieces of 1 to 7 bytes and 64 KiB`, async () => {
      const crlf = Buffer.from(bytes.toString('utf8').replace(/\n/g, '\r\n'));
      for (const chunkBytes of [1, 2, 3, 4, 5, 6, 7, 65536]) {
        await assertSameBothWays(bytes, chunkBytes);
        await assertSameBothWays(crlf, chunkBytes);
      }
    });
  }

  it('on a file with a BOM, lone CRs and a CR at the end', async () => {
    for (const chunkBytes of [1, 2, 3, 4, 7]) {
      await assertSameBothWays(Buffer.from('\uFEFFCOPY t FROM stdin;\ra\tb\r\\.\rSELECT 1;\r'), chunkBytes);
      await assertSameBothWays(Buffer.from('\uFEFF\uFEFFSELECT 1;'), chunkBytes);
      await assertSameBothWays(Buffer.from([0xef, 0xbb]), chunkBytes);
    }
  });

  // Files built from SQL-ish and COPY-ish fragments, as bytes: invalid UTF-8 and NUL bytes included.
  const fragment = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(
      'COPY t FROM stdin;\n', 'COPY t (a, b) FROM STDIN;', 'copy t from stdin ; -- data\n', 'COPY t FROM stdin; x\n',
      'COPY (SELECT 1; x', 'COPY t TO stdout;\n', 'FROM stdin', '\\.\n', '\\.', '\\', '.', '\\.\r\n', '\\. \n', 'a\\.b\n',
      '1\tx\n', 'é\n', '🐘', '日本', '\n', '\r', '\r\n', ' ', ';', ';\n', "'", "''", '"', '$$', '$a$', "E'", '\\\'', '/*', '*/', '--',
      '-- pgpair:no-transaction\n', '-- pgpair:version 3\n', '-- pgpair:bogus\n', '\\restrict k\n', '\\i x\n',
      'BEGIN', 'ATOMIC', 'END', 'CREATE FUNCTION f() ', 'CREATE INDEX CONCURRENTLY i ON t (a);\n', 'SELECT 1;\n', 'x', '\uFEFF',
    ).map((text) => Buffer.from(text)) },
    { weight: 1, arbitrary: fc.constantFrom([0x00], [0xff], [0xc3], [0xe2, 0x82], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x90]).map((bytes) => Buffer.from(bytes)) },
  );
  const file = fc.tuple(fc.boolean(), fc.array(fragment, { maxLength: 40 }))
    .map(([bom, parts]) => Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), ...parts]));

  it('on generated files, in pieces of 1 to 7 bytes', async () => {
    await fc.assert(fc.asyncProperty(file, fc.integer({ min: 1, max: 7 }), (bytes, chunkBytes) => assertSameBothWays(bytes, chunkBytes)), { numRuns: 400 });
  });

  it('on generated files without invalid bytes, whose COPY data is read back from the middle of the file', async () => {
    const valid = fc.array(fc.constantFrom('COPY t FROM stdin;\n', '1\té\n', '🐘\t\\N\n', '\\.\n', 'SELECT 1;\n', '\r\n', '-- c\n', "SELECT ';\n", "';\n"), { minLength: 1, maxLength: 60 })
      .map((parts) => Buffer.from(parts.join('')));
    await fc.assert(fc.asyncProperty(valid, fc.integer({ min: 1, max: 7 }), (bytes, chunkBytes) => assertSameBothWays(bytes, chunkBytes)), { numRuns: 150 });
  });
});

describe('reading large files', () => {
  it('normalises line ends of bytes in any pieces as normaliseSql does', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('\r', '\n', '\r\n', 'a', 'é', '\uFEFF'), { maxLength: 30 }), fc.integer({ min: 1, max: 5 }), (parts, size) => {
      const bytes = Buffer.from(parts.join(''));
      const normaliser = new LineEndNormaliser(true);
      const out: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) out.push(Buffer.from(normaliser.push(bytes.subarray(at, at + size))));
      out.push(normaliser.end());
      assert.equal(Buffer.concat(out).toString('utf8'), normaliseSql(bytes.toString('utf8')));
      assert.equal(normaliser.normalised, Buffer.concat(out).length);
    }), { numRuns: 500 });
  });

  it('keeps no COPY data in memory, and reads it back from the middle of the file', async () => {
    const rows = Array.from({ length: 5000 }, (_, i) => `${i}\trow ${i} é\n`).join('');
    const dir = directoryWith(Buffer.from(`CREATE TABLE t (a int, b text);\nCOPY t FROM stdin;\n${rows}\\.\nSELECT 1;\n`));
    const set = await readMigrations(dir, { largeFileBytes: 1000, chunkBytes: 4096 });
    const file = set.migrations[0]!.up;
    const copy = analyzeFile(file).statements[1]!.copyData!;
    assert.equal(copy.text, undefined);
    assert.ok(file.large!.segments.every((segment) => segment.text.length < 100), 'only the SQL is held');
    assert.ok(file.large!.checkpoints.length > 10);
    assert.equal((await readBack(file, copy.location!)).toString(), rows);
    assert.deepEqual(await readLines(file, 2500, 2501), ['2497\trow 2497 é', '2498\trow 2498 é']);
  });

  it('refuses to read COPY data of a file that changed since it was read', async () => {
    const dir = directoryWith(Buffer.from('COPY t FROM stdin;\n1\n2\n\\.\n'));
    const file = (await readMigrations(dir, { largeFileBytes: -1 })).migrations[0]!.up;
    const location = analyzeFile(file).statements[0]!.copyData!.location!;
    writeFileSync(join(dir, '0001_case.up.sql'), 'COPY t FROM stdin;\n1\n3\n\\.\n-- edited\n');
    await assert.rejects(readBack(file, location), (error: unknown) => error instanceof FileChangedError && /0001_case\.up\.sql changed since pgpair read and checksummed it/.test(error.message));
  });

  it('keeps a CRLF file as written, read whole or in pieces: CRs in its statements and COPY data, the checksum of its LF form', async () => {
    const crlf = '\uFEFFINSERT INTO t VALUES (\'a\r\nb\');\r\nCOPY t FROM stdin;\r\n1\r\n2\r\n\\.\r\nSELECT 1;\r\n';
    const dir = directoryWith(Buffer.from(crlf));
    const lf = directoryWith(Buffer.from(crlf.replace(/\r\n/g, '\n')));
    for (const largeFileBytes of [Infinity, -1]) {
      const file = (await readMigrations(dir, { largeFileBytes, chunkBytes: 5 })).migrations[0]!.up;
      const { statements } = await comparable(file, analyzeFile(file));
      assert.equal(statements[0]!.text, "INSERT INTO t VALUES ('a\r\nb');");
      assert.equal(statements[1]!.copyData!.text, '1\r\n2\r\n');
      assert.equal(statements[2]!.text, 'SELECT 1;');
      assert.equal(file.checksum, (await readMigrations(lf, { largeFileBytes })).migrations[0]!.up.checksum);
    }
    const large = (await readMigrations(dir, { largeFileBytes: -1 })).migrations[0]!.up;
    // The data's location is in the bytes as stored, the BOM's 3 bytes included.
    const location = analyzeFile(large).statements[1]!.copyData!.location!;
    assert.equal(location.start, Buffer.byteLength(crlf.slice(0, crlf.indexOf('1\r\n'))));
    assert.deepEqual(await readLines(large, 1, 2), ["INSERT INTO t VALUES ('a", "b');"]);
  });

  it('reads a large base schema for load as readMigrations does', async () => {
    const dir = directoryWith(Buffer.from('-- pgpair:version 3\r\nCOPY t FROM stdin;\r\n1\r\n\\.\r\n'));
    const path = join(dir, '0001_case.up.sql');
    const large = await readSqlFile(path, { largeFileBytes: -1, chunkBytes: 3 });
    const small = await readSqlFile(path);
    assert.equal(large.checksum, small.checksum);
    assert.deepEqual((await comparable(large, analyzeFile(large))).statements, splitStatements(small.text!).statements);
    assert.deepEqual(analyzeFile(large).directives, { version: '3' });
  });
});
