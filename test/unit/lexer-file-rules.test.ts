/**
 * File-level rules on top of the splitter (issue 11, items 2, 7 and 9): a `begin` that makes psql
 * merge statements, transaction control that does not balance, a statement that must run outside a
 * transaction mixed with others, and a file that turns standard_conforming_strings off. Each is a
 * problem with its line and column, found before anything runs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeFile, type FileAnalysis } from '../../lib/core/analyze.js';
import { splitStatements } from '../../lib/core/lexer.js';
import type { MigrationFile } from '../../lib/core/files.js';

const analyze = (text: string): FileAnalysis => analyzeFile({ path: 'sql/0001_x.up.sql', name: '0001_x.up.sql', text, checksum: 'sha256:0' } as MigrationFile);
const problemsOf = (text: string): string[] => analyze(text).problems.map((p) => `${p.line}:${p.column} ${p.message}`);

describe('a begin word that psql reads as the start of a BEGIN ATOMIC body', () => {
  it('is a problem at the word, for the file of issue 11 item 2 (psql sends it as one statement)', () => {
    const sql = 'CREATE FUNCTION begin() RETURNS int LANGUAGE sql RETURN 1;\nCREATE TABLE half_applied(a int);\nCOMMIT;\nSELECT 1/0;\n';
    const { statements, problems } = splitStatements(sql);
    // pgpair splits as psql does: one chunk, up to the end of the file.
    assert.equal(statements.length, 1);
    assert.equal(problems.length, 1);
    assert.deepEqual({ line: problems[0]!.line, column: problems[0]!.column }, { line: 1, column: 17 });
    assert.match(problems[0]!.message, /psql .* would send everything up to a matching END.*"begin"/);
    assert.equal(analyze(sql).problems.length, 1);
  });

  for (const sql of [
    'CREATE FUNCTION s.begin() RETURNS int LANGUAGE sql RETURN 1;',
    'CREATE OR REPLACE PROCEDURE begin() LANGUAGE sql AS $$ SELECT 1 $$;',
    'create function f() returns begin language sql return null;',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS begin; END;',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN; SELECT 2; END;',
  ]) {
    it(`is found in ${JSON.stringify(sql)}`, () => {
      assert.equal(splitStatements(sql).problems.length, 1, JSON.stringify(splitStatements(sql).problems));
    });
  }

  for (const sql of [
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END; SELECT 2;',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql begin /* c */ -- d\n atomic SELECT 1; END;',
    'CREATE FUNCTION "begin"() RETURNS int LANGUAGE sql RETURN 1; SELECT 2;',
    'CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN begin; SELECT 2;'.replace('RETURN begin', 'RETURN 1'),
    'CREATE TABLE begin (a int); SELECT begin FROM begin;',
    'CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$;',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1begin; SELECT 2;',
  ]) {
    it(`is not reported for ${JSON.stringify(sql)}`, () => {
      assert.deepEqual(splitStatements(sql).problems, []);
    });
  }
});

describe('transaction control in a file', () => {
  it('COMMIT, END, ROLLBACK or ABORT without an earlier BEGIN is a problem at its line', () => {
    for (const word of ['COMMIT', 'END', 'ROLLBACK', 'ABORT', 'COMMIT AND CHAIN']) {
      const problems = problemsOf(`CREATE TABLE t (a int);\n${word};\n`);
      // (COMMIT AND CHAIN also leaves a transaction open at the end: a second problem.)
      assert.equal(problems.length, word.endsWith('CHAIN') ? 2 : 1, word);
      assert.match(problems[0]!, new RegExp(`^2:1 ${word.split(' ')[0]} without an earlier BEGIN`));
    }
  });

  it('BEGIN or START TRANSACTION without a later COMMIT is a problem at its line', () => {
    assert.match(problemsOf('SELECT 1;\nBEGIN;\nCREATE TABLE t (a int);\n')[0]!, /^2:1 BEGIN without a later COMMIT/);
    assert.match(problemsOf('START TRANSACTION;\nSELECT 1;')[0]!, /^1:1 START TRANSACTION without a later COMMIT/);
    // AND CHAIN opens the next transaction at once: it needs a COMMIT after it.
    assert.match(problemsOf('BEGIN;\nSELECT 1;\nCOMMIT AND CHAIN;\nSELECT 2;\n')[0]!, /^3:1 COMMIT AND CHAIN without a later COMMIT/);
  });

  it('a BEGIN inside an open transaction, and a statement that cannot run in one, are problems', () => {
    assert.match(problemsOf('BEGIN;\nBEGIN;\nCOMMIT;')[0]!, /^2:1 BEGIN inside the transaction started on line 1/);
    assert.match(problemsOf('BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;')[0]!, /^2:1 CREATE INDEX CONCURRENTLY cannot run inside a transaction block, and this one is inside/);
  });

  it('balanced files run as written: several blocks, PREPARE TRANSACTION, chains, statements around the blocks', () => {
    for (const sql of [
      'BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;',
      "SET lock_timeout = '1s';\nBEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 2;\nEND;\nCREATE INDEX CONCURRENTLY i ON t (a);",
      'start transaction; select 1; commit and chain; select 2; rollback;',
      "BEGIN;\nSELECT 1;\nPREPARE TRANSACTION 'x';\nCOMMIT PREPARED 'x';",
      'BEGIN;\nSAVEPOINT a;\nROLLBACK TO SAVEPOINT a;\nCOMMIT;',
    ]) {
      const analysis = analyze(sql);
      assert.equal(analysis.mode, 'own-transaction', sql);
      assert.deepEqual(analysis.problems, [], sql);
    }
    // ROLLBACK TO SAVEPOINT alone works inside pgpair's transaction.
    assert.equal(analyze('SAVEPOINT a;\nROLLBACK TO a;').mode, 'transaction');
  });
});

describe('a statement that must run outside a transaction, beside other statements (item 7)', () => {
  it('is refused, naming its line and the lines of the others', () => {
    const analysis = analyze('ALTER TABLE t ADD b int;\nCREATE INDEX CONCURRENTLY i ON t (a);\nUPDATE t SET b = 1;\n');
    assert.equal(analysis.problems.length, 1);
    assert.equal(analysis.problems[0]!.line, 2);
    assert.match(analysis.problems[0]!.message, /CREATE INDEX CONCURRENTLY cannot run inside a transaction block, so this file would run without a transaction.*\(lines 1 and 3\).*-- pgpair:no-transaction/);
  });

  it('is accepted with -- pgpair:no-transaction, when alone, beside more of its kind, or beside SET/RESET/SHOW/ANALYZE', () => {
    for (const sql of [
      '-- pgpair:no-transaction\nALTER TABLE t ADD b int;\nCREATE INDEX CONCURRENTLY i ON t (a);',
      'CREATE INDEX CONCURRENTLY i ON t (a);',
      'CREATE INDEX CONCURRENTLY i ON t (a);\nCREATE INDEX CONCURRENTLY j ON t (b);\nVACUUM t;',
      "SET lock_timeout = '1s';\nSET statement_timeout TO 0;\nCREATE INDEX CONCURRENTLY i ON t (a);\nRESET lock_timeout;\nSHOW lock_timeout;\nANALYZE t;",
      '-- only a comment\nDROP INDEX CONCURRENTLY i;\n-- and another',
    ]) {
      const analysis = analyze(sql);
      assert.equal(analysis.mode, 'no-transaction', sql);
      assert.deepEqual(analysis.problems, [], sql);
    }
  });

  it('counts SELECT as another statement (it may call a function that changes the database)', () => {
    assert.equal(analyze("SELECT set_config('x.y', '1', false);\nCREATE INDEX CONCURRENTLY i ON t (a);").problems.length, 1);
  });
});

describe('standard_conforming_strings turned off (item 9c)', () => {
  for (const sql of [
    'SET standard_conforming_strings = off;',
    'SET SESSION standard_conforming_strings TO false;',
    'set local standard_conforming_strings to 0;',
    "SET standard_conforming_strings = 'off';",
    "SELECT set_config('standard_conforming_strings', 'off', false);",
    "SELECT set_config('standard_conforming_strings', current_setting('x.y'), false);",
    'DO $$ BEGIN SET standard_conforming_strings = off; END $$;',
    "DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$;",
    "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings';",
    'ALTER DATABASE postgres SET standard_conforming_strings = off;',
  ]) {
    it(`refuses ${JSON.stringify(sql)} at its line`, () => {
      const problems = problemsOf(`SELECT 1;\n${sql}\n`);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.match(problems[0]!, /^2:1 this statement sets standard_conforming_strings to .*E'/);
    });
  }

  it("refuses the file whose `'x\\'' \\! touch pwned` psql would run as a meta-command", () => {
    const problems = problemsOf("SET standard_conforming_strings = off;\nSELECT 'x\\'' \\! touch pwned\n;\n");
    assert.ok(problems.some((p) => p.startsWith('1:1 this statement sets standard_conforming_strings')), problems.join('\n'));
  });

  for (const sql of [
    'SET standard_conforming_strings = on;',
    "SET standard_conforming_strings TO 'true';",
    'SET standard_conforming_strings = DEFAULT;',
    'RESET standard_conforming_strings;',
    'SHOW standard_conforming_strings;',
    "SELECT current_setting('standard_conforming_strings');",
    "SELECT set_config('standard_conforming_strings', 'on', false);",
    'SET escape_string_warning = off;',
    'SET backslash_quote = on;',
  ]) {
    it(`accepts ${JSON.stringify(sql)}`, () => assert.deepEqual(problemsOf(sql), []));
  }
});
