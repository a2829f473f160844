/**
 * Which statements the pipeline across migrations runs without a check behind them
 * (lib/core/classify.ts inertStatements): plain DDL that runs none of the user's code. A false
 * "inert" would let a lock release go unattributed (the guard before the history row still
 * catches it when an event trigger is enabled; pipeline-attacks.test.ts), so every doubtful
 * form must come out false.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inertStatements } from '../../lib/core/classify.js';
import { splitStatements } from '../../lib/core/lexer.js';

const inert = (sql: string) => inertStatements(splitStatements(sql).statements);

describe('inertStatements', () => {
  it('plain DDL of a new table is inert, the index on it too', () => {
    assert.deepEqual(inert('CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL DEFAULT now());\nCREATE INDEX t_name ON t (name);\nCOMMENT ON TABLE t IS \'x\';\n'), [true, true, true]);
    assert.deepEqual(inert('CREATE TABLE "Odd T" (a int);\nCREATE UNIQUE INDEX i ON "Odd T" (a);\n'), [true, true]);
    assert.deepEqual(inert('CREATE TABLE app.Items (a int);\nCREATE INDEX i ON ONLY APP . items (a);\n'), [true, true]);
    assert.deepEqual(inert('DROP TABLE t;\nGRANT SELECT ON t TO public;\nCREATE VIEW v AS SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n'), [true, true, true, true]);
  });

  it('an index on a table the file did not create (it may have rows: the type\'s functions run) is not', () => {
    assert.deepEqual(inert('CREATE INDEX i ON t (a);\n'), [false]);
    assert.deepEqual(inert('CREATE TABLE IF NOT EXISTS t (a int);\nCREATE INDEX i ON t (a);\n'), [true, false]);
    assert.deepEqual(inert('CREATE TABLE "T" (a int);\nCREATE INDEX i ON t (a);\n'), [true, false], 'a quoted name is another table');
    assert.deepEqual(inert('CREATE TABLE s.t (a int);\nCREATE INDEX i ON t (a);\n'), [true, false], 'written differently, it may be another table');
  });

  it('anything that evaluates an expression or calls a function is not', () => {
    assert.deepEqual(inert('CREATE TABLE t (a int);\nCREATE INDEX i ON t (lower(a::text));\n'), [true, false]);
    assert.deepEqual(inert('CREATE TABLE t (a int);\nCREATE INDEX i ON t (a) WHERE a > 0;\n'), [true, false]);
    assert.deepEqual(inert('CREATE TABLE t AS SELECT f();\n'), [false]);
    assert.deepEqual(inert('CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a + 1) STORED);\n'), [false]);
    assert.deepEqual(inert('CREATE TABLE p1 PARTITION OF p FOR VALUES IN (f());\n'), [false]);
    assert.deepEqual(inert('CREATE SCHEMA s CREATE TABLE t (a int) CREATE INDEX i ON t (a);\n'), [false]);
    assert.deepEqual(inert('SELECT f();\nINSERT INTO t VALUES (1);\nALTER TABLE t ADD COLUMN b int DEFAULT f();\nDO $$ BEGIN END $$;\nCALL p();\nREFRESH MATERIALIZED VIEW m;\nCREATE MATERIALIZED VIEW m AS SELECT 1;\n'), [false, false, false, false, false, false, false]);
  });
});
