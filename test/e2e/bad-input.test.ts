/** Adversarial input: file names, contents, options and URLs. Never a stack trace or a hang; the documented exit code; the database untouched. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { PgpairError, up } from '../../lib/index.js';
import { runCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const noStack = (text: string) => assert.doesNotMatch(text, /\n\s+at [^\n]+:\d+:\d+\)?\n|TypeError|ReferenceError/);

async function untouched(): Promise<void> {
  const [row] = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'`);
  assert.equal(row!.n, 0, 'the database was touched');
}

describe('bad file names', () => {
  it('each is reported (exit 2) with its name, before the database is touched', async () => {
    const names = ['ü_x.up.sql', '0001_.up.sql', '0002_a b.up.sql', '-1_x.up.sql', 'UP.SQL', `${'a'.repeat(200)}.sql`, '0003_x.sql', '0004_x.up.SQL', '0005_tab\tname.up.sql', '0006_x.up.sql.sql'];
    const files: Record<string, string> = { 'sql/0000_ok.up.sql': 'CREATE TABLE ok (id int);' };
    for (const name of names) files[`sql/${name}`] = 'SELECT 1;';
    files['sql/0007_x.up.sql.bak'] = 'ignored: not .sql';
    const cwd = workdir(files);
    const r = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(r.code, 2, r.stderr);
    noStack(r.stderr);
    for (const name of names) assert.ok(r.stderr.includes(name), `${JSON.stringify(name)} is named`);
    assert.ok(!r.stderr.includes('0007_x.up.sql.bak'));
    await untouched();
  });
});

describe('bad file contents', () => {
  it('binary data, invalid UTF-8, NUL bytes, unterminated quotes and comments: exit 2 naming file and line, nothing run', async () => {
    const cwd = workdir({ 'sql/0001_fine.up.sql': 'CREATE TABLE fine (id int);\n' });
    const dir = join(cwd, 'sql');
    writeFileSync(join(dir, '0002_binary.up.sql'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
    writeFileSync(join(dir, '0003_nul.up.sql'), 'SELECT 1;\nSELECT 2;\u0000\n');
    writeFileSync(join(dir, '0004_quote.up.sql'), "SELECT 1;\nSELECT 'never closed;\nSELECT 2;\n");
    writeFileSync(join(dir, '0005_comment.up.sql'), 'SELECT 1;\n/* outer /* inner */ still open\n');
    writeFileSync(join(dir, '0006_dollar.up.sql'), 'DO $body$ BEGIN NULL; END $bod$;\n');
    const r = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(r.code, 2, r.stderr);
    noStack(r.stderr);
    assert.match(r.stderr, /0002_binary\.up\.sql: is not valid UTF-8/);
    assert.match(r.stderr, /0003_nul\.up\.sql:2: contains a NUL byte/);
    await untouched();
    // With the binary and NUL files gone, the lexer's problems are reported before anything runs.
    const again = workdir({
      'sql/0001_fine.up.sql': 'CREATE TABLE fine (id int);\n',
      'sql/0004_quote.up.sql': "SELECT 1;\nSELECT 'never closed;\nSELECT 2;\n",
      'sql/0005_comment.up.sql': 'SELECT 1;\n/* outer /* inner */ still open\n',
      'sql/0006_dollar.up.sql': 'DO $body$ BEGIN NULL; END $bod$;\n',
    });
    const lexed = await runCli(['up', '--url', db.url], { cwd: again });
    assert.equal(lexed.code, 2, lexed.stderr);
    noStack(lexed.stderr);
    assert.match(lexed.stderr, /0004_quote\.up\.sql:2:8: /);
    assert.match(lexed.stderr, /0005_comment\.up\.sql:2:1: /);
    assert.match(lexed.stderr, /0006_dollar\.up\.sql:1:4: /);
    const tables = await db.sql.unsafe(`SELECT to_regclass('fine') AS t`);
    assert.equal(tables[0]!.t, null, 'not even the good migration ran');
  });

  it('random contents through the library: success or a typed PgpairError, never anything else', async () => {
    const fragments = ["'", '"', '$$', '$a$', '/*', '*/', '--', '\n', ';', 'E\'\\\'', 'SELECT 1', 'CREATE TABLE', '\\', '\\.', 'COPY x FROM stdin;\n', 'BEGIN', 'COMMIT', 'é', '🎉', '\r\n', '\t', '(', ')'];
    const contents = fc.array(fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 8 })), { maxLength: 30 }).map((parts) => parts.join(''));
    let successes = 0;
    let errors = 0;
    await fc.assert(
      fc.asyncProperty(contents, async (text) => {
        const cwd = workdir({ 'sql/0001_random.up.sql': text, 'sql/0001_random.down.sql': '' });
        const schema = `fuzz_${Math.random().toString(36).slice(2, 10)}`;
        try {
          await up({ url: db.url, dir: join(cwd, 'sql'), table: `${schema}.history`, createSchema: true });
          successes++;
        } catch (error) {
          if (!(error instanceof PgpairError)) throw error;
          errors++;
        } finally {
          await db.sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        }
      }),
      { numRuns: 120, seed: 42 },
    );
    assert.ok(errors > 0 && successes > 0, `successes ${successes}, errors ${errors}`);
  });

  it('very long lines and 10,000 files work; status over them is quick enough to use', async () => {
    const cwd = workdir();
    const dir = join(cwd, 'sql');
    mkdirSync(dir, { recursive: true });
    for (let i = 1; i <= 10_000; i++) writeFileSync(join(dir, `${String(i).padStart(5, '0')}_m${i}.up.sql`), `SELECT ${i};\n`);
    writeFileSync(join(dir, '10001_long_line.up.sql'), `SELECT ${Array.from({ length: 100_000 }, (_, i) => i).join(' + ')} AS total;\n`);
    const r = await runCli(['status', '--json', '--url', db.url], { cwd, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.migrations.length, 10_001);
    assert.equal(doc.head, '10001');
  });

  it('a 100 MB migration file runs or fails cleanly, never crashing', async () => {
    const cwd = workdir();
    const dir = join(cwd, 'sql');
    mkdirSync(dir, { recursive: true });
    const row = `${'x'.repeat(98)}\n`;
    const rows = 1_000_000;
    writeFileSync(join(dir, '0001_huge.up.sql'), `CREATE TABLE huge (label text);\nCOPY huge FROM stdin;\n${row.repeat(rows)}\\.\n`);
    writeFileSync(join(dir, '0001_huge.down.sql'), 'DROP TABLE huge;\n');
    const r = await runCli(['up', '--url', db.url, '--table', 'huge_history'], { cwd, timeoutMs: 180_000 });
    noStack(r.stderr);
    assert.equal(r.code, 0, r.stderr);
    const [count] = await db.sql.unsafe(`SELECT count(*)::int AS n FROM huge`);
    assert.equal(count!.n, rows);
  });
});

describe('bad options and URLs', () => {
  it('each is a usage or configuration error (exit 2) with a message and no stack trace', async () => {
    const cwd = workdir({ 'sql/0001_a.up.sql': 'SELECT 1;' });
    const cases: [string[], RegExp][] = [
      [['up', '--lock-timeout', 'soon'], /Invalid --lock-timeout "soon"/],
      [['up', '--steps', '-1'], /--steps must be a whole number of at least 1/],
      [['up', '--steps', 'abc'], /--steps must be a whole number/],
      [['up', '--table', 'a.b.c'], /Invalid history table name "a\.b\.c"/],
      [['up', '--url', 'nonsense'], /Unsupported database URL nonsense/],
      [['up', '--url', 'postgres://u:p@[::1/db'], /Invalid database URL|Cannot talk|Unsupported/],
      [['up', '--log-level', 'loud'], /Invalid values|log-level/],
      [['status', '--dir', '/etc/passwd'], /\/etc\/passwd is not a directory/],
      [['down', '--steps', '0'], /--steps must be a whole number of at least 1/],
      [['stamp', 'tomorrow'], /Invalid target "tomorrow"/],
      [['repair'], /exactly one of --applied VERSION, --reverted VERSION or --accept VERSION/],
      [['repair', '--applied', 'x1'], /Invalid version "x1"/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli([...args, ...(args.includes('--url') ? [] : ['--url', db.url])], { cwd });
      assert.ok(r.code === 2 || (r.code === 1 && /Cannot talk/.test(r.stderr)), `${args.join(' ')} → ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
      noStack(r.stderr);
    }
    await untouched();
  });
});
