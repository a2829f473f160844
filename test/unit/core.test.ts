import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checksum, normaliseSql } from '../../lib/checksum.js';
import { resolveDatabaseUrl, parseDuration } from '../../lib/config.js';
import { maskUrl, urlPassword } from '../../lib/db/url.js';
import { DirectoryError, ConfigError } from '../../lib/errors.js';
import { parseMigrationDirectory, type DirectoryEntry } from '../../lib/files.js';
import { parseTableName } from '../../lib/ident.js';
import { PGPAIR_VERSION } from '../../lib/meta.js';
import { compareVersions, versionKey } from '../../lib/version.js';

describe('versions', () => {
  it('compare numerically without converting to a number', () => {
    assert.ok(compareVersions('2', '10') < 0);
    assert.ok(compareVersions('0010', '9') > 0);
    assert.equal(compareVersions('0003', '3'), 0);
    assert.ok(compareVersions('20150100000001000000', '20150100000001000001') < 0);
    assert.ok(compareVersions('99999999999999999999', '100000000000000000000') < 0);
    assert.equal(versionKey('0000'), '0');
    assert.equal(versionKey('000123'), '123');
  });
});

describe('checksums', () => {
  it('ignore BOM and line endings but nothing else', () => {
    const lf = 'create table a (id int);\nselect 1;\n';
    assert.equal(checksum(lf), checksum('\ufeffcreate table a (id int);\r\nselect 1;\r\n'));
    assert.equal(checksum(lf), checksum('create table a (id int);\rselect 1;\r'));
    assert.notEqual(checksum(lf), checksum('create table a (id int);\nselect 2;\n'));
    assert.notEqual(checksum(lf), checksum('create table a (id int);\nselect 1;'));
    assert.match(checksum(lf), /^sha256:[0-9a-f]{64}$/);
    assert.equal(normaliseSql('\ufeffa\r\nb'), 'a\nb');
  });
});

function entries(files: Record<string, string>): DirectoryEntry[] {
  return Object.entries(files).map(([name, text]) => ({ name, text }));
}

function problemsOf(files: Record<string, string>): string[] {
  try {
    parseMigrationDirectory('sql', entries(files));
  } catch (error) {
    assert.ok(error instanceof DirectoryError);
    return error.problems.map((p) => `${p.file}: ${p.message}`);
  }
  assert.fail('expected a DirectoryError');
}

describe('migration directory', () => {
  it('pairs files, sorts numerically, keeps slugs with dots and dashes', () => {
    const set = parseMigrationDirectory(
      'sql',
      entries({
        '10_ten.up.sql': 'select 10;',
        '9_nine.up.sql': 'select 9;',
        '9_nine.down.sql': '',
        '0007_add_index.postgres.up.sql': 'select 7;',
        '20150100000001000000_big-one.up.sql': '',
        'schema.sql': 'create table t();',
        'README.md': 'ignored',
        '.0001_hidden.up.sql': 'ignored',
      }),
    );
    assert.deepEqual(set.migrations.map((m) => `${m.version}:${m.slug}:${m.down ? 'rev' : 'irrev'}`), [
      '0007:add_index.postgres:irrev',
      '9:nine:rev',
      '10:ten:irrev',
      '20150100000001000000:big-one:irrev',
    ]);
    assert.equal(set.schema?.name, 'schema.sql');
    assert.equal(set.migrations[1]!.up.path, 'sql/9_nine.up.sql');
  });

  it('reports every problem at once, by file name', () => {
    const problems = problemsOf({
      '0001_a.up.sql': '',
      '0001_b.up.sql': '',
      '0003_c.up.sql': '',
      '3_c.down.sql': '',
      '0004_orphan.down.sql': '',
      '0005-typo.up.sql': '',
      '0006_x.UP.sql': '',
      '0007_y.up.sql': '',
      '0007_z.down.sql': '',
      '0008_nul.up.sql': 'select 1;\nselect\u0000;',
    });
    assert.equal(problems.length, 7, problems.join('\n'));
    const text = problems.join('\n');
    assert.match(text, /sql\/0001_a\.up\.sql: version 0001 has 2 up files \(sql\/0001_a\.up\.sql, sql\/0001_b\.up\.sql\)/);
    assert.match(text, /0003 and 3 are the same version spelled differently/);
    assert.match(text, /sql\/0004_orphan\.down\.sql: down file without its up file/);
    assert.match(text, /sql\/0005-typo\.up\.sql: file name does not match/);
    assert.match(text, /sql\/0006_x\.UP\.sql: file name does not match/);
    assert.match(text, /version 0007 has two names/);
    assert.match(text, /sql\/0008_nul\.up\.sql: .*NUL byte/);
  });

  it('treats 0003 and 3 as one version even in two up files', () => {
    const problems = problemsOf({ '0003_a.up.sql': '', '3_a.up.sql': '' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /2 up files/);
  });
});

describe('configuration', () => {
  it('prefers --url, then DATABASE_URL, then PG variables, then the embedded default', () => {
    assert.deepEqual(resolveDatabaseUrl({ url: 'postgres://a/b', env: { DATABASE_URL: 'postgres://c/d' } }), { url: 'postgres://a/b', source: 'option' });
    assert.equal(resolveDatabaseUrl({ env: { DATABASE_URL: 'postgres://c/d' } }).source, 'DATABASE_URL');
    assert.equal(resolveDatabaseUrl({ env: { PGHOST: 'x' } }).source, 'PG variables');
    assert.deepEqual(resolveDatabaseUrl({ env: {} }), { url: 'pglite:.pgpair/dev', source: 'embedded default' });
  });
  it('refuses the embedded default under CI or NODE_ENV=production', () => {
    assert.throws(() => resolveDatabaseUrl({ env: { CI: 'true' } }), (e: unknown) => e instanceof ConfigError && /DATABASE_URL/.test(e.message));
    assert.throws(() => resolveDatabaseUrl({ env: { NODE_ENV: 'production' } }), ConfigError);
  });
  it('parses durations', () => {
    assert.equal(parseDuration('30', 'x'), 30_000);
    assert.equal(parseDuration('500ms', 'x'), 500);
    assert.equal(parseDuration('2min', 'x'), 120_000);
    assert.throws(() => parseDuration('soon', '--lock-timeout'), /--lock-timeout/);
  });
  it('masks passwords in URLs', () => {
    assert.equal(maskUrl('postgres://u:s3cr%40t@h:5432/db'), 'postgres://u:***@h:5432/db');
    assert.equal(urlPassword('postgres://u:s3cr%40t@h:5432/db'), 's3cr@t');
    assert.equal(maskUrl('postgres://h/db?password=abc'), 'postgres://h/db?password=***');
    assert.ok(!maskUrl('postgres://u:p@ss@h/db').includes('p@ss'));
  });
  it('parses history table names', () => {
    assert.deepEqual(parseTableName('pgpair_history'), { schema: null, name: 'pgpair_history' });
    assert.deepEqual(parseTableName('myschema.my_history'), { schema: 'myschema', name: 'my_history' });
    assert.deepEqual(parseTableName('"My.Schema"."Hist"'), { schema: 'My.Schema', name: 'Hist' });
    assert.equal(parseTableName('a.b.c'), null);
    assert.equal(parseTableName(''), null);
    assert.equal(parseTableName('a.'), null);
  });
  it('keeps the recorded pgpair version equal to package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(PGPAIR_VERSION, pkg.version);
  });
});
