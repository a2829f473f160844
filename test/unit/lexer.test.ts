import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { leadingWords, managesOwnTransaction, nonTransactionalReason, refusedInMigration } from '../../lib/core/classify.js';
import { splitStatements, type LexResult, type SqlStatement } from '../../lib/core/lexer.js';
import { lineColumnAt } from '../../lib/core/position.js';

/** Splits and checks the invariants every result must satisfy, so each test also checks them. */
function split(sql: string): LexResult {
  const result = splitStatements(sql);
  let previousEnd = 0;
  for (const statement of result.statements) {
    assert.equal(sql.slice(statement.offset, statement.offset + statement.text.length), statement.text,
      'text is the input at offset');
    assert.ok(statement.offset >= previousEnd, 'statements are in order and do not overlap');
    assert.deepEqual({ line: statement.line, column: statement.column }, lineColumnAt(sql, statement.offset));
    previousEnd = statement.offset + statement.text.length;
  }
  return result;
}

const texts = (sql: string): string[] => split(sql).statements.map((statement) => statement.text);
const only = (sql: string): SqlStatement => {
  const { statements } = split(sql);
  assert.equal(statements.length, 1, `exactly one statement in ${JSON.stringify(sql)}`);
  return statements[0] as SqlStatement;
};

describe('splitStatements: boundaries and positions', () => {
  it('splits at top-level semicolons and reports offset, line and column of each first token', () => {
    const sql = '  SELECT 1;\n\n-- note\n/* block */  INSERT INTO t VALUES (2);\nSELECT 3';
    const { statements, problems } = split(sql);
    assert.deepEqual(problems, []);
    assert.deepEqual(statements.map(({ text, offset, line, column }) => ({ text, offset, line, column })), [
      { text: 'SELECT 1;', offset: 2, line: 1, column: 3 },
      { text: 'INSERT INTO t VALUES (2);', offset: 34, line: 4, column: 14 },
      { text: 'SELECT 3', offset: 60, line: 5, column: 1 },
    ]);
  });

  it('ends a last statement without ";" at its last token, not at trailing comments or blanks', () => {
    assert.deepEqual(texts('SELECT 1;\nSELECT 2 /* trailing */ -- more\n\n'), ['SELECT 1;', 'SELECT 2']);
  });

  it('keeps comments inside a statement and the ";" after them', () => {
    assert.deepEqual(texts('SELECT 1 -- one; two\n  + 2 /* ; */ ;'), ['SELECT 1 -- one; two\n  + 2 /* ; */ ;']);
  });

  it('drops empty statements and returns nothing for comment-only or empty input', () => {
    assert.deepEqual(texts(';;SELECT 1;; ;\n;SELECT 2;'), ['SELECT 1;', 'SELECT 2;']);
    assert.deepEqual(texts(''), []);
    assert.deepEqual(texts('-- only a comment\n/* and another */\n'), []);
  });

  it('counts columns in code points, offsets in UTF-16 units', () => {
    const { statements } = split("SELECT '🎉'; SELECT 2;");
    assert.equal(statements[1]?.offset, 13);
    assert.equal(statements[1]?.column, 13);
  });

  it('does not split on ";" inside parentheses, like psql, and never lets depth go negative', () => {
    assert.deepEqual(texts('SELECT (1; 2); SELECT 3;'), ['SELECT (1; 2);', 'SELECT 3;']);
    assert.deepEqual(texts('SELECT 1); SELECT 2;'), ['SELECT 1);', 'SELECT 2;']);
    // Valid SQL needs it: a rule with several actions.
    assert.deepEqual(texts('CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); NOTIFY t); SELECT 2;'),
      ['CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); NOTIFY t);', 'SELECT 2;']);
  });

  it('treats CR as whitespace and counts lines by LF', () => {
    const { statements } = split('SELECT 1;\r\nSELECT 2;\r\n');
    assert.deepEqual(statements.map((s) => [s.text, s.line]), [['SELECT 1;', 1], ['SELECT 2;', 2]]);
    assert.deepEqual(texts('SELECT 1;\rSELECT 2;\r'), ['SELECT 1;', 'SELECT 2;']);
    // A line comment also ends at a CR, as in PostgreSQL.
    assert.deepEqual(texts('SELECT 1 -- c\r;SELECT 2'), ['SELECT 1 -- c\r;', 'SELECT 2']);
  });

  it('skips a leading byte order mark', () => {
    const statement = only('\uFEFFSELECT 1;');
    assert.equal(statement.text, 'SELECT 1;');
    assert.equal(statement.offset, 1);
  });

  it('never throws on NUL bytes, lone surrogates and control characters', () => {
    const sql = "SELECT '\0';\uD800 \uDC00x; \u0001\u007f;";
    assert.doesNotThrow(() => split(sql));
    assert.equal(split(sql).statements.length, 3);
  });
});

describe('splitStatements: strings, identifiers and comments', () => {
  it("handles '' inside single-quoted strings", () => {
    assert.deepEqual(texts("SELECT 'it''s; fine', ''''; SELECT 2;"), ["SELECT 'it''s; fine', '''';", 'SELECT 2;']);
  });

  it("reads backslash escapes only in E'' strings (either case)", () => {
    assert.deepEqual(texts("SELECT E'x\\'; SELECT 2;'; SELECT 3;"), ["SELECT E'x\\'; SELECT 2;';", 'SELECT 3;']);
    assert.deepEqual(texts("SELECT e'\\\\'; SELECT 2;"), ["SELECT e'\\\\';", 'SELECT 2;']);
    // Standard strings: a backslash is an ordinary character.
    assert.deepEqual(texts("SELECT 'x\\'; SELECT 2;"), ["SELECT 'x\\';", 'SELECT 2;']);
  });

  it("does not treat the E at the end of an identifier as an E'' prefix", () => {
    assert.deepEqual(texts("SELECT namE'x\\'; SELECT 2;"), ["SELECT namE'x\\';", 'SELECT 2;']);
    // Read as E'', the first string would run to the second quote; read right, that quote opens
    // a string that never ends.
    assert.deepEqual(texts("SELECT typE'x\\'; SELECT 2;'; SELECT 3;"), ["SELECT typE'x\\';", 'SELECT 2;', "'; SELECT 3;"]);
  });

  it('continues an E string across a newline with the backslash rules, but not across spaces alone', () => {
    assert.deepEqual(texts("SELECT E'a'\n  -- c\n  '\\'; still'; SELECT 2;"),
      ["SELECT E'a'\n  -- c\n  '\\'; still';", 'SELECT 2;']);
    assert.deepEqual(texts("SELECT E'a' '\\'; SELECT 2;"), ["SELECT E'a' '\\';", 'SELECT 2;']);
  });

  it("handles U&'', U&\"\", B'', X'' and N'' literals", () => {
    assert.deepEqual(texts("SELECT U&'\\0041;''', U&\"a;\"\"b\", B'10;', X'1F;', N'n;';SELECT 2"),
      ["SELECT U&'\\0041;''', U&\"a;\"\"b\", B'10;', X'1F;', N'n;';", 'SELECT 2']);
    // U& followed by neither quote is an identifier and an operator.
    assert.deepEqual(texts('SELECT u&1; SELECT 2;'), ['SELECT u&1;', 'SELECT 2;']);
  });

  it('handles quoted identifiers with "" and ; inside', () => {
    assert.deepEqual(texts('SELECT "a"";b" FROM "t;"; SELECT 2;'), ['SELECT "a"";b" FROM "t;";', 'SELECT 2;']);
  });

  it('handles dollar quotes, tagged and untagged, and tags that differ', () => {
    assert.deepEqual(texts("SELECT $$a; 'b$$; SELECT $x$ $$; $y$ ; $x$; SELECT 3;"),
      ["SELECT $$a; 'b$$;", 'SELECT $x$ $$; $y$ ; $x$;', 'SELECT 3;']);
    // Tags are case-sensitive and may hold non-ASCII letters.
    assert.deepEqual(texts('SELECT $A$ $a$; $A$; SELECT $é$;$é$;'), ['SELECT $A$ $a$; $A$;', 'SELECT $é$;$é$;']);
  });

  it('does not take $1 parameters or $ inside identifiers for dollar quotes', () => {
    assert.deepEqual(texts('SELECT $1; SELECT $2;'), ['SELECT $1;', 'SELECT $2;']);
    assert.deepEqual(texts('SELECT a$b$c FROM t; SELECT 2;'), ['SELECT a$b$c FROM t;', 'SELECT 2;']);
    // `$1$x$`: a parameter, then a dollar quote (psqlscan.l's {param} is `$` and digits only), as
    // psql and the server read it; the `;` inside the quote ends nothing.
    assert.deepEqual(texts('SELECT $1$x$; SELECT 2;$x$; SELECT 3;'), ['SELECT $1$x$; SELECT 2;$x$;', 'SELECT 3;']);
    assert.deepEqual(texts('SELECT $1$$;$$, $2; SELECT 3;'), ['SELECT $1$$;$$, $2;', 'SELECT 3;']);
    // Junk glued to a parameter or number is one token (psqlscan.l's {param_junk}, {integer_junk}),
    // `$` included once a letter started it; a `$` glued to a number starts a quote.
    assert.deepEqual(texts('SELECT $1a$b$; SELECT 2;'), ['SELECT $1a$b$;', 'SELECT 2;']);
    assert.deepEqual(texts('SELECT 1$$;$$; SELECT 2;'), ['SELECT 1$$;$$;', 'SELECT 2;']);
    assert.deepEqual(texts('SELECT a$$b$$; SELECT 2;'), ['SELECT a$$b$$;', 'SELECT 2;']);
    // A tag cannot start with a digit: "$1abc$" is no opening quote.
    assert.deepEqual(texts('SELECT $1abc$; SELECT 2;'), ['SELECT $1abc$;', 'SELECT 2;']);
  });

  it('starts a dollar quote right after a number or an operator', () => {
    assert.deepEqual(texts('SELECT 1+$$;$$; SELECT 2;'), ['SELECT 1+$$;$$;', 'SELECT 2;']);
  });

  it('nests block comments', () => {
    assert.deepEqual(texts('/* a /* b; */ c; */ SELECT 1 /* x /* y */ ; */; SELECT 2;'),
      ['SELECT 1 /* x /* y */ ; */;', 'SELECT 2;']);
    assert.deepEqual(texts('SELECT 1 /**/; SELECT 2 /*/ ; */;'), ['SELECT 1 /**/;', 'SELECT 2 /*/ ; */;']);
  });

  it('ignores quotes and semicolons in line comments', () => {
    assert.deepEqual(texts("SELECT 1 -- it's; \"odd\" $$\n, 2; SELECT 3;"), ["SELECT 1 -- it's; \"odd\" $$\n, 2;", 'SELECT 3;']);
  });

  it('starts a comment in the middle of an operator', () => {
    assert.deepEqual(texts('SELECT 1 +-- c;\n 2; SELECT 3 */* c; */ 4;'), ['SELECT 1 +-- c;\n 2;', 'SELECT 3 */* c; */ 4;']);
  });
});

describe('splitStatements: BEGIN ATOMIC bodies', () => {
  it('keeps a BEGIN ATOMIC body with inner statements and CASE ... END together', () => {
    const sql = [
      'CREATE FUNCTION f(x int) RETURNS text LANGUAGE sql',
      'BEGIN ATOMIC',
      "  SELECT CASE WHEN x > 0 THEN 'pos;' ELSE CASE WHEN x < 0 THEN 'neg' END END;",
      '  SELECT 2;',
      'END;',
      'SELECT f(1);',
    ].join('\n');
    const { statements } = split(sql);
    assert.equal(statements.length, 2);
    assert.ok(statements[0]?.text.endsWith('SELECT 2;\nEND;'));
    assert.equal(statements[1]?.text, 'SELECT f(1);');
  });

  it('recognises CREATE OR REPLACE PROCEDURE and lower case', () => {
    assert.deepEqual(
      texts('create or replace procedure p() language sql begin atomic insert into t values (1); end; select 1;'),
      ['create or replace procedure p() language sql begin atomic insert into t values (1); end;', 'select 1;'],
    );
  });

  it('counts BEGIN/CASE/END only in CREATE FUNCTION/PROCEDURE statements, outside parentheses', () => {
    assert.deepEqual(texts('BEGIN; SELECT CASE WHEN true THEN 1 END; END;'),
      ['BEGIN;', 'SELECT CASE WHEN true THEN 1 END;', 'END;']);
    assert.deepEqual(texts('CREATE TABLE function_log (begin_at int); SELECT 2;'),
      ['CREATE TABLE function_log (begin_at int);', 'SELECT 2;']);
    assert.deepEqual(texts('CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1; SELECT 2;'),
      ['CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1;', 'SELECT 2;']);
    // CASE outside a BEGIN does not open anything, even in a function.
    assert.deepEqual(texts('CREATE FUNCTION g() RETURNS int LANGUAGE sql RETURN CASE WHEN true THEN 1 END; SELECT 2;'),
      ['CREATE FUNCTION g() RETURNS int LANGUAGE sql RETURN CASE WHEN true THEN 1 END;', 'SELECT 2;']);
  });

  it('leaves PL/pgSQL BEGIN ... END inside dollar quotes alone', () => {
    assert.deepEqual(texts('CREATE FUNCTION h() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$; SELECT 2;'),
      ['CREATE FUNCTION h() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$;', 'SELECT 2;']);
  });
});

describe('splitStatements: COPY ... FROM stdin', () => {
  it('takes the data lines up to \\. verbatim and resumes lexing after them', () => {
    const sql = "COPY t (a, b) FROM stdin;\n1\t\\N\n2\ta\\tb; 'c' $$ /* --\n\\.\nSELECT 1;";
    const { statements, problems } = split(sql);
    assert.deepEqual(problems, []);
    assert.equal(statements.length, 2);
    assert.equal(statements[0]?.text, 'COPY t (a, b) FROM stdin;');
    assert.deepEqual(statements[0]?.copyData, {
      text: "1\t\\N\n2\ta\\tb; 'c' $$ /* --\n", offset: 26, line: 2, terminated: true,
    });
    assert.equal(statements[1]?.text, 'SELECT 1;');
    assert.equal(statements[1]?.line, 5);
  });

  it('recognises FROM STDIN in any case, with WITH options and comments', () => {
    for (const sql of [
      'copy t from STDIN;\nx\n\\.\n',
      'COPY t FROM stdin WITH (FORMAT csv, HEADER true);\nx\n\\.\n',
      'COPY t /* c */ FROM -- c\n Stdin;\nx\n\\.\n',
      'COPY t FROM stdin (FORMAT text);\nx\n\\.\n',
    ]) {
      const statement = only(sql);
      assert.deepEqual(statement.copyData, { text: 'x\n', offset: sql.indexOf('x\n'), line: sql.slice(0, sql.indexOf('x\n')).split('\n').length, terminated: true }, sql);
    }
  });

  it('gives no data to other COPY forms or to statements that mention stdin', () => {
    for (const sql of ['COPY t TO stdout;', 'COPY (SELECT 1) TO STDOUT;', "COPY t FROM '/tmp/stdin';", 'SELECT stdin FROM stdin;', 'COPY t FROM "stdin";']) {
      assert.equal(only(sql).copyData, undefined, sql);
    }
  });

  it('reports missing \\. as terminated=false with the rest of the input as data', () => {
    const { statements } = split('COPY t FROM stdin;\n1\n2\nSELECT 1;\n');
    assert.equal(statements.length, 1);
    assert.deepEqual(statements[0]?.copyData, { text: '1\n2\nSELECT 1;\n', offset: 19, line: 2, terminated: false });
  });

  it('gives empty unterminated data to a COPY at the very end', () => {
    assert.deepEqual(only('COPY t FROM stdin;').copyData, { text: '', offset: 18, line: 1, terminated: false });
    assert.deepEqual(only('COPY t FROM stdin').copyData, { text: '', offset: 17, line: 1, terminated: false });
    assert.deepEqual(only('COPY t FROM stdin;\n\\.').copyData, { text: '', offset: 19, line: 2, terminated: true });
  });

  it('only ends the data at a line that is exactly \\. (a CR before the newline is tolerated)', () => {
    const { statements } = split('COPY t FROM stdin;\na\\.b\n \\.\n\\. \n\\.\r\nSELECT 1;');
    assert.deepEqual(statements[0]?.copyData?.text, 'a\\.b\n \\.\n\\. \n');
    assert.equal(statements[1]?.text, 'SELECT 1;');
  });

  it('accepts a comment after the COPY ;, and reports other text on that line', () => {
    assert.deepEqual(split('COPY t FROM stdin; -- data follows\n1\n\\.\n').problems, []);
    const { problems, statements } = split('COPY t FROM stdin; SELECT 1;\n1\n\\.\n');
    assert.equal(statements.length, 1);
    assert.equal(problems.length, 1);
    assert.deepEqual([problems[0]?.line, problems[0]?.column], [1, 20]);
    assert.match(problems[0]?.message ?? '', /same line/);
  });

  it('does not read backslash lines in COPY data as meta-commands', () => {
    assert.deepEqual(split('COPY t FROM stdin;\n\\N\n\\i evil.sql\n\\.\n').problems, []);
  });
});

describe('splitStatements: psql meta-commands', () => {
  it('reports meta-commands with line and column', () => {
    const { problems, statements } = split('SELECT 1;\n\\i other.sql\n  \\set x 1\n\\c db\n\\connect db\nSELECT 2;');
    assert.deepEqual(problems.map((p) => [p.line, p.column]), [[2, 1], [3, 3], [4, 1], [5, 1]]);
    assert.match(problems[0]?.message ?? '', /\\i/);
    assert.match(problems[3]?.message ?? '', /\\connect/);
    assert.deepEqual(statements.map((s) => s.text), ['SELECT 1;', 'SELECT 2;']);
  });

  it('reports a meta-command that ends a statement, such as \\gexec', () => {
    const { problems } = split("SELECT format('VACUUM %I', 't')\n\\gexec\n");
    assert.equal(problems.length, 1);
    assert.match(problems[0]?.message ?? '', /\\gexec inside a statement/);
  });

  it("accepts pg_dump's \\restrict and \\unrestrict between statements only", () => {
    assert.deepEqual(split('\\restrict abc123\nSELECT 1;\n\\unrestrict abc123\n').problems, []);
    const { problems } = split('SELECT 1\n\\restrict abc\n;');
    assert.equal(problems.length, 1);
    assert.match(problems[0]?.message ?? '', /\\restrict inside a statement/);
  });

  it('reports a \\. line outside COPY data and \\; in SQL', () => {
    assert.match(split('SELECT 1;\n\\.\n').problems[0]?.message ?? '', /outside COPY/);
    assert.equal(split('SELECT 1 \\; SELECT 2;').problems.length, 1);
  });

  it('does not mistake backslashes in strings and comments for meta-commands', () => {
    assert.deepEqual(split("SELECT '\\i x', E'\\\\', $$\\c$$; -- \\set\n/* \\gexec */").problems, []);
  });
});

describe('splitStatements: unterminated constructs', () => {
  const cases: [string, RegExp, number, number][] = [
    ["SELECT 1;\nSELECT 'abc", /unterminated quoted string/, 2, 8],
    ["SELECT E'abc\\'", /unterminated quoted string/, 1, 8],
    ['SELECT "abc', /unterminated quoted identifier/, 1, 8],
    ['SELECT U&"abc', /unterminated quoted identifier/, 1, 8],
    ['SELECT $body$ abc $$', /unterminated dollar-quoted string/, 1, 8],
    ['SELECT 1; /* a /* b */', /unterminated \/\* comment/, 1, 11],
  ];
  for (const [sql, message, line, column] of cases) {
    it(`reports ${JSON.stringify(sql)} at ${line}:${column}`, () => {
      const { problems } = split(sql);
      assert.equal(problems.length, 1);
      assert.match(problems[0]?.message ?? '', message);
      assert.deepEqual([problems[0]?.line, problems[0]?.column], [line, column]);
    });
  }

  it('keeps the unterminated text in the last statement', () => {
    assert.deepEqual(texts("SELECT 'abc; SELECT 2;"), ["SELECT 'abc; SELECT 2;"]);
  });
});

describe('leadingWords (classify.ts, from the lexer\'s tokens)', () => {
  const words = (sql: string, limit = 6) => leadingWords(only(sql), limit);
  it('upper-cases leading words, skipping comments and stopping at other tokens', () => {
    assert.deepEqual(words('/* c */ create /* x */ unique -- y\n index concurrently "q" on t (a);'),
      ['CREATE', 'UNIQUE', 'INDEX', 'CONCURRENTLY']);
    assert.deepEqual(words('CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);'),
      ['CREATE', 'INDEX', 'CONCURRENTLY', 'IF', 'NOT', 'EXISTS']);
    assert.deepEqual(words('CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);', 2), ['CREATE', 'INDEX']);
    assert.deepEqual(words('(SELECT 1);'), []);
    assert.deepEqual(words('REINDEX (VERBOSE) TABLE t;'), ['REINDEX']);
  });

  it('does not upper-case non-ASCII letters differently from PostgreSQL', () => {
    assert.deepEqual(words('select straße;'), ['SELECT', 'STRAßE']);
  });

  it('reads a word that follows a dollar quote with a non-ASCII tag as the server does', () => {
    assert.deepEqual(words('select $é$ ; commit $é$ begin;'), ['SELECT']);
  });
});

describe('splitStatements: directives', () => {
  it('reads pgpair directives from the leading comment block', () => {
    const { directives } = split('-- header\n\n-- pgpair:no-transaction\n--pgpair:version 12\nCREATE INDEX CONCURRENTLY i ON t (a);');
    assert.deepEqual(directives, { noTransaction: true, values: { version: '12' }, unknown: [] });
  });

  it('accepts upper-case directive names and skips harmless meta-commands before the first statement', () => {
    const { directives } = split('\\restrict k\n-- PGPAIR:No-Transaction\nSELECT 1;');
    assert.equal(directives.noTransaction, true);
  });

  it('reports unknown, malformed and misplaced directives with their lines', () => {
    const sql = '-- pgpair:frobnicate\n-- pgpair:version\n-- pgpair:no-transaction please\nSELECT 1;\n-- pgpair:no-transaction\nSELECT 2 -- pgpair:version 3\n;';
    const { directives } = split(sql);
    assert.equal(directives.noTransaction, false);
    assert.deepEqual(directives.values, {});
    assert.deepEqual(directives.unknown, [
      { line: 1, text: '-- pgpair:frobnicate' },
      { line: 2, text: '-- pgpair:version' },
      { line: 3, text: '-- pgpair:no-transaction please' },
      { line: 5, text: '-- pgpair:no-transaction' },
      { line: 6, text: '-- pgpair:version 3' },
    ]);
  });

  it('ignores directive-like text in block comments and strings', () => {
    const { directives } = split("/* -- pgpair:no-transaction */\nSELECT '-- pgpair:version 9';");
    assert.deepEqual(directives, { noTransaction: false, values: {}, unknown: [] });
  });
});

describe('nonTransactionalReason', () => {
  const reason = (sql: string): string | null => nonTransactionalReason(only(sql));

  const positive: [string, RegExp][] = [
    ['CREATE INDEX CONCURRENTLY i ON t (a);', /^CREATE INDEX CONCURRENTLY cannot run inside a transaction block$/],
    ['create unique index concurrently if not exists i on t (a)', /CREATE INDEX CONCURRENTLY/],
    ['CREATE /* c */ INDEX -- c\n CONCURRENTLY ON t (a);', /CREATE INDEX CONCURRENTLY/],
    ['DROP INDEX CONCURRENTLY IF EXISTS i;', /DROP INDEX CONCURRENTLY/],
    ['REINDEX INDEX CONCURRENTLY i;', /REINDEX CONCURRENTLY/],
    ['REINDEX TABLE CONCURRENTLY t;', /REINDEX CONCURRENTLY/],
    ['REINDEX (VERBOSE) TABLE CONCURRENTLY t;', /REINDEX CONCURRENTLY/],
    ['REINDEX (CONCURRENTLY) INDEX i;', /REINDEX CONCURRENTLY/],
    ['REINDEX (VERBOSE, CONCURRENTLY true) INDEX i;', /REINDEX CONCURRENTLY/],
    ['REINDEX SCHEMA public;', /REINDEX SCHEMA/],
    ['REINDEX DATABASE;', /REINDEX DATABASE/],
    ['REINDEX SYSTEM app;', /REINDEX SYSTEM/],
    ['ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;', /DETACH PARTITION \.\.\. CONCURRENTLY/],
    ['ALTER TABLE IF EXISTS ONLY "m" DETACH PARTITION s.p CONCURRENTLY', /DETACH PARTITION/],
    ['VACUUM;', /^VACUUM cannot/],
    ['vacuum (analyze, verbose) t;', /^VACUUM cannot/],
    ['VACUUM FULL t;', /^VACUUM cannot/],
    ['CREATE DATABASE app;', /CREATE DATABASE/],
    ['DROP DATABASE IF EXISTS app;', /DROP DATABASE/],
    ['ALTER DATABASE app SET TABLESPACE fast;', /ALTER DATABASE \.\.\. SET TABLESPACE/],
    ['ALTER DATABASE "app" WITH TABLESPACE fast;', /SET TABLESPACE/],
    ["CREATE TABLESPACE fast LOCATION '/ssd';", /CREATE TABLESPACE/],
    ['DROP TABLESPACE fast;', /DROP TABLESPACE/],
    ["ALTER SYSTEM SET work_mem = '64MB';", /ALTER SYSTEM/],
    ["CREATE SUBSCRIPTION s CONNECTION 'host=a' PUBLICATION p;", /CREATE SUBSCRIPTION/],
    ["CREATE SUBSCRIPTION s CONNECTION 'host=a' PUBLICATION p WITH (copy_data = false);", /create_slot = true/],
    ['DROP SUBSCRIPTION s;', /DROP SUBSCRIPTION .*replication slot/],
    ['ALTER SUBSCRIPTION s REFRESH PUBLICATION;', /REFRESH PUBLICATION/],
    ['ALTER SUBSCRIPTION s REFRESH PUBLICATION WITH (copy_data = false);', /REFRESH PUBLICATION/],
    ['ALTER SUBSCRIPTION s SET PUBLICATION p;', /PUBLICATION with refresh/],
    ['ALTER SUBSCRIPTION s ADD PUBLICATION p WITH (copy_data = false);', /with refresh/],
    ['ALTER SUBSCRIPTION s DROP PUBLICATION p WITH (refresh = true);', /with refresh/],
    ['ALTER SUBSCRIPTION s SET (failover = true);', /failover/],
    ['ALTER SUBSCRIPTION s SET (two_phase = off);', /two_phase/],
    ['CLUSTER;', /CLUSTER without a table name/],
    ['CLUSTER VERBOSE;', /CLUSTER/],
    ['CLUSTER (VERBOSE)', /CLUSTER/],
    ['DISCARD ALL;', /DISCARD ALL/],
    ["COMMIT PREPARED 'tx1';", /COMMIT PREPARED/],
    ["ROLLBACK PREPARED 'tx1';", /ROLLBACK PREPARED/],
  ];
  for (const [sql, expected] of positive) {
    it(`refuses a transaction for ${JSON.stringify(sql)}`, () => {
      assert.match(reason(sql) ?? '(null)', expected);
      assert.match(reason(sql) ?? '', /cannot run inside a transaction block/);
    });
  }

  const negative = [
    'CREATE INDEX i ON t (a);',
    'CREATE UNIQUE INDEX i ON t (a);',
    'CREATE INDEX "concurrently" ON t (a);',
    'DROP INDEX i;',
    'REINDEX INDEX i;',
    'REINDEX (VERBOSE) TABLE t;',
    'REINDEX (CONCURRENTLY false) INDEX i;',
    'REINDEX (CONCURRENTLY off) TABLE t;',
    'ALTER TABLE measurements DETACH PARTITION measurements_2020;',
    'ALTER TABLE measurements DETACH PARTITION measurements_2020 FINALIZE;',
    'ALTER TABLE t ADD COLUMN concurrently int;',
    'ANALYZE t;',
    "SELECT 'VACUUM';",
    "-- VACUUM\nSELECT 'CREATE INDEX CONCURRENTLY';",
    'CREATE TABLE vacuum_log (id int);',
    'SELECT * FROM vacuum;',
    "DO $$ BEGIN EXECUTE 'VACUUM'; END $$;",
    'CLUSTER t;',
    'CLUSTER VERBOSE t USING t_pkey;',
    'CLUSTER (VERBOSE) t;',
    "ALTER DATABASE app SET default_tablespace = 'fast';",
    'ALTER DATABASE app RENAME TO app2;',
    'ALTER TABLESPACE fast RENAME TO faster;',
    "CREATE SUBSCRIPTION s CONNECTION 'host=a' PUBLICATION p WITH (create_slot = false, slot_name = 's');",
    "CREATE SUBSCRIPTION s CONNECTION 'host=a' PUBLICATION p WITH (connect = 'false');",
    'ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false);',
    'ALTER SUBSCRIPTION s ADD PUBLICATION p WITH (refresh = off, copy_data = true);',
    'ALTER SUBSCRIPTION s ENABLE;',
    'ALTER SUBSCRIPTION s DISABLE;',
    "ALTER SUBSCRIPTION s CONNECTION 'host=b';",
    "ALTER SUBSCRIPTION s SET (slot_name = NONE);",
    'ALTER SUBSCRIPTION s SET (two_phase = true);',
    "ALTER TYPE mood ADD VALUE 'meh';",
    'DISCARD PLANS;',
    'COMMIT;',
    'ROLLBACK;',
    'BEGIN;',
    'ALTER SYSTEM_settings_table ADD x;',
  ];
  for (const sql of negative) {
    it(`allows a transaction for ${JSON.stringify(sql)}`, () => {
      assert.equal(reason(sql), null);
    });
  }

  it('lets ALTER TYPE ... ADD VALUE run in a transaction (PostgreSQL 12 and newer, the versions pgpair supports)', () => {
    assert.equal(reason("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok';"), null);
  });
});

describe('refusedInMigration', () => {
  const refused = (sql: string) => refusedInMigration(only(sql));
  it('refuses DISCARD ALL, however it is written, because it would release the migration lock', () => {
    for (const sql of ['DISCARD ALL;', 'discard all', 'DISCARD /* everything */ ALL;', '-- reset\nDiscard\n  All;']) {
      assert.match(refused(sql) ?? '(null)', /DISCARD ALL would release pgpair's migration lock .* remove it/, sql);
    }
  });
  it('accepts the other DISCARDs and text that only mentions it', () => {
    for (const sql of ['DISCARD PLANS;', 'DISCARD SEQUENCES;', 'DISCARD TEMP;', "SELECT 'discard all';", 'SELECT 1 AS "discard all";', '/* DISCARD ALL */ SELECT 1;', 'CREATE TABLE discard_all (id int);']) {
      assert.equal(refused(sql), null, sql);
    }
  });
});

describe('managesOwnTransaction', () => {
  const manages = (sql: string): boolean => managesOwnTransaction(split(sql).statements);

  for (const sql of [
    'BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;',
    'begin work; select 1; end;',
    'START TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;',
    'SELECT 1;\nCOMMIT;',
    'SELECT 1;\nROLLBACK;',
    'ABORT;',
    "PREPARE TRANSACTION 'tx1';",
    "COMMIT PREPARED 'tx1';",
    "ROLLBACK PREPARED 'tx1';",
    'ROLLBACK AND CHAIN;',
  ]) {
    it(`is true for ${JSON.stringify(sql)}`, () => assert.equal(manages(sql), true));
  }

  for (const sql of [
    'CREATE TABLE t (a int);',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;',
    'DO $$ BEGIN CREATE TABLE t (a int); COMMIT; END $$;',
    'CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;',
    'SAVEPOINT a; ROLLBACK TO SAVEPOINT a; RELEASE SAVEPOINT a;',
    'ROLLBACK TO a;',
    'ROLLBACK WORK TO SAVEPOINT a;',
    "SELECT 'BEGIN; COMMIT;';",
    '-- BEGIN;\n-- COMMIT;\nSELECT 1;',
    'CREATE TABLE begin_log (commit_at int);',
    'PREPARE q AS SELECT 1;',
    'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;',
    '',
  ]) {
    it(`is false for ${JSON.stringify(sql)}`, () => assert.equal(manages(sql), false));
  }
});

describe('fixtures in test/fixtures/lexer', () => {
  const directory = fileURLToPath(new URL('../fixtures/lexer/', import.meta.url));
  const fixtures = readdirSync(directory).filter((name) => name.endsWith('.sql')).sort();

  it('has the expected fixtures', () => {
    assert.deepEqual(fixtures, [
      'begin-atomic.sql', 'copy.sql', 'create-index-concurrently.sql', 'do-block.sql',
      'dollar-quoted-function.sql', 'e-strings.sql', 'multibyte.sql', 'nested-comments.sql', 'pg-dump.sql',
    ]);
  });

  for (const name of fixtures) {
    it(`splits ${name} as recorded in ${name.replace(/\.sql$/, '.json')}`, () => {
      const sql = readFileSync(directory + name, 'utf8');
      const expected = JSON.parse(readFileSync(directory + name.replace(/\.sql$/, '.json'), 'utf8')) as {
        statements: (Pick<SqlStatement, 'line' | 'column' | 'offset' | 'text' | 'copyData'> & {
          keywords: string[];
          nonTransactionalReason: string | null;
        })[];
        problems: unknown[];
        directives: unknown;
        managesOwnTransaction: boolean;
      };
      const result = split(sql);
      assert.equal(result.statements.length, expected.statements.length, 'statement count');
      assert.deepEqual(result.statements.map((statement) => ({
        line: statement.line,
        column: statement.column,
        offset: statement.offset,
        keywords: leadingWords(statement, 6),
        text: statement.text,
        ...(statement.copyData ? { copyData: statement.copyData } : {}),
        nonTransactionalReason: nonTransactionalReason(statement),
      })), expected.statements);
      assert.deepEqual(result.problems, expected.problems);
      assert.deepEqual(result.directives, expected.directives);
      assert.equal(managesOwnTransaction(result.statements), expected.managesOwnTransaction);
    });
  }

  it('keeps create-index-concurrently.sql without a final newline', () => {
    const sql = readFileSync(directory + 'create-index-concurrently.sql', 'utf8');
    assert.ok(!sql.endsWith('\n'));
    assert.ok(split(sql).statements.at(-1)?.text.endsWith('users_old_idx'));
  });
});

describe('inlineParams (literal.ts) finds $n with the lexer\'s tokens', () => {
  it('replaces parameters only where the server reads one: not in strings, quoted names, dollar quotes or comments', async () => {
    const { inlineParams } = await import('../../lib/core/literal.js');
    assert.equal(inlineParams(`SELECT $1, E'\\'$2', "h$2", $é$ $2 $é$ /* $2 */ -- $2\n, $2::int`, ['a', 7]),
      `SELECT 'a', E'\\'$2', "h$2", $é$ $2 $é$ /* $2 */ -- $2\n, 7::int;`);
  });
});
