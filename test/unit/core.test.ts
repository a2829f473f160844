import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checksum, normaliseSql } from '../../lib/core/checksum.js';
import { resolveDatabaseUrl, parseDuration } from '../../lib/run/config.js';
import { maskUrl, urlPassword } from '../../lib/db/url.js';
import { DirectoryError, ConfigError, IrreversibleError, VerificationError } from '../../lib/core/errors.js';
import { downName, parseMigrationDirectory, type DirectoryEntry, type Migration } from '../../lib/core/files.js';
import { planDown, planUp } from '../../lib/core/plan.js';
import { computeStatus, downFileWarnings, verifyProblems } from '../../lib/core/status.js';
import { parseTableName } from '../../lib/core/ident.js';
import { PGPAIR_VERSION } from '../../lib/core/meta.js';
import { compareVersions, versionKey } from '../../lib/core/version.js';
import { historyRowOf } from '../helpers/history-row.js';

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
    assert.deepEqual(set.migrations.map((m) => `${m.version}:${m.name}:${m.down ? 'rev' : 'irrev'}`), [
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
      '0009_bad_quote.down.sql': "SELECT 'never closed;\n",
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
      '0009_bad_quote.up.sql': 'select 1;',
    });
    assert.equal(problems.length, 7, problems.join('\n'));
    const text = problems.join('\n');
    assert.match(text, /sql\/0001_a\.up\.sql: version 0001 has 2 up files \(sql\/0001_a\.up\.sql, sql\/0001_b\.up\.sql\)/);
    assert.match(text, /0003 and 3 are the same version spelled differently/);
    assert.match(text, /sql\/0004_orphan\.down\.sql: down file without its up file/);
    assert.match(text, /sql\/0005-typo\.up\.sql: file name does not match/);
    assert.match(text, /sql\/0006_x\.UP\.sql: file name does not match/);
    assert.doesNotMatch(text, /0007/, 'an up and a down file with different slugs are one migration');
    assert.match(text, /sql\/0009_bad_quote\.down\.sql: /, 'what is inside a down file is checked with the rest');
    assert.match(text, /sql\/0008_nul\.up\.sql: .*NUL byte/);
  });

  it('pairs an up and a down file of one version whatever their slugs: the name is the up file\'s slug', () => {
    const set = parseMigrationDirectory('sql', entries({ '31_add_pub_magic_metadata.up.sql': 'select 1;', '31_drop_pub_magic_metadata.down.sql': 'select 2;', '32_same.up.sql': '', '32_same.down.sql': '', '33_alone.up.sql': '' }));
    assert.deepEqual(
      set.migrations.map((m) => [m.version, m.name, m.down?.name ?? null, downName(m)]),
      [
        ['31', 'add_pub_magic_metadata', '31_drop_pub_magic_metadata.down.sql', 'drop_pub_magic_metadata'],
        ['32', 'same', '32_same.down.sql', 'same'],
        ['33', 'alone', null, null],
      ],
    );
    // Still refused: a down file without an up file, two down files, and one version spelled two ways.
    const problems = problemsOf({ '0040_x.down.sql': '', '0041_a.up.sql': '', '0041_b.down.sql': '', '0041_c.down.sql': '', '0042_a.up.sql': '', '42_b.down.sql': '' });
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.match(problems.join('\n'), /0040_x\.down\.sql: down file without its up file/);
    assert.match(problems.join('\n'), /version 0041 has 2 down files/);
    assert.match(problems.join('\n'), /0042 and 42 are the same version spelled differently/);
  });

  it('checks what is inside every up and down file, as up does, and reports it with the name problems', () => {
    const files = {
      '0001_ok.up.sql': 'select 1;',
      '0001_ok.down.sql': '\\i other.sql\n',
      '0002_quote.up.sql': "select 'x;\n",
      '0003_directive.up.sql': '-- pgpair:no-transactoin\nselect 1;\n',
      '0003_dup.up.sql': 'select 1;',
    };
    const problems = problemsOf(files);
    assert.equal(problems.length, 3, problems.join('\n'));
    const text = problems.join('\n');
    assert.match(text, /sql\/0001_ok\.down\.sql: .*meta-command/i);
    assert.match(text, /sql\/0002_quote\.up\.sql: /);
    assert.match(text, /version 0003 has 2 up files/);
    assert.doesNotMatch(text, /no-transactoin/, 'the files of a broken version are not lexed');
    // create reads names only.
    assert.throws(() => parseMigrationDirectory('sql', entries({ '0002_quote.up.sql': "select 'x;\n" })), DirectoryError);
    assert.equal(parseMigrationDirectory('sql', entries({ '0002_quote.up.sql': "select 'x;\n" }), { checkContents: false }).migrations.length, 1);
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

function migrationSet(files: Record<string, string>): Migration[] {
  return parseMigrationDirectory('sql', entries(files)).migrations;
}

/** The history row that applying `m` records (as the executor writes it), with `changes`. */
const rowOf = historyRowOf;

describe('status: a version recorded under another name', () => {
  const files = migrationSet({
    '0005_base.up.sql': 'create table base ();',
    '0005_base.down.sql': 'drop table base;',
    '0006_add_avatar.up.sql': 'alter table base add avatar text;',
    '0006_add_avatar.down.sql': 'alter table base drop avatar;',
    '0007_later.up.sql': 'select 7;',
    '0007_later.down.sql': 'select 7;',
  });
  const [base, avatar, later] = files as [Migration, Migration, Migration];
  const bioUp = checksum('alter table base add bio text;');
  const bioDown = checksum('alter table base drop bio;');

  it('is renamed, never changed, whether or not the checksum differs', () => {
    for (const upChecksum of [bioUp, avatar.up.checksum]) {
      const report = computeStatus(files, [rowOf(base), rowOf(avatar, { name: 'add_bio', upChecksum, downChecksum: bioDown })]);
      const entry = report.migrations[1]!;
      assert.equal(entry.state, 'renamed');
      assert.equal(entry.name, 'add_avatar');
      assert.equal(entry.recordedName, 'add_bio');
      assert.equal(entry.downState, null, 'the down file of another migration is not compared');
      const problems = verifyProblems(report);
      assert.deepEqual(problems.map((p) => [p.kind, p.version, p.name, p.recordedName]), [['renamed', '0006', 'add_avatar', 'add_bio']]);
      assert.match(problems[0]!.message, /^sql\/0006_add_avatar\.up\.sql: 0006 is recorded as add_bio, but the file is 0006_add_avatar: two branches probably used the same version/);
      assert.match(problems[0]!.message, /Renumber 0006_add_avatar above 0007 \(pgpair create add_avatar/);
      if (upChecksum === bioUp) assert.match(problems[0]!.message, /so pgpair repair --accept refuses it\.$/);
      else assert.match(problems[0]!.message, /on purpose \(the SQL is the SQL that ran\), pgpair repair --accept 0006 records the new name\.$/);
      assert.throws(() => planUp(report), (e: unknown) => e instanceof VerificationError && e.problems[0]!.kind === 'renamed');
    }
  });

  it('down refuses to cross it before anything runs; a down above it is fine', () => {
    const history = [rowOf(base), rowOf(avatar, { name: 'add_bio', upChecksum: bioUp, downChecksum: bioDown }), rowOf(later)];
    const report = computeStatus(files, history);
    assert.throws(
      () => planDown(report, { target: 'base' }),
      (e: unknown) => e instanceof VerificationError && /refuses to run the down file of another migration than the one recorded: 0006 ran as add_bio, its file is 0006_add_avatar\. Nothing was reverted/.test(e.message),
    );
    assert.throws(() => planDown(report, { steps: 2 }), VerificationError);
    const one = planDown(report);
    assert.deepEqual(one.steps.map((s) => s.action === 'down' && s.migration.version), ['0007']);
  });

  it('a failed row under another name names the recorded migration, and the rename', () => {
    const report = computeStatus(files, [rowOf(base), rowOf(avatar, { name: 'add_bio', state: 'failed', error: 'boom' })]);
    assert.equal(report.migrations[1]!.state, 'failed');
    const problems = verifyProblems(report);
    assert.deepEqual(problems.map((p) => p.kind), ['failed', 'renamed']);
    assert.match(problems[0]!.message, /^0006_add_bio: failed \(boom\)/);
  });
});

describe('status: down files of applied versions', () => {
  const files = migrationSet({
    '0001_a.up.sql': 'create table a ();',
    '0001_a.down.sql': 'drop table a;',
    '0002_b.up.sql': 'create table b ();',
    '0002_b.down.sql': 'drop table b; -- edited',
    '0003_c.up.sql': 'create table c ();',
    '0004_d.up.sql': 'create table d ();',
    '0004_d.down.sql': 'drop table d;',
    '0005_e.up.sql': 'create table e ();',
    '0005_e.down.sql': 'drop table e;',
  });
  const [a, b, c, d, e] = files as [Migration, Migration, Migration, Migration, Migration];
  const history = [
    rowOf(a),
    rowOf(b, { downChecksum: checksum('drop table b;') }),
    rowOf(c, { downChecksum: checksum('drop table c;') }),
    rowOf(d, { downChecksum: null }),
    rowOf(e),
  ];

  it('are unchanged, changed, deleted or unrecorded (an older pgpair\'s row: unknown, not changed)', () => {
    const report = computeStatus(files, history);
    assert.deepEqual(report.migrations.map((m) => [m.version, m.state, m.downState, m.downChanged]), [
      ['0001', 'applied', 'unchanged', false],
      ['0002', 'applied', 'changed', true],
      ['0003', 'applied', 'deleted', true],
      ['0004', 'applied', 'unrecorded', false],
      ['0005', 'applied', 'unchanged', false],
    ]);
    assert.deepEqual(verifyProblems(report), [], 'warnings, not problems');
    const warnings = downFileWarnings(report);
    assert.deepEqual(warnings.map((w) => [w.kind, w.version, w.recordedChecksum, w.actualChecksum ?? null]), [
      ['down-changed', '0002', checksum('drop table b;'), b.down!.checksum],
      ['down-deleted', '0003', checksum('drop table c;'), null],
    ]);
    assert.match(warnings[0]!.message, /^sql\/0002_b\.down\.sql: changed since 0002_b was applied \(recorded sha256:[0-9a-f]{12}, file now sha256:[0-9a-f]{12}\)/);
    assert.match(warnings[1]!.message, /^0003_c: its down file \(sql\/0003_c\.down\.sql, recorded sha256:[0-9a-f]{12}\) is gone/);
    assert.deepEqual(verifyProblems(report, { strict: true }).map((p) => p.kind), ['down-changed', 'down-deleted']);
  });

  it('a down across a changed one is planned with both checksums; across a deleted one it refuses, saying the file is gone', () => {
    const report = computeStatus(files, history);
    const plan = planDown(report, { target: { version: '0003' } });
    assert.deepEqual(plan.steps.map((s) => (s.action === 'down' ? [s.migration.version, s.downFileChanged ?? null] : null)), [
      ['0005', null],
      ['0004', null],
    ]);
    assert.throws(
      () => planDown(report, { target: { version: '0001' } }),
      (err: unknown) => err instanceof IrreversibleError && /^Cannot revert 0003_c: its down file \(sql\/0003_c\.down\.sql\) is gone, though it had one when it was applied/.test(err.message),
    );
    const withoutC = computeStatus(files.filter((m) => m.version !== '0003'), history.filter((r) => r.version !== '0003'));
    const across = planDown(withoutC, { target: { version: '0001' } });
    const step = across.steps.find((s) => s.action === 'down' && s.migration.version === '0002');
    assert.ok(step && step.action === 'down');
    assert.deepEqual(step.downFileChanged, { file: 'sql/0002_b.down.sql', recorded: checksum('drop table b;'), actual: b.down!.checksum });
  });

  it('a down file with another slug is shown by its name', () => {
    const set = migrationSet({ '31_add_pub_magic_metadata.up.sql': 'select 1;', '31_drop_pub_magic_metadata.down.sql': 'select 2;' });
    const report = computeStatus(set, []);
    assert.deepEqual([report.migrations[0]!.name, report.migrations[0]!.downName], ['add_pub_magic_metadata', 'drop_pub_magic_metadata']);
  });
});
