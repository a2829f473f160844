import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { analyzeFile, runsInTransaction } from '../../lib/core/analyze.js';
import type { MigrationFile } from '../../lib/core/files.js';

const fixtures = fileURLToPath(new URL('../fixtures', import.meta.url));

function sqlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sqlFiles(join(dir, entry.name)) : entry.name.endsWith('.sql') ? [join(dir, entry.name)] : [],
  );
}

const asFile = (text: string, path = 'x.up.sql'): MigrationFile => ({ path, name: path, text, checksum: 'sha256:-' });

/** runsInTransaction skips the lexer for files without certain words: it must always agree with the full analysis. */
describe('runsInTransaction', () => {
  it('agrees with analyzeFile on every fixture', () => {
    let outside = 0;
    for (const path of sqlFiles(fixtures)) {
      const text = readFileSync(path, 'utf8').replace(/\r\n?/g, '\n');
      const expected = analyzeFile(asFile(text, path)).mode === 'transaction';
      if (!expected) outside++;
      assert.equal(runsInTransaction(asFile(text, path)), expected, path);
    }
    assert.ok(outside >= 4, 'the fixtures include files that cannot run in a transaction');
  });

  it('agrees with analyzeFile on generated statements that are and are not transactional, in any letter case', () => {
    const statement = fc.constantFrom(
      'CREATE TABLE t (id int)', 'create index concurrently i on t (id)', 'CREATE UNIQUE INDEX CONCURRENTLY i ON t (x)', 'VACUUM t',
      'vacuum', 'DROP INDEX CONCURRENTLY i', 'CREATE DATABASE d', 'drop database d', 'ALTER SYSTEM SET work_mem = 1', 'REINDEX SCHEMA s',
      'reindex table concurrently t', 'CLUSTER', 'CLUSTER t USING i', 'DISCARD ALL', 'COMMIT PREPARED \'x\'', 'ALTER TYPE e ADD VALUE \'v\'',
      'ALTER TABLE p DETACH PARTITION c CONCURRENTLY', 'ALTER DATABASE d SET TABLESPACE ts', 'BEGIN', 'begin transaction', 'START TRANSACTION',
      'COMMIT', 'END', 'ABORT', 'ROLLBACK', 'ROLLBACK TO SAVEPOINT s', 'SAVEPOINT s', 'PREPARE TRANSACTION \'x\'', 'SELECT 1',
      'INSERT INTO t VALUES (1)', "SELECT 'VACUUM'", 'SELECT "concurrently" FROM t', '/* BEGIN */ SELECT 1', 'DO $$BEGIN NULL; END$$',
      'CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END', 'ALTER TABLE t ADD COLUMN c int', 'CREATE TABLESPACE ts LOCATION \'/x\'',
    );
    const header = fc.constantFrom('', '-- pgpair:no-transaction\n', '-- pgpair:version 2\n', '-- pgpair:typo\n', '-- a comment\n');
    const recase = (s: string, flips: boolean[]) => [...s].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c.toLowerCase())).join('');
    fc.assert(
      fc.property(header, fc.array(statement, { maxLength: 5 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }), (head, statements, flips) => {
        const text = head + statements.map((s) => `${recase(s, flips)};\n`).join('');
        assert.equal(runsInTransaction(asFile(text)), analyzeFile(asFile(text)).mode === 'transaction', text);
      }),
      { numRuns: 2000 },
    );
  });
});
