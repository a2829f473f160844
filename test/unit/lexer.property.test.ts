import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadModule, parseSync, scanSync } from 'libpg-query';
import { scanToken, splitStatements, type LexResult } from '../../lib/core/lexer.js';
import { lineColumnAt } from '../../lib/core/position.js';

/** Properties that hold for any input: texts are slices at their offsets, in order, located right. */
function assertWellFormed(sql: string, result: LexResult): void {
  let previousEnd = 0;
  for (const statement of result.statements) {
    assert.ok(statement.text.length > 0, 'no empty statement');
    assert.equal(sql.slice(statement.offset, statement.offset + statement.text.length), statement.text);
    assert.ok(statement.offset >= previousEnd, 'in order, not overlapping');
    assert.doesNotMatch(statement.text, /^[ \t\n\r\f\v]/, 'starts at a token');
    assert.deepEqual({ line: statement.line, column: statement.column }, lineColumnAt(sql, statement.offset));
    previousEnd = statement.offset + statement.text.length;
    if (statement.copyData) {
      const { text, offset, terminated } = statement.copyData;
      assert.ok(text !== undefined, 'splitStatements gives the data as text, never as a file location');
      assert.equal(sql.slice(offset, offset + text.length), text);
      assert.ok(offset >= previousEnd);
      previousEnd = offset + text.length;
      if (!terminated) assert.equal(offset + text.length, sql.length, 'unterminated data runs to the end');
    }
  }
  for (const problem of result.problems) {
    assert.ok(problem.line >= 1 && problem.column >= 1 && problem.message.length > 0);
  }
}

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((code) => String.fromCodePoint(code));
const sqlishFragment = fc.constantFrom(
  "'", "''", '"', '$$', '$a$', '$1', 'a$b', "E'", "e'", "U&'", 'U&"', "B'", "X'", "N'", '\\', "\\'", '\\.', '\\.\n',
  '/*', '*/', '--', ';', ';;', '\n', '\r', '\r\n', ' ', '\t', '(', ')', 'BEGIN', 'ATOMIC', 'END', 'CASE',
  'CREATE FUNCTION f() ', 'CREATE OR REPLACE PROCEDURE ', 'COPY t FROM stdin', 'FROM', 'stdin', 'x', '1', 'é', '🐘',
  '\0', '\uD800', '\uDC00', '\uFEFF', '-- pgpair:no-transaction\n', '-- pgpair:version 3\n', '\\restrict k\n', '\\i x\n',
);
const sqlishText = fc.array(sqlishFragment, { maxLength: 40 }).map((parts) => parts.join(''));

describe('splitStatements never throws and returns well-formed results', () => {
  it('on arbitrary UTF-16 strings, lone surrogates included', () => {
    fc.assert(fc.property(fc.string({ unit: anyCodeUnit, maxLength: 200 }), (sql) => {
      assertWellFormed(sql, splitStatements(sql));
    }), { numRuns: 300 });
  });

  it('on arbitrary Unicode strings', () => {
    fc.assert(fc.property(fc.string({ unit: anyCodePoint, maxLength: 200 }), (sql) => {
      assertWellFormed(sql, splitStatements(sql));
    }), { numRuns: 300 });
  });

  it('on strings built from SQL-ish fragments, and re-splitting a statement gives it back whole', () => {
    fc.assert(fc.property(sqlishText, (sql) => {
      const result = splitStatements(sql);
      assertWellFormed(sql, result);
      // (A statement may start with U+FEFF, an identifier character; only at the very start of the
      // input is it skipped as a byte order mark.)
      for (const statement of result.statements.filter((found) => !found.text.startsWith('\uFEFF'))) {
        assert.deepEqual(splitStatements(statement.text).statements.map((again) => again.text), [statement.text]);
      }
    }), { numRuns: 1000 });
  });
});

// ---------------------------------------------------------------------------------------------
// Generated valid SQL: statements whose boundaries are known by construction.

const textChar = fc.constantFrom('a', 'Z', '0', ' ', ';', ',', '(', ')', '-', '--', '*', '/', '/*', '*/', '"', '$', '$$',
  '\\', '\n', '\t', 'é', '🐘', '日', '%', 'BEGIN', 'END');
const text = (maxLength: number): fc.Arbitrary<string> =>
  fc.array(fc.oneof(textChar, fc.constant("'")), { maxLength }).map((chars) => chars.join(''));

const standardString = text(12).map((content) => `'${content.replaceAll("'", "''")}'`);
const escapeString = fc.array(fc.oneof(
  textChar.filter((char) => !char.includes('\\')),
  fc.constantFrom('\\\\', "\\'", '\\n', '\\t', '\\;', "''", '\\"', '\\$'),
), { maxLength: 12 }).map((parts) => `E'${parts.join('')}'`);
const dollarString = fc.tuple(fc.constantFrom('', 'a', 'body', 'x_1', 'é'), text(12), fc.constantFrom('', '$$', '$x$', '$1', "'"))
  .map(([tag, body, extra]) => ({ delimiter: `$${tag}$`, body: body + extra }))
  .filter(({ delimiter, body }) => !`${body}${delimiter}`.slice(0, -1).includes(delimiter)
    && `${delimiter.slice(1)}${body}${delimiter}`.indexOf(delimiter) === delimiter.length - 1 + body.length)
  .map(({ delimiter, body }) => `${delimiter}${body}${delimiter}`);
const quotedIdentifier = text(10).filter((content) => content.length > 0)
  .map((content) => `"${content.replaceAll('"', '""')}"`);
const blockComment = fc.array(fc.constantFrom('a', ' ', ';', "'", '"', '$$', '\n', '-', '/* nested; */', 'é'), { maxLength: 8 })
  .map((parts) => `/*${parts.join('')}*/`);
const lineComment = fc.array(fc.constantFrom('a', ' ', ';', "'", '"', '$$', '/*', 'é'), { maxLength: 8 })
  .map((parts) => `--${parts.join('')}\n`);

const statement: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(standardString, fc.option(quotedIdentifier, { nil: undefined }))
    .map(([literal, alias]) => `SELECT ${literal}${alias === undefined ? '' : ` AS ${alias}`}`),
  escapeString.map((literal) => `SELECT ${literal}`),
  dollarString.map((literal) => `SELECT ${literal}`),
  fc.tuple(quotedIdentifier, quotedIdentifier).map(([column, table]) => `SELECT ${column} FROM ${table}`),
  fc.tuple(blockComment, lineComment).map(([block, line]) => `SELECT 1 ${block} + ${line} 2`),
  fc.tuple(fc.integer({ min: 0, max: 3 }), standardString).map(([extra, literal]) => [
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC',
    ...Array.from({ length: extra }, () => ` SELECT CASE WHEN true THEN ${literal} ELSE 'x' END;`),
    ' SELECT 1; END',
  ].join('')),
  standardString.map((literal) => `CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (${literal}); END`),
  dollarString.map((body) => `DO ${body}`),
  fc.constant('DO $$ BEGIN PERFORM 1; END $$'),
  quotedIdentifier.map((name) => `CREATE TABLE ${name} (a int, b text DEFAULT ';')`),
  fc.constant('SELECT a$b, $1 FROM t WHERE x = (SELECT 2)'),
  fc.constant('CREATE INDEX CONCURRENTLY i ON t (a)'),
  // A multi-action rule: the ';' inside parentheses does not end the statement.
  standardString.map((literal) => `CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (${literal}))`),
);
const separator = fc.constantFrom('\n', ' ', '\n\n', '\t', " -- note; it's\n", '\n/* c; /* n */ */\n', ';\n', ' ;; ');
const trailer = fc.constantFrom('', '\n', ' -- end\n', ' /* end */');

interface GeneratedFile { sql: string; statements: string[] }

const generatedFile: fc.Arbitrary<GeneratedFile> = fc.tuple(
  separator, fc.array(fc.tuple(statement, separator), { minLength: 1, maxLength: 6 }), fc.boolean(), trailer,
).map(([lead, parts, lastTerminated, end]) => {
  const statements = parts.map(([body], index) => (index === parts.length - 1 && !lastTerminated ? body : `${body};`));
  const sql = lead + parts.map(([, sep], index) => {
    const body = statements[index] ?? '';
    return index === parts.length - 1 ? body : body + sep;
  }).join('') + end;
  return { sql, statements };
});

describe('splitStatements on generated files', () => {
  it('returns exactly the generated statements', () => {
    fc.assert(fc.property(generatedFile, ({ sql, statements }) => {
      const result = splitStatements(sql);
      assertWellFormed(sql, result);
      assert.deepEqual(result.problems, []);
      assert.deepEqual(result.statements.map((found) => found.text), statements);
    }), { numRuns: 500 });
  });
});

// ---------------------------------------------------------------------------------------------
// The PostgreSQL parser as an oracle for boundaries.

const utf8Length = (value: string): number => Buffer.byteLength(value, 'utf8');

/** Statement starts and lengths in UTF-8 bytes as libpg-query reports them (length 0 = to the end). */
function parserBoundaries(sql: string): { location: number; length: number }[] {
  return (parseSync(sql).stmts ?? []).map((entry) => ({ location: entry.stmt_location ?? 0, length: entry.stmt_len ?? 0 }));
}

function assertAgreesWithParser(sql: string): void {
  const ours = splitStatements(sql).statements;
  const theirs = parserBoundaries(sql);
  assert.equal(ours.length, theirs.length, `statement count for ${JSON.stringify(sql)}`);
  ours.forEach((found, index) => {
    const expected = theirs[index];
    assert.ok(expected !== undefined);
    assert.equal(utf8Length(sql.slice(0, found.offset)), expected.location, `start of statement ${index + 1}`);
    if (expected.length > 0) {
      // The parser's length stops before the ';'.
      assert.ok(found.text.endsWith(';'));
      assert.equal(utf8Length(found.text) - 1, expected.length, `length of statement ${index + 1}`);
    }
  });
}

describe('statement boundaries agree with the PostgreSQL parser (libpg-query)', () => {
  before(async () => {
    await loadModule();
  });

  it('on generated files', () => {
    fc.assert(fc.property(generatedFile, ({ sql }) => assertAgreesWithParser(sql)), { numRuns: 300 });
  });

  it('on the fixtures without COPY data or meta-commands', () => {
    const directory = fileURLToPath(new URL('../fixtures/lexer/', import.meta.url));
    const fixtures = readdirSync(directory).filter((name) => name.endsWith('.sql') && !['copy.sql', 'pg-dump.sql'].includes(name));
    assert.ok(fixtures.length >= 7);
    for (const name of fixtures) assertAgreesWithParser(readFileSync(directory + name, 'utf8'));
  });

  it('would notice a disagreement (the oracle is not vacuous)', () => {
    assert.throws(() => assertAgreesWithParser('SELECT (1; 2)'), /statement count|Query|syntax/i);
    assert.notDeepEqual(parserBoundaries('SELECT 1; SELECT 2'), parserBoundaries('SELECT 1 + 2'));
  });
});

// ---------------------------------------------------------------------------------------------
// The PostgreSQL scanner as an oracle for tokens: parameters, dollar quotes and identifiers with `$`.

const dollarToken = fc.oneof(
  fc.integer({ min: 0, max: 99 }).map((n) => `$${n}`),
  fc.tuple(fc.constantFrom('', 't', 'tag', 'a_1', 'x9'), fc.constantFrom('', ' ; ', '$', '$1', "'", 'x$y', '$$', '$t'))
    // The quote ends at the first `$tag$` after its opening: only bodies that hold none of it before the end.
    .filter(([tag, body]) => `${body}$${tag}$`.indexOf(`$${tag}$`) === body.length)
    .map(([tag, body]) => `$${tag}$${body}$${tag}$`),
  fc.constantFrom('a$b', 'a$', 'a$$b', 'x$1', 'é$'),
  fc.constantFrom('1', '12', '1.5'),
);
/** Tokens glued together or apart, never into junk (a digit followed by a letter, which PostgreSQL rejects). */
const dollarSoup = fc.array(fc.tuple(dollarToken, fc.constantFrom('', ' ', ' + ', ', ', '\n')), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.map(([token, sep]) => token + sep).join(''))
  .filter((sql) => !/[0-9][A-Za-z_\u0080-\uffff]/.test(sql));

/** [start, end) in UTF-16 units of the scanner's tokens other than operators and punctuation. */
function scannerTokens(sql: string): [number, number][] | null {
  let tokens: ReturnType<typeof scanSync>['tokens'];
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    return null;
  }
  const buffer = Buffer.from(sql, 'utf8');
  const unit = (byte: number): number => buffer.subarray(0, byte).toString('utf8').length;
  return tokens.filter((token) => /^(PARAM|SCONST|IDENT|ICONST|FCONST)$/.test(token.tokenName) || token.keywordKind > 0)
    .map((token) => [unit(token.start), unit(token.end)]);
}

function lexerTokens(sql: string): [number, number][] {
  const found: [number, number][] = [];
  for (let pos = 0; pos < sql.length;) {
    const token = scanToken(sql, pos);
    if (['param', 'string', 'dollarString', 'word', 'quotedIdent', 'number'].includes(token.kind)) found.push([token.start, token.end]);
    pos = token.end;
  }
  return found;
}

describe('tokens agree with the PostgreSQL scanner (libpg-query scanSync)', () => {
  before(async () => {
    await loadModule();
  });

  it('on parameters glued to dollar quotes, identifiers with $, numbers', () => {
    let compared = 0;
    fc.assert(fc.property(dollarSoup, (sql) => {
      const theirs = scannerTokens(sql);
      if (theirs === null) return;
      compared++;
      assert.deepEqual(lexerTokens(sql), theirs, JSON.stringify(sql));
    }), { numRuns: 500 });
    assert.ok(compared > 200, `compared ${compared}`);
  });

  it('reads $1$t$ ; $t$ as a parameter and a dollar quote (the oracle is not vacuous)', () => {
    assert.deepEqual(scannerTokens('$1$t$ ; $t$'), [[0, 2], [2, 11]]);
    assert.deepEqual(lexerTokens('$1$t$ ; $t$'), [[0, 2], [2, 11]]);
  });
});
