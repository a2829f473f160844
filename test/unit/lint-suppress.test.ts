/** `-- pgpair:lint-ignore RULE reason`: on the statement it is about, reason required, accepted anywhere by the lexer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeFile } from '../../lib/core/analyze.js';
import { lintSql, rulesOf } from './lint-helpers.js';

const base = 'CREATE TABLE t (id int, a int);';
const lint = (sql: string) => lintSql({ files: [base, sql], applied: 1 });

describe('lint-ignore', () => {
  it('a comment right above the statement, in the middle of the file, silences that rule there, with its reason', () => {
    const report = lint('SELECT 1;\n-- pgpair:lint-ignore index-not-concurrent t has 40 rows, checked 2026-12-01\nCREATE INDEX i ON t (a);\nCREATE INDEX j ON t (id);');
    assert.deepEqual(rulesOf(report), ['index-not-concurrent@4:1']);
    assert.deepEqual(report.suppressed.map((s) => [s.rule, s.line, s.reason]), [['index-not-concurrent', 3, 't has 40 rows, checked 2026-12-01']]);
  });
  it('the lexer neither refuses nor loses it: the file has no problem, and a real unknown directive is still refused', () => {
    const file = analyzeFile({ path: 'x.sql', text: 'SELECT 1;\n-- pgpair:lint-ignore index-not-concurrent why\nCREATE INDEX i ON t (a);\n', large: undefined });
    assert.deepEqual(file.problems, []);
    const typo = analyzeFile({ path: 'x.sql', text: 'SELECT 1;\n-- pgpair:lint-ignor index-not-concurrent why\nSELECT 2;\n', large: undefined });
    assert.equal(typo.problems.length, 1);
  });
  it('a comment at the end of the line where a statement ends belongs to that statement', () => {
    const report = lint('CREATE INDEX i ON t (a); -- pgpair:lint-ignore index-not-concurrent tiny table\nCREATE INDEX j ON t (id);');
    assert.deepEqual(rulesOf(report), ['index-not-concurrent@2:1']);
  });
  it('a comment inside a multi-line statement belongs to it', () => {
    const report = lint('ALTER TABLE t\n  -- pgpair:lint-ignore check-not-valid the table is empty in every environment\n  ADD CONSTRAINT c CHECK (a > 0);');
    assert.deepEqual(rulesOf(report), []);
    assert.equal(report.suppressed.length, 1);
  });
  it('without a reason it silences nothing and is an error naming the line', () => {
    const report = lint('-- pgpair:lint-ignore index-not-concurrent\nCREATE INDEX i ON t (a);');
    assert.deepEqual(rulesOf(report), ['lint-ignore-without-reason@1:1', 'index-not-concurrent@2:1']);
    assert.equal(report.findings[0]!.file, 'sql/0002_m2.up.sql');
    assert.equal(report.findings[0]!.severity, 'error');
  });
  it('a rule id that does not exist is an error; one that silences nothing is a warning', () => {
    const report = lint('-- pgpair:lint-ignore index-not-concurent typo\nCREATE INDEX i ON t (a);\n-- pgpair:lint-ignore set-not-null nothing here\nSELECT 1;');
    assert.deepEqual(rulesOf(report), ['lint-ignore-unknown-rule@1:1', 'index-not-concurrent@2:1', 'lint-ignore-unused@3:1']);
  });
  it('several rules, comma-separated, share one reason', () => {
    const report = lint('-- pgpair:lint-ignore check-not-valid,add-column-volatile-default tiny table\nALTER TABLE t ADD COLUMN d uuid DEFAULT gen_random_uuid(), ADD CONSTRAINT c CHECK (a > 0);');
    assert.deepEqual(rulesOf(report), []);
    assert.deepEqual(report.suppressed.map((f) => f.rule).sort(), ['add-column-volatile-default', 'check-not-valid']);
  });
  it('spaces after the commas and upper-case rule ids are read as the user meant', () => {
    const report = lint('-- pgpair:lint-ignore check-not-valid, Add-Column-Volatile-Default tiny table\nALTER TABLE t ADD COLUMN d uuid DEFAULT gen_random_uuid(), ADD CONSTRAINT c CHECK (a > 0);');
    assert.deepEqual(rulesOf(report), []);
    assert.deepEqual(report.suppressed.map((f) => [f.rule, f.reason]).sort(), [['add-column-volatile-default', 'tiny table'], ['check-not-valid', 'tiny table']]);
    const upper = lint('-- PGPAIR:LINT-IGNORE INDEX-NOT-CONCURRENT 40 rows\nCREATE INDEX i ON t (a);');
    assert.deepEqual(rulesOf(upper), []);
  });
  it('a block comment is not read as a suppression, and says so instead of being silently ignored', () => {
    const report = lint('/* pgpair:lint-ignore index-not-concurrent 40 rows */\nCREATE INDEX i ON t (a);');
    assert.deepEqual(rulesOf(report), ['lint-ignore-unused@1:1', 'index-not-concurrent@2:1']);
    assert.match(report.findings[0]!.message, /block comment is not read/);
    assert.equal(report.suppressed.length, 0);
  });
  it('only the named rule is silenced', () => {
    const report = lint('-- pgpair:lint-ignore check-not-valid ok\nALTER TABLE t ADD COLUMN d uuid DEFAULT gen_random_uuid(), ADD CONSTRAINT c CHECK (a > 0);');
    assert.deepEqual(rulesOf(report), ['add-column-volatile-default@2:15']);
  });
  it('text that looks like the comment in a string or COPY data is no comment', () => {
    const report = lint("SELECT '-- pgpair:lint-ignore index-not-concurrent x';\nCOPY t (a) FROM stdin;\n-- pgpair:lint-ignore index-not-concurrent data\n\\.\nCREATE INDEX i ON t (a);");
    assert.deepEqual(rulesOf(report), ['index-not-concurrent@5:1']);
    assert.equal(report.suppressed.length, 0);
  });
  it('CRLF files: positions and reasons are read as in LF files', () => {
    const report = lint('SELECT 1;\r\n-- pgpair:lint-ignore index-not-concurrent small\r\nCREATE INDEX i ON t (a);\r\nCREATE INDEX j ON t (id);\r\n');
    assert.deepEqual(rulesOf(report), ['index-not-concurrent@4:1']);
    assert.equal(report.suppressed[0]!.reason, 'small');
  });
});
