/** The pure pieces of pgpair test and verify --schema: the scratch URL, the test-allow directive, the extensions files create. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeFile } from '../../lib/core/analyze.js';
import type { Migration } from '../../lib/core/files.js';
import { allowedCategories } from '../../lib/run/schema-test.js';
import { extensionsCreatedBy } from '../../lib/run/schema-verify.js';
import { scratchName, scratchUrl } from '../../lib/run/scratch.js';

function migration(up: string, down: string | null): Migration {
  const file = (path: string, text: string) => ({ path, name: path, checksum: 'sha256:x', text, analysis: analyzeFile({ path, text }) });
  return { version: '0001', key: '1', name: 'm', up: file('0001_m.up.sql', up), down: down === null ? null : file('0001_m.down.sql', down) } as Migration;
}

describe('scratchUrl', () => {
  it('replaces only the database, keeping user, password, host, port and query', () => {
    assert.equal(scratchUrl('postgres://u:p%40ss@db.example:6432/app?sslmode=require', 'pgpair_test_1'), 'postgres://u:p%40ss@db.example:6432/pgpair_test_1?sslmode=require');
    assert.equal(scratchUrl('postgresql://h', 'x'), 'postgresql://h/x');
    assert.equal(scratchUrl('postgres://', 'x'), 'postgres:///x');
  });
  it('refuses what is not a URL, with the password masked', () => {
    assert.throws(() => scratchUrl('host=db password=s3cret', 'x'), (e: Error) => !e.message.includes('s3cret'));
  });
  it('names are fresh and are identifiers that need no quoting', () => {
    const a = scratchName();
    assert.match(a, /^pgpair_test_[0-9a-f]{12}$/);
    assert.notEqual(a, scratchName());
  });
});

describe('-- pgpair:test-allow', () => {
  it('is read from the top of the down file, as a list of categories', () => {
    assert.deepEqual([...allowedCategories(migration('SELECT 1;', '-- pgpair:test-allow enum-value\nSELECT 1;\n'))], ['enum-value']);
    assert.deepEqual([...allowedCategories(migration('SELECT 1;', '-- pgpair:test-allow enum-value, comment\n'))], ['enum-value', 'comment']);
    assert.deepEqual([...allowedCategories(migration('SELECT 1;', 'SELECT 1;\n'))], []);
    assert.deepEqual([...allowedCategories(migration('SELECT 1;', null))], []);
  });
  it('after the first statement, or without a value, it is a file problem (not silently ignored)', () => {
    assert.equal(analyzeFile({ path: 'd.sql', text: 'SELECT 1;\n-- pgpair:test-allow enum-value\n' }).problems.length, 1);
    assert.equal(analyzeFile({ path: 'd.sql', text: '-- pgpair:test-allow\nSELECT 1;\n' }).problems.length, 1);
  });
});

describe('extensionsCreatedBy', () => {
  it('finds CREATE EXTENSION in up files, quoted or not, with IF NOT EXISTS', () => {
    const found = extensionsCreatedBy([migration('CREATE EXTENSION IF NOT EXISTS citext;\ncreate extension "uuid-ossp" with schema public;\nCREATE TABLE t (a int);', null)]);
    assert.deepEqual([...found].sort(), ['citext', 'uuid-ossp']);
  });
});
