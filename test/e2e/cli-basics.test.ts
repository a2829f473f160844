/** The CLI surface: help, usage errors, create, configuration and secrets. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { exitCodeOf } from '../../lib/cli/exit-codes.js';
import { runCli, workdir, workdirFromFixture } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

describe('help and usage errors', () => {
  it('--help explains every command and exits 0 on stdout', async () => {
    const r = await runCli(['--help'], { cwd: workdir() });
    assert.equal(r.code, 0, r.stderr);
    for (const command of ['up', 'down', 'status', 'verify', 'stamp', 'create']) assert.match(r.stdout, new RegExp(`pgpair ${command}`));
    assert.match(r.stdout, /Exit codes: 0 success; 1 failure/);
    assert.equal(r.stderr, '');
  });

  it('<command> --help explains the command options', async () => {
    const r = await runCli(['up', '--help'], { cwd: workdir() });
    assert.equal(r.code, 0);
    for (const option of ['--steps', '--allow-out-of-order', '--statement-timeout', '--migration-lock-timeout', '--lock-timeout', '--url', '--dir', '--table', '--json']) {
      assert.ok(r.stdout.includes(option), `up --help lacks ${option}`);
    }
  });

  it('unknown commands, unknown options and missing arguments are usage errors (exit 2) on stderr', async () => {
    const cwd = workdir();
    for (const args of [['upp'], ['up', '--stepz', '2'], ['stamp'], [], ['up', '--steps', '0', '--url', 'postgres://127.0.0.1:1/x']]) {
      const r = await runCli(args, { cwd });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
      assert.ok(r.stderr.length > 0);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('an invalid target is a usage error', async () => {
    const r = await runCli(['up', 'latest', '--url', 'postgres://127.0.0.1:1/x'], { cwd: workdirFromFixture('basic') });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Invalid target "latest"/);
  });
});

describe('create', () => {
  it('writes 0001 in an empty directory, then the next version, and prints both paths', async () => {
    const cwd = workdir();
    const first = await runCli(['create', 'add_users'], { cwd });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'sql/0001_add_users.up.sql\nsql/0001_add_users.down.sql\n');
    const second = await runCli(['create', 'add-posts.v2'], { cwd });
    assert.equal(second.stdout, 'sql/0002_add-posts.v2.up.sql\nsql/0002_add-posts.v2.down.sql\n');
    assert.deepEqual(readdirSync(join(cwd, 'sql')).sort(), ['0001_add_users.down.sql', '0001_add_users.up.sql', '0002_add-posts.v2.down.sql', '0002_add-posts.v2.up.sql']);
  });

  it('keeps the zero-padded width of existing files and honours --dir', async () => {
    const cwd = workdir({ 'db/000009_a.up.sql': '', 'db/20240101120000_legacy.up.sql': '' });
    writeFileSync(join(cwd, 'db', '000009_a.up.sql'), '');
    const r = await runCli(['create', 'next_one', '--dir', 'db'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    // The newest file is a timestamp, so the directory's style is kept: the new version is the time now.
    const [, stamp] = /^db\/(\d{14})_next_one\.up\.sql$/.exec(r.stdout.split('\n')[0]!) ?? [];
    assert.ok(stamp && stamp > '20240101120000' && stamp.startsWith(String(new Date().getUTCFullYear())), r.stdout);
    const padded = workdir({ 'sql/000009_a.up.sql': '' });
    const p = await runCli(['create', 'b'], { cwd: padded });
    assert.equal(p.stdout.split('\n')[0], 'sql/000010_b.up.sql');
  });

  it('refuses a bad slug (exit 2) and writes nothing', async () => {
    const cwd = workdir();
    const r = await runCli(['create', '?!'], { cwd });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Invalid migration name "\?!": it has no letters or digits/);
    assert.equal(existsSync(join(cwd, 'sql')), false);
  });
});

describe('configuration and secrets', () => {
  let db: Scratch;
  beforeEach(async () => {
    db = await scratchDatabase();
  });
  afterEach(async () => db.drop());

  it('takes DATABASE_URL from .env, the environment over .env, and --url over both', async () => {
    const cwd = workdirFromFixture('basic');
    writeFileSync(join(cwd, '.env'), `DATABASE_URL=${db.url}\n`);
    const fromFile = await runCli(['status', '--json'], { cwd });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(JSON.parse(fromFile.stdout).head, '0003');
    writeFileSync(join(cwd, '.env'), `DATABASE_URL=postgres://127.0.0.1:1/nowhere\n`);
    const envWins = await runCli(['status', '--json'], { cwd, env: { DATABASE_URL: db.url } });
    assert.equal(envWins.code, 0, envWins.stderr);
    const urlWins = await runCli(['status', '--json', '--url', db.url], { cwd, env: { DATABASE_URL: 'postgres://127.0.0.1:1/nowhere' } });
    assert.equal(urlWins.code, 0, urlWins.stderr);
    writeFileSync(join(cwd, 'other.env'), `DATABASE_URL=${db.url}\nPGPAIR_TABLE=from_env_file\n`);
    const envFile = await runCli(['up', '--env-file', 'other.env'], { cwd });
    assert.equal(envFile.code, 0, envFile.stderr);
    const rows = await db.sql.unsafe(`SELECT count(*)::int AS n FROM from_env_file`);
    assert.equal(rows[0]!.n, 3);
    const missing = await runCli(['status', '--env-file', 'nope.env'], { cwd });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--env-file nope\.env does not exist/);
  });

  it('with CI or NODE_ENV=production and no URL, refuses with exit 2 and says how to set DATABASE_URL', async () => {
    for (const env of [{ CI: 'true' }, { NODE_ENV: 'production' }]) {
      const r = await runCli(['up'], { cwd: workdirFromFixture('basic'), env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /DATABASE_URL/);
      assert.equal(r.stdout, '');
    }
  });

  it('never prints the password: not in results, JSON, debug logs, or connection errors', async () => {
    // A role of our own with a password, so the check holds on trust and password-auth servers alike.
    const password = 'Sup3r-S3cret_pw';
    const role = `${db.name}_secret`;
    await db.sql.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
    await db.sql.unsafe(`ALTER DATABASE "${db.name}" OWNER TO "${role}"`);
    await db.sql.unsafe(`GRANT ALL ON SCHEMA public TO "${role}"`);
    const withPassword = new URL(db.url);
    withPassword.username = role;
    withPassword.password = password;
    const urlWithPassword = withPassword.toString();
    try {
    const cwd = workdirFromFixture('basic');
    const outputs: string[] = [];
    for (const args of [
      ['up', '--log-level', 'debug'],
      ['status', '--log-level', 'debug'],
      ['status', '--json', '--log-level', 'trace'],
      ['verify', '--json'],
      ['down', 'base', '--json', '--log-level', 'debug'],
    ]) {
      const r = await runCli([...args, '--url', urlWithPassword], { cwd });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      outputs.push(r.stdout, r.stderr);
    }
    const badHost = new URL(urlWithPassword);
    badHost.port = '1';
    const refused = await runCli(['up', '--url', badHost.toString(), '--json', '--log-level', 'debug'], { cwd });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`Cannot connect to ${role}@127\\.0\\.0\\.1:1/`));
    outputs.push(refused.stdout, refused.stderr);
    const viaEnv = await runCli(['status'], { cwd, env: { DATABASE_URL: urlWithPassword } });
    outputs.push(viaEnv.stdout, viaEnv.stderr);
    // An SQL error, a lock timeout, stamp and repair, at debug level and in JSON.
    const broken = workdir({ 'sql/0001_bad.up.sql': `CREATE TABLE leak_check (note text DEFAULT '${'x'}');\nSELECT nosuch;\n` });
    const sqlError = await runCli(['up', '--json', '--log-level', 'debug', '--url', urlWithPassword, '--table', 'other_hist'], { cwd: broken });
    assert.equal(sqlError.code, 1, sqlError.stderr);
    outputs.push(sqlError.stdout, sqlError.stderr);
    for (const args of [['stamp', 'head', '--json'], ['stamp', 'base', '--log-level', 'trace'], ['repair', '--accept', '0001'], ['verify', '--strict']]) {
      const r = await runCli([...args, '--url', urlWithPassword], { cwd });
      outputs.push(r.stdout, r.stderr);
    }
    const wrong = new URL(urlWithPassword);
    wrong.password = `${password}-wrong`;
    const denied = await runCli(['status', '--url', wrong.toString(), '--log-level', 'debug'], { cwd });
    outputs.push(denied.stdout, denied.stderr);
    const all = outputs.join('\n');
    assert.ok(all.includes(`${role}@127.0.0.1:`), 'the target is shown');
    assert.equal(all.includes(password), false, 'the password leaked');
    assert.equal(all.includes(encodeURIComponent(password)), false);
    } finally {
      await db.sql.unsafe(`ALTER DATABASE "${db.name}" OWNER TO CURRENT_USER`).catch(() => {});
      await db.sql.unsafe(`DROP OWNED BY "${role}"`).catch(() => {});
      await db.sql.unsafe(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
    }
  });

  it('a server that accepts but never answers fails with exit 1 after the connect timeout', async () => {
    // A local listener that never speaks the protocol stands in for an unreachable host.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const r = await runCli(['status', '--url', `postgres://u:pw@127.0.0.1:${port}/x`, '--connect-timeout', '1'], { cwd: workdirFromFixture('basic'), timeoutMs: 20_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`Cannot connect to u@127\\.0\\.0\\.1:${port}/x: the server accepted the connection but sent nothing within the connect timeout of 1 s`));
    } finally {
      silent.close();
    }
  });

  it('an unsupported URL scheme is a configuration error', async () => {
    const r = await runCli(['status', '--url', 'mysql://u:pw@h/db'], { cwd: workdirFromFixture('basic') });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unsupported database URL mysql:\/\/u:\*\*\*@h\/db/);
  });
});

describe('the library', () => {
  it('is what the CLI is built on: typed functions returning data', async () => {
    const db = await scratchDatabase();
    try {
      const lib = await import('../../lib/index.js');
      const dir = join(workdirFromFixture('basic'), 'sql');
      const result = await lib.up({ url: db.url, dir, target: '0002' });
      assert.deepEqual(result.steps.map((s) => s.version), ['0001', '0002']);
      assert.equal(result.to, '0002');
      const report = await lib.status({ url: db.url, dir });
      assert.deepEqual(report.migrations.map((m) => m.state), ['applied', 'applied', 'pending']);
      await assert.rejects(lib.up({ url: db.url, dir, target: '0001' }), (e: unknown) => e instanceof lib.TargetError && exitCodeOf(e) === 2);
      writeFileSync(join(dir, '0001_create_users.up.sql'), readFileSync(join(dir, '0001_create_users.up.sql'), 'utf8') + '\n-- edited\n');
      await assert.rejects(lib.up({ url: db.url, dir }), (e: unknown) => e instanceof lib.VerificationError && e.problems[0]!.kind === 'changed');
    } finally {
      await db.drop();
    }
  });
});
