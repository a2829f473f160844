/**
 * Passwords never printed, masking that never over-masks, control characters escaped (issue 11,
 * items 13-15): every command and every output stream, with the password given every way.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir, type CliResult } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

const MIGRATIONS = {
  'sql/0001_create_things.up.sql': `CREATE TABLE things (id int, flag boolean DEFAULT true, note text DEFAULT 'applied postgres sql a 1 " \\ %40 true');\n`,
  'sql/0001_create_things.down.sql': 'DROP TABLE things;\n',
  'sql/0002_add_true_flag.up.sql': '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY things_flag ON things (flag);\n',
  'sql/0002_add_true_flag.down.sql': 'DROP INDEX CONCURRENTLY things_flag;\n',
  'sql/0003_postgres_sql.up.sql': "COMMENT ON TABLE things IS 'postgres';\n",
  'sql/0003_postgres_sql.down.sql': 'COMMENT ON TABLE things IS NULL;\n',
};

/** A login role of the test's own, owning the scratch database, so the checks hold on trust and password-auth servers alike. */
async function roleWithPassword(db: Scratch, password: string): Promise<{ role: string; url: (password: string) => string; setPassword: (p: string) => Promise<void>; drop: () => Promise<void> }> {
  const role = `${db.name}_pw`;
  const literal = (p: string) => `'${p.replace(/'/g, "''")}'`;
  await db.sql.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD ${literal(password)}`);
  await db.sql.unsafe(`ALTER DATABASE "${db.name}" OWNER TO "${role}"`);
  await db.sql.unsafe(`GRANT ALL ON SCHEMA public TO "${role}"`);
  return {
    role,
    url: (p: string) => {
      const url = new URL(db.url);
      url.username = role;
      url.password = encodeURIComponent(p);
      return url.toString();
    },
    setPassword: async (p: string) => {
      await db.sql.unsafe(`ALTER ROLE "${role}" PASSWORD ${literal(p)}`);
    },
    drop: async () => {
      await db.sql.unsafe(`ALTER DATABASE "${db.name}" OWNER TO CURRENT_USER`).catch(() => {});
      await db.sql.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`).catch(() => {});
      await db.sql.unsafe(`DROP OWNED BY "${role}"`).catch(() => {});
      await db.sql.unsafe(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
    },
  };
}

function assertNoPassword(results: Array<{ args: string[]; r: CliResult }>, password: string): void {
  const forms = [password, encodeURIComponent(password), password.slice(0, 9)];
  for (const { args, r } of results) {
    for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
      for (const form of forms) assert.ok(!text.includes(form), `pgpair ${args.join(' ')}: the password is on ${stream}:\n${text}`);
      assert.ok(!/unexpected failure|\n\s+at .*\(.*:\d+:\d+\)/.test(text), `pgpair ${args.join(' ')}: a crash on ${stream}:\n${text}`);
    }
  }
}

describe('the password never reaches any output', () => {
  const password = 'Zx8-sweep_Secret42';
  let db: Scratch;
  let role: Awaited<ReturnType<typeof roleWithPassword>>;
  before(async () => {
    db = await scratchDatabase('pgpair_secrets');
    role = await roleWithPassword(db, password);
  });
  after(async () => {
    await role.drop();
    await db.drop();
  });

  it('whatever the command, option, mistake or failure, and however the password is given', async () => {
    const url = role.url(password);
    const server = new URL(db.url);
    const keyValue = `host=${server.hostname} port=${server.port || 5432} dbname=${db.name} user=${role.role} password='${password}'`;
    const foreign = `postgres://someone:${password}@elsewhere/db`;
    const cwd = workdir({
      ...MIGRATIONS,
      'bad/0001_role.up.sql': `-- a role for the app\nCREATE ROLE app_${db.name} LOGIN PASSWORD '${password}' NOSUCH;\n`,
      'notice/0001_notice.up.sql': `DO $$ BEGIN RAISE NOTICE 'connect with postgres://app:${password}@db/app'; END $$;\nSELECT nosuch_column_${db.name};\n`,
      'lost/0001_lost.up.sql': 'SELECT pg_terminate_backend(pg_backend_pid());\n',
      'schema.sql': 'CREATE TABLE loaded (id int);\n',
    });
    const results: Array<{ args: string[]; r: CliResult }> = [];
    const run = async (args: string[], env: Record<string, string> = {}, expected?: number) => {
      const r = await runCli(args, { cwd, env });
      results.push({ args, r });
      if (expected !== undefined) assert.equal(r.code, expected, `pgpair ${args.join(' ')}:\n${r.stderr}`);
      return r;
    };
    const withUrl = (args: string[]) => [...args, '--url', url];

    // Every command, connected, at debug level and in JSON.
    await run(withUrl(['up', '--log-level', 'debug']), {}, 0);
    await run(withUrl(['status', '--log-level', 'debug']), {}, 0);
    await run(withUrl(['status', '--json', '--log-level', 'trace']), {}, 0);
    await run(withUrl(['verify']), {}, 0);
    await run(withUrl(['verify', '--json', '--strict']), {}, 0);
    await run(withUrl(['stamp', 'head', '--json', '--log-level', 'debug']), {}, 0);
    await run(withUrl(['down', '0001', '--json', '--log-level', 'debug']), {}, 0);
    await run(withUrl(['up', '--sql']), {}, 0);
    await run(withUrl(['down', '--sql', '--json']), {}, 0);
    await run(withUrl(['stamp', 'base', '--sql']), {}, 0);
    await run(withUrl(['up', '--sql', '--from', 'base']), {}, 0);
    await run(withUrl(['up', '--json']), {}, 0);
    await run(['create', 'next_one', '--json'], { DATABASE_URL: url }, 0);
    // create takes no --url (it talks to no database): refused, and the password not echoed.
    await run(withUrl(['create', 'next_two', '--json']), {}, 2);
    await run(withUrl(['load', '--json']), {}, 2);
    await run(withUrl(['repair', '--accept', '0001']));
    await run(withUrl(['repair', '--applied', foreign]), {}, 2);
    await run(withUrl(['repair', '--reverted', `password=${password}`]), {}, 2);
    // Values echoed back: targets, options, unknown arguments, yargs' own messages.
    await run(withUrl(['up', foreign]), {}, 2);
    await run(withUrl(['down', foreign, '--json']), {}, 2);
    await run(withUrl(['stamp', `password=${password}`]), {}, 2);
    await run(withUrl(['up', '--sql', '--from', foreign]), {}, 2);
    await run(withUrl(['status', '--from', foreign]), {}, 2);
    await run(withUrl(['status', '--log-level', foreign]), {}, 2);
    await run(withUrl(['up', '--steps', foreign]), {}, 2);
    await run(withUrl(['up', '--lock-timeout', foreign]), {}, 2);
    await run(withUrl(['up', '--statement-timeout', `password=${password}`]), {}, 2);
    await run(withUrl(['status', '--table', foreign]));
    await run(withUrl(['status', `--bogus=${foreign}`]), {}, 2);
    await run(withUrl(['status', foreign]), {}, 2);
    await run(['nosuchcommand', foreign], {}, 2);
    // --url twice: a fleet for status (the unreachable target fails, exit 1), a usage error for current.
    await run(withUrl(['status', '--url', foreign]), {}, 1);
    await run(withUrl(['current', '--url', foreign]), {}, 2);
    // Mistyped URLs and connection strings.
    for (const bad of [
      url.replace('postgres://', 'postgresql:/'),
      url.replace('postgres://', 'postgres//'),
      url.replace('postgres://', ''),
      url.replace('@', `@x@`),
      url.replace('@', '#x@'),
      `${keyValue} bogus=1`,
      `${keyValue} sslcert=/x`,
      keyValue.replace(/'$/, ''),
      `${keyValue} ${password}`,
    ]) {
      await run(['status', '--url', bad, '--json'], {}, 2);
      await run(['up', '--url', bad]);
    }
    await run(['status', '--url', ...keyValue.split(' ')], {}, 2);
    // Connection failures: refused, and a session lost in the middle of a run.
    const refused = new URL(url);
    refused.port = '1';
    await run(['up', '--url', refused.toString(), '--json', '--log-level', 'debug'], {}, 1);
    await run(['up', '--url', url, '--dir', 'lost', '--table', 'lost_history', '--log-level', 'debug'], {}, 1);
    // A failing migration that holds a role password, and a NOTICE that quotes a URL.
    const failed = await run(['up', '--url', url, '--dir', 'bad', '--table', 'bad_history', '--log-level', 'debug'], {}, 1);
    assert.match(failed.stderr, /PASSWORD '\*\*\*' NOSUCH;/);
    await run(['up', '--url', url, '--dir', 'bad', '--table', 'bad_history2', '--json']);
    await run(['up', '--url', url, '--dir', 'bad', '--sql', '--from', 'base'], {}, 2);
    const notice = await run(['up', '--url', url, '--dir', 'notice', '--table', 'notice_history', '--log-level', 'debug'], {}, 1);
    assert.match(notice.stderr, /connect with postgres:\/\/app:\*\*\*@db\/app/);
    // The password from the environment, a .env file, a libpq string and PGPASSWORD.
    await run(['status'], { DATABASE_URL: url }, 0);
    await run(['up', foreign], { DATABASE_URL: url }, 2);
    await run(['status', '--url', keyValue, '--json'], {}, 0);
    await run(['up', 'nope', '--url', keyValue]);
    const noPassword = new URL(url);
    noPassword.password = '';
    await run(['status', '--url', noPassword.toString(), '--log-level', 'debug'], { PGPASSWORD: password }, 0);
    await run(['up', `PGPASSWORD=${password}`, '--url', noPassword.toString()], { PGPASSWORD: password }, 2);
    await run(['up', '--sql', '--from', 'base', '--dir', 'bad'], { PGPASSWORD: password }, 2);
    writeFileSync(join(cwd, '.env'), `DATABASE_URL="${url}"\n`);
    await run(['status', '--json'], {}, 0);
    await run(['up', '--sql', '--from', foreign], {}, 2);
    writeFileSync(join(cwd, '.env'), `DATABASE_URL=${url.replace(`:${password}@`, `:${password.slice(0, 4)}#${password.slice(4)}@`)}\n`);
    const cut = await run(['status'], {}, 2);
    assert.match(cut.stderr, /^error: \.env:1: the value of DATABASE_URL holds a #, .*quote the value: DATABASE_URL="\.\.\."\.\n$/);

    assertNoPassword(results, password);
    assert.ok(results.some(({ r }) => r.stdout.includes(':***@') || r.stderr.includes(':***@')), 'the masked URL is shown');
  });
});

describe('masking never changes any other text', () => {
  const passwords = ['true', 'applied', 'postgres', '1', 'a', 'sql', '"', '\\', '%40', 'Lx4_' + 'k9QpR2vWm7ZtY3sB8nC'];
  let db: Scratch;
  let role: Awaited<ReturnType<typeof roleWithPassword>>;
  const cwd = workdir(MIGRATIONS);
  before(async () => {
    db = await scratchDatabase('pgpair_secrets');
    role = await roleWithPassword(db, 'harmless-Baseline-1');
  });
  after(async () => {
    await role.drop();
    await db.drop();
  });

  const commands = [['status', '--json'], ['verify', '--json'], ['up', '--json'], ['status']];

  async function outputs(url: string): Promise<string[]> {
    const texts: string[] = [];
    for (const args of commands) {
      const r = await runCli([...args, '--url', url], { cwd });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      texts.push(r.stdout);
    }
    return texts;
  }

  it('status, verify, up and stamp print the same JSON and text with any password as with a harmless one', async () => {
    const applied = await runCli(['up', '--url', role.url('harmless-Baseline-1')], { cwd });
    assert.equal(applied.code, 0, applied.stderr);
    const baseline = await outputs(role.url('harmless-Baseline-1'));
    const status = JSON.parse(baseline[0]!);
    assert.deepEqual(status.migrations.map((m: { state: string; transactional: boolean }) => [m.state, m.transactional]), [['applied', true], ['applied', false], ['applied', true]]);
    for (const password of passwords) {
      await role.setPassword(password);
      const texts = await outputs(role.url(password));
      commands.forEach((args, index) => {
        if (args.includes('--json')) assert.deepEqual(JSON.parse(texts[index]!), JSON.parse(baseline[index]!), `${args.join(' ')} with password ${password}`);
        assert.equal(texts[index], baseline[index], `${args.join(' ')} with password ${JSON.stringify(password)}`);
      });
    }
  });

  it('--sql prints a script whose text merely holds the password as a word; refuses one that holds it as a credential', async () => {
    for (const password of passwords) {
      const url = `postgres://u:${encodeURIComponent(password)}@127.0.0.1:1/nowhere`;
      const r = await runCli(['up', '--sql', '--from', 'base', '--url', url], { cwd });
      assert.equal(r.code, 0, `password ${JSON.stringify(password)}: ${r.stderr}`);
      assert.match(r.stdout, /DEFAULT 'applied postgres sql a 1 " \\ %40 true'/);
    }
    const withRole = workdir({ 'sql/0001_role.up.sql': "CREATE ROLE app LOGIN PASSWORD 'applied';\n" });
    const refused = await runCli(['up', '--sql', '--from', 'base', '--url', 'postgres://u:applied@127.0.0.1:1/nowhere'], { cwd: withRole });
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /The script would show the database password \(a migration file holds it\), so it is not printed/);
    const other = await runCli(['up', '--sql', '--from', 'base', '--url', 'postgres://u:postgres@127.0.0.1:1/nowhere'], { cwd: withRole });
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /CREATE ROLE app LOGIN PASSWORD 'applied';/);
  });
});

describe('connection strings', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('pgpair_secrets');
  });
  after(async () => db.drop());

  it('a libpq key=value string connects like the URL it means, and shows masked', async () => {
    const server = new URL(db.url);
    const user = decodeURIComponent(server.username) || 'root';
    const password = decodeURIComponent(server.password);
    const keyValue = `host = ${server.hostname} port=${server.port || 5432} dbname=${db.name} user='${user}'${password ? ` password='${password.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : ''} application_name=pgpair`;
    const cwd = workdir(MIGRATIONS);
    const up = await runCli(['up', '--url', keyValue], { cwd });
    assert.equal(up.code, 0, up.stderr);
    const status = await runCli(['status', '--json'], { cwd, env: { DATABASE_URL: keyValue } });
    assert.equal(status.code, 0, status.stderr);
    const json = JSON.parse(status.stdout);
    assert.equal(json.current, '0003');
    // The database is named as user@host:port/db (lib/db/target.ts), never with the password.
    assert.equal(json.database, `${user}@${server.hostname}:${server.port || 5432}/${db.name}`);
    const rows = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pgpair_history`);
    assert.equal(rows[0]!.n, 3);
    const unknown = await runCli(['status', '--url', `${keyValue} dbnmae=x`], { cwd });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^error: Invalid connection string: unknown key "dbnmae"; known keys include host/);
    const split = await runCli(['status', '--url', ...keyValue.split(' ')], { cwd });
    assert.equal(split.code, 2);
    assert.match(split.stderr, /A key=value connection string is one argument: quote it/);
  });

  it('a mistyped URL fails with exit 2 before connecting, shown masked, with the fix', async () => {
    const cwd = workdir(MIGRATIONS);
    const cases: Array<[string, RegExp]> = [
      ['postgresql:/root:Sekr1tPw@127.0.0.1/db', /^error: Invalid database URL postgresql:\/root:\*\*\*@127\.0\.0\.1\/db: a postgresql URL starts with postgresql:\/\/ \(two slashes after the colon\)\./],
      ['postgres//root:Sekr1tPw@127.0.0.1/db', /^error: Invalid database URL postgres\/\/root:\*\*\*@127\.0\.0\.1\/db: the colon after postgres is missing; write postgres:\/\/\./],
      ['postgres://root:Sekr@1tPw@127.0.0.1/db', /^error: Invalid database URL postgres:\/\/root:\*\*\*@127\.0\.0\.1\/db: it holds more than one @ before the host, so the host is ambiguous; percent-encode .*@ as %40/],
    ];
    for (const [url, message] of cases) {
      const r = await runCli(['status', '--url', url], { cwd });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
      assert.ok(!r.stderr.includes('Sekr'));
    }
  });

  it('a .env value cut at # by dotenv is an error that names the line and says to quote it; quoted and encoded, it works', async () => {
    const cwd = workdir(MIGRATIONS);
    writeFileSync(join(cwd, '.env'), `# the database\nDATABASE_URL=postgres://u:Qx7#rest@127.0.0.1/db\n`);
    const r = await runCli(['status'], { cwd });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: \.env:2: the value of DATABASE_URL holds a #, and an unquoted # starts a comment in a \.env file, so the value was cut there\. In a URL write # as %23/);
    assert.ok(!r.stderr.includes('Qx7'));
    // The environment wins over the file: the cut value is not in effect, and no error.
    const overridden = await runCli(['status', '--json'], { cwd, env: { DATABASE_URL: db.url } });
    assert.equal(overridden.code, 0, overridden.stderr);
    writeFileSync(join(cwd, '.env'), `DATABASE_URL="${db.url}" # the database\nPGPASSWORD="a#b"\n`);
    const quoted = await runCli(['status', '--json'], { cwd });
    assert.equal(quoted.code, 0, quoted.stderr);
  });
});

describe('control characters in names reach the terminal escaped', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('pgpair_secrets');
  });
  after(async () => db.drop());

  it('slugs from files and names from the history, in results, the status table and errors; --json keeps them', async () => {
    const cwd = workdir({
      'sql/0001_red\u001b[31mtext.up.sql': 'SELECT 1;\n',
      'sql/0002_rtl\u202eevil.up.sql': 'SELECT 2;\n',
      'sql/0003_bell\u0007\u009bx.up.sql': 'SELECT nosuch;\n',
    });
    const up = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(up.code, 1);
    assert.match(up.stdout, /^applied 0001_red\\x1b\[31mtext \(\d+ ms\)\napplied 0002_rtl\\u202eevil \(\d+ ms\)\n$/);
    assert.match(up.stderr, /sql\/0003_bell\\x07\\x9bx\.up\.sql:1:8: ERROR \[42703\]/);
    // A name as recorded in the database, shown where its file is gone.
    await db.sql.unsafe(`UPDATE pgpair_history SET name = E'rtl\\u202eevil\\r\\u001b]0;title\\u0007\\nok: all good' WHERE version_label = '0002'`);
    rmSync(join(cwd, 'sql', '0002_rtl\u202eevil.up.sql'));
    const status = await runCli(['status', '--url', db.url], { cwd });
    assert.equal(status.code, 0, status.stderr);
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/.test(status.stdout), status.stdout);
    assert.match(status.stdout, /0001 +red\\x1b\[31mtext +applied/);
    assert.match(status.stdout, /0002 +rtl\\u202eevil\\r\\x1b\]0;title\\x07\\nok: all good +missing/);
    assert.ok(!/^ok: all good/m.test(status.stdout), 'a newline in a recorded name starts no line of its own');
    const json = await runCli(['status', '--json', '--url', db.url], { cwd });
    const names = JSON.parse(json.stdout).migrations.map((m: { name: string }) => m.name);
    assert.ok(names.includes('red\u001b[31mtext'), names.join(','));
    assert.ok(!/[\u001b\u009b\u202e]/.test(json.stdout), 'escaped as \\u in the JSON text');
    const verify = await runCli(['verify', '--url', db.url], { cwd });
    assert.equal(verify.code, 3);
    assert.match(verify.stdout, /^  0002_rtl\\u202eevil\\r\\x1b\]0;title\\x07\\nok: all good: applied \(executed\) but its file/m);
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/.test(verify.stdout + verify.stderr), verify.stdout + verify.stderr);
  });
});
