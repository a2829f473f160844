/** The lint engine on any input: never throws, findings always point into the file; large files read in pieces lint like small ones. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DirectoryError } from '../../lib/core/errors.js';
import { lintMigrations } from '../../lib/core/lint/engine.js';
import { readMigrations } from '../../lib/read/source.js';
import { lintSql } from './lint-helpers.js';

const WORDS = ['CREATE', 'ALTER', 'DROP', 'TABLE', 'INDEX', 'UNIQUE', 'CONCURRENTLY', 'ON', 'ONLY', 'IF', 'NOT', 'EXISTS', 'ADD', 'COLUMN',
  'CONSTRAINT', 'CHECK', 'FOREIGN', 'KEY', 'REFERENCES', 'PRIMARY', 'USING', 'VALID', 'VALIDATE', 'RENAME', 'TO', 'TYPE', 'SET', 'NULL',
  'DEFAULT', 'GENERATED', 'ALWAYS', 'AS', 'STORED', 'IDENTITY', 'REINDEX', 'VACUUM', 'FULL', 'CLUSTER', 'LOCK', 'IN', 'MODE', 'DETACH',
  'PARTITION', 'BEGIN', 'COMMIT', 't', '"T"', 'a', 's.t', '(', ')', ',', '*', '.', ';', "'x'", '$$ALTER TABLE t$$', '1', 'random()', '::', 'IS',
  '-- pgpair:lint-ignore index-not-concurrent why\n', '-- pgpair:lint-ignore\n', '\n', '\r\n'];

describe('lint on any input', () => {
  it('never throws, and every finding is at a line of its file', () => {
    let linted = 0;
    let found = 0;
    fc.assert(fc.property(fc.array(fc.array(fc.constantFrom(...WORDS), { maxLength: 40 }).map((w) => w.join(' ')), { minLength: 1, maxLength: 3 }), fc.nat(2), (files, applied) => {
      let report: ReturnType<typeof lintSql>;
      try {
        report = lintSql({ files: ['CREATE TABLE t (id int, a int);', ...files], applied: Math.min(applied, files.length), serverVersionNum: 140002 });
      } catch (error) {
        // A directory pgpair refuses (an unclosed BEGIN, an unterminated quote) never reaches lint.
        if (error instanceof DirectoryError) return;
        throw error;
      }
      linted++;
      found += report.findings.length;
      for (const finding of report.findings) {
        const lines = files[Number(finding.version) - 2]!.split('\n').length;
        assert.ok(finding.line >= 1 && finding.line <= lines, `${finding.rule} at line ${finding.line} of ${lines}`);
        assert.ok(finding.column >= 1);
      }
    }), { numRuns: 400 });
    assert.ok(linted > 100 && found > 50, `only ${linted} of 400 inputs reached lint, with ${found} findings`);
  });
});

describe('lint on a file read in pieces (above the large-file size)', () => {
  it('finds the same findings and honours the same suppressions as for the text read whole', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lint-large-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, '0001_t.up.sql'), 'CREATE TABLE t (id int, a int);\n');
    writeFileSync(join(dir, '0002_x.up.sql'), "CREATE INDEX i ON t (a);\nCOPY t (a) FROM stdin;\n1\n-- pgpair:lint-ignore vacuum-full data, not a comment\n\\.\n-- pgpair:lint-ignore check-not-valid t is tiny everywhere\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);\nALTER TABLE t RENAME TO u;\n");
    const lint = async (largeFileBytes: number) => {
      const set = await readMigrations(dir, { largeFileBytes });
      const report = lintMigrations(set.migrations.map((m, i) => ({ version: m.version, name: m.name, file: m.up, lint: i > 0, pending: i > 0 })), { serverVersionNum: 120000, serverVersionSource: 'assumed', sizes: null, minRows: 0 });
      return { large: set.migrations[1]!.up.large !== undefined, findings: report.findings.map((f) => `${f.rule}@${f.line}`), suppressed: report.suppressed.map((s) => s.reason) };
    };
    const whole = await lint(1 << 30);
    const pieces = await lint(16);
    assert.equal(whole.large, false);
    assert.equal(pieces.large, true);
    assert.deepEqual(whole.findings, ['index-not-concurrent@1', 'rename-table@8']);
    assert.deepEqual(whole.suppressed, ['t is tiny everywhere']);
    assert.deepEqual(pieces, { ...whole, large: true });
  });
});
