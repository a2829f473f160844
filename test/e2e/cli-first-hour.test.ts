/**
 * Issue 12, items 5 and 9–14: the CLI as a newcomer meets it in the first hour. Options that
 * are given twice or out of range, the database each result names, Alembic's vocabulary
 * (relative targets, current, history), create, readable logs, wait, and help.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { BIN, cleanEnv, runCli, workdir, workdirFromFixture, type CliResult } from '../helpers/cli.js';
import { scratchDatabase, tables, testServerUrl, type Scratch } from '../helpers/db.js';
import { needPsql } from '../helpers/psql.js';

function noStack(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |unexpected failure|NaN|TimeoutOverflowWarning/, text);
}

/** A usage error: exit 2, nothing on stdout, a message on stderr without a stack. */
function usage(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, pattern);
  noStack(r.stderr);
}

let db: Scratch;
const cli = (args: string[], cwd: string, env: Record<string, string> = {}) => runCli([...args, '--url', db.url], { cwd, env });
const logRows = async (table = 'pgpair_history_log') => (await db.sql.unsafe(`SELECT action, version FROM "${table}" ORDER BY id`)).map((r) => `${r.action} ${r.version}`);
const versions = async () => (await db.sql.unsafe(`SELECT version_label FROM pgpair_history ORDER BY version::numeric`)).map((r) => String(r.version_label));

describe('first hour: options (item 5)', () => {
  beforeEach(async () => {
    db = await scratchDatabase();
  });
  afterEach(async () => db.drop());

  it('a repeated single-valued option is a usage error that never shows the values (passwords)', async () => {
    const cwd = workdirFromFixture('basic');
    const twice = await runCli(['current', '--url', 'postgres://u:Secret-One@h/a', '--url', 'postgres://u:Secret-Two@h/b'], { cwd });
    usage(twice, /^error: --url was given 2 times; give it once\.\n$/);
    assert.doesNotMatch(twice.stderr, /Secret/);
    // up, down, stamp, status and verify take --url more than once: a fleet (issue 16); the unreachable targets fail, exit 1, masked.
    const fleet = await runCli(['up', '--url', 'postgres://u:Secret-One@h/a', '--url', 'postgres://u:Secret-Two@h/b'], { cwd });
    assert.equal(fleet.code, 1, fleet.stderr);
    assert.doesNotMatch(fleet.stdout + fleet.stderr, /Secret/);
    usage(await cli(['up', '--table', 'a', '--table', 'b'], cwd), /--table was given 2 times; give it once/);
    usage(await cli(['status', '--dir', 'sql', '--dir', 'sql'], cwd), /--dir was given 2 times/);
    usage(await cli(['up', '--steps', '1', '--steps', '2'], cwd), /--steps was given 2 times/);
    assert.deepEqual(await tables(db.sql), [], 'nothing was created');
  });

  it("--table 'h$1' names a history table h$1: identifiers are never touched by value inlining", async () => {
    const cwd = workdirFromFixture('basic');
    const r = await cli(['up', '+1', '--table', 'h$1'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await tables(db.sql), ['h$1', 'h$1_log', 'users']);
    assert.deepEqual((await db.sql.unsafe(`SELECT version_label FROM "h$1"`)).map((x) => x.version_label), ['0001']);
    assert.deepEqual(await logRows('h$1_log'), ['up 0001']);
    const rest = await cli(['up', '--table', 'h$1'], cwd);
    assert.equal(rest.code, 0, rest.stderr);
    assert.equal((await cli(['current', '--table', 'h$1'], cwd)).stdout, '0003\n');
  });

  it('durations beyond their limits are usage errors, not a Node warning and an instant timeout', async () => {
    const cwd = workdirFromFixture('basic');
    usage(await cli(['up', '--statement-timeout', '9999999999'], cwd), /--statement-timeout 9999999999 is too long: the most it takes is 24h/);
    usage(await cli(['status', '--connect-timeout', '3000000'], cwd), /--connect-timeout 3000000 is too long: the most it takes is 1h/);
    usage(await cli(['up', '--lock-timeout', '25h'], cwd), /--lock-timeout 25h is too long: the most it takes is 24h/);
    usage(await cli(['up', '--migration-lock-timeout', '2147483648ms'], cwd), /--migration-lock-timeout 2147483648ms is too long/);
    // --connect-timeout 0 waits without a limit, as libpq's connect_timeout=0 does (hangs-signals.test.ts: only a signal ends it).
    usage(await cli(['up', '--lock-timeout', '-5s'], cwd), /--lock-timeout -5s: a value that starts with "-" must be written --lock-timeout=-5s/);
    usage(await cli(['up', '--lock-timeout=-5s'], cwd), /Invalid --lock-timeout "-5s": use seconds/);
    assert.deepEqual(await tables(db.sql), []);
    // Within the limits, and with the units people type.
    const ok = await cli(['up', '--statement-timeout', '24h', '--lock-timeout', '1h', '--migration-lock-timeout', '2min', '--connect-timeout', '30s'], cwd);
    assert.equal(ok.code, 0, ok.stderr);
    noStack(ok.stderr);
  });

  it('up - says what a target is; --steps abc says abc is not a whole number; nothing is opened first', async () => {
    const cwd = workdirFromFixture('basic');
    for (const args of [['up', '-'], ['up', '']]) {
      // No URL: an invalid target must be reported before the embedded database is even chosen.
      const r = await runCli(args, { cwd });
      usage(r, /a TARGET is a version number \(e\.g\. 0003\), head \(the newest file\), base \(nothing applied\), or a number of steps from the current version \(up \+2, down -1\)/);
      assert.doesNotMatch(r.stderr, /embedded/);
      assert.equal(existsSync(join(cwd, '.pgpair')), false);
    }
    usage(await cli(['up', 'latest'], cwd), /Invalid target "latest": a TARGET is a version number/);
    const steps = await cli(['up', '--steps', 'abc'], cwd);
    usage(steps, /abc is not a whole number/);
    usage(await cli(['history', '--limit', '1.5'], cwd), /--limit must be a whole number of at least 1: 1\.5 is not a whole number/);
    usage(await cli(['up', '+0'], cwd), /a relative target moves at least one step/);
    assert.deepEqual(await tables(db.sql), []);
  });
});

describe('first hour: the database each result names (item 9)', () => {
  beforeEach(async () => {
    db = await scratchDatabase();
  });
  afterEach(async () => db.drop());

  it('up, down, stamp, load and repair name user@host:port/db, never the password', async () => {
    const withPassword = new URL(db.url);
    // A password-authenticated server (the embedded one) needs its own; a trust server takes any.
    if (!withPassword.password) withPassword.password = 'Hidden-Pw-42';
    const secret = decodeURIComponent(withPassword.password);
    const url = withPassword.toString();
    const server = `${withPassword.username}@${withPassword.hostname}:${withPassword.port || '5432'}/${db.name}`;
    const cwd = workdirFromFixture('basic');
    const run = (args: string[]) => runCli([...args, '--url', url], { cwd });
    const outputs: string[] = [];
    for (const [args, line] of [
      [['up'], /^now at 0003 \(3 migrations applied in \d+ ms\) on (.+)$/m],
      [['up'], /^already at 0003; nothing to apply on (.+)$/m],
      [['down', '-1'], /^now at 0002 \(1 migration reverted in \d+ ms\) on (.+)$/m],
      [['stamp', 'head'], /^now at 0003 \(1 migration recorded, no migration SQL ran\) on (.+)$/m],
      [['stamp', '0002'], /^now at 0002 \(1 migration recorded, no migration SQL ran\) on (.+)$/m],
      [['repair', '--accept', '0002'], /^accepted the current files of 0002_create_posts .* on (.+)$/m],
      [['down', 'base'], /^now at base \(2 migrations reverted in \d+ ms\) on (.+)$/m],
    ] as [string[], RegExp][]) {
      const edited = join(cwd, 'sql', '0002_create_posts.up.sql');
      if (args[0] === 'repair') writeFileSync(edited, `${readFileSync(edited, 'utf8')}\n-- a harmless comment\n`);
      const r = await run(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      const match = line.exec(r.stdout);
      assert.ok(match, `${args.join(' ')}: ${r.stdout}`);
      assert.equal(match[1], server);
      outputs.push(r.stdout, r.stderr);
    }
    await db.sql.unsafe(`DROP TABLE pgpair_history, pgpair_history_log; DROP FUNCTION pgpair_history_log_append_only()`);
    const load = await run(['load']);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, new RegExp(`^now at 0003 on ${server.replace(/[.$]/g, '\\$&')}$`, 'm'));
    outputs.push(load.stdout, load.stderr);
    assert.equal(outputs.join('\n').includes(secret), false);
  });

  it('a misspelled DATABASE_URL no longer "succeeds" silently: the result names the embedded default and how to choose a server', async () => {
    const cwd = workdirFromFixture('basic');
    const r = await runCli(['up', '+1'], { cwd, env: { DATABASE_UR: db.url } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^now at 0001 \(1 migration applied in \d+ ms\) on the embedded development database \.pgpair\/dev \(no DATABASE_URL set: pass --url or set DATABASE_URL to use a server\)$/m,
    );
    assert.match(r.stderr, /DATABASE_UR is set, but pgpair reads DATABASE_URL: did you mean DATABASE_URL\?/);
    const stamp = await runCli(['stamp', 'base'], { cwd });
    assert.equal(stamp.code, 0, stamp.stderr);
    assert.match(stamp.stdout, /^now at base \(1 migration recorded, no migration SQL ran\) on the embedded development database \.pgpair\/dev \(no DATABASE_URL set/m);
    assert.deepEqual(await tables(db.sql), [], 'the server was not touched');
  });
});

describe('first hour: relative targets, current and history (item 10)', () => {
  beforeEach(async () => {
    db = await scratchDatabase();
  });
  afterEach(async () => db.drop());

  it('up +2, up +1, down -1: Alembic\'s relative targets; a target that does not exist changes nothing', async () => {
    const cwd = workdirFromFixture('basic');
    const two = await cli(['up', '+2'], cwd);
    assert.equal(two.code, 0, two.stderr);
    assert.deepEqual(await versions(), ['0001', '0002']);
    const tooFar = await cli(['up', '+2'], cwd);
    usage(tooFar, /up \+2: only 1 migration is pending \(0003\), so the target does not exist\. Nothing was applied\. Use pgpair up \+1 or pgpair up head\./);
    assert.deepEqual(await versions(), ['0001', '0002']);
    assert.equal((await cli(['up', '+1'], cwd)).code, 0);
    assert.deepEqual(await versions(), ['0001', '0002', '0003']);
    const back = await cli(['down', '-1'], cwd);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /^reverted 0003_add_bio \(\d+ ms\)\nnow at 0002/);
    usage(await cli(['down', '-3'], cwd), /down -3: only 2 migrations are applied, so the target does not exist\. Nothing was reverted\. Use pgpair down -2 or pgpair down base\./);
    usage(await cli(['up', '-1'], cwd), /up -1 would go down; to revert 1 migration use pgpair down -1\./);
    usage(await cli(['down', '+1'], cwd), /down \+1 would go up; to apply 1 migration use pgpair up \+1\./);
    usage(await cli(['up', '+1', '--steps', '1'], cwd), /Give either the relative target \+1 or --steps, not both/);
    usage(await cli(['stamp', '+1'], cwd), /stamp needs a version, head or base, not a relative target/);
    assert.deepEqual(await versions(), ['0001', '0002']);
    assert.equal((await cli(['down', '-2'], cwd)).code, 0);
    assert.deepEqual(await versions(), []);
    // --sql plans the same relative step.
    const script = await runCli(['up', '+1', '--sql', '--from', 'base'], { cwd });
    assert.equal(script.code, 0, script.stderr);
    assert.match(script.stdout, /0001_create_users/);
    assert.doesNotMatch(script.stdout, /0002_create_posts\.up\.sql/);
  });

  it('current prints one line (base before anything), creates nothing, and suits $(pgpair current)', async () => {
    const cwd = workdirFromFixture('basic');
    const before = await cli(['current'], cwd);
    assert.equal(before.code, 0, before.stderr);
    assert.equal(before.stdout, 'base\n');
    assert.equal(before.stderr, '');
    assert.deepEqual(await tables(db.sql), [], 'current creates no history table');
    await cli(['up', '0002'], cwd);
    assert.equal((await cli(['current'], cwd)).stdout, '0002\n');
    assert.equal((await cli(['current', '-q'], cwd)).stdout, '0002\n');
    const json = JSON.parse((await cli(['current', '--json'], cwd)).stdout);
    assert.equal(json.current, '0002');
    assert.equal(json.state, 'ok');
    // The history alone is read: it works without the migration files.
    const elsewhere = workdir();
    assert.equal((await cli(['current'], elsewhere)).stdout, '0002\n');
  });

  it('current and history on an embedded database that does not exist yet read as empty and create nothing', async () => {
    const cwd = workdirFromFixture('basic');
    const current = await runCli(['current'], { cwd });
    assert.equal(current.code, 0, current.stderr);
    assert.equal(current.stdout, 'base\n');
    const history = await runCli(['history', '--url', 'pglite:db/dev'], { cwd });
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /^No changes recorded in public\.pgpair_history_log on the embedded database pglite:db\/dev yet\.\n$/);
    assert.equal(existsSync(join(cwd, '.pgpair')), false);
    assert.equal(existsSync(join(cwd, 'db')), false);
  });

  it('history shows the log newest first: who, when, what, how long, and failures; --limit and --json', async (t) => {
    const cwd = workdirFromFixture('basic');
    assert.match((await cli(['history'], cwd)).stdout, /^No changes recorded in public\.pgpair_history_log on .+ yet\.\n$/);
    await cli(['up'], cwd);
    await cli(['down', '-1'], cwd);
    writeFileSync(join(cwd, 'sql', '0004_broken.up.sql'), '-- pgpair:no-transaction\nCREATE INDEX CONCURRENTLY broken_idx ON nosuch (id);\n');
    const failed = await cli(['up'], cwd);
    assert.equal(failed.code, 1, failed.stderr);
    const r = await cli(['history'], cwd);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^AT\s+BY\s+WHAT\s+DURATION\s+DETAIL$/);
    const user = new URL(db.url).username || 'root';
    const what = lines.slice(1).map((l) => l.split(/\s{2,}/)[2]);
    assert.deepEqual(what.slice(0, 1), [what[0]]);
    assert.match(lines[1]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ  ${user}\\s+failed 0004_broken\\s+(\\d+ ms)?\\s*.*nosuch`), r.stdout);
    assert.ok(what.includes('down 0003_add_bio'), r.stdout);
    assert.deepEqual(what.slice(-3), ['up 0003_add_bio', 'up 0002_create_posts', 'up 0001_create_users']);
    assert.match(r.stdout, /up 0001_create_users\s+\d+ ms/);
    const limited = await cli(['history', '--limit', '2'], cwd);
    assert.equal(limited.stdout.trimEnd().split('\n').length, 1 + 2 + 2, limited.stdout);
    assert.match(limited.stdout, /2 newest of \d+ entries; pgpair history --limit \d+ shows all\./);
    const json = JSON.parse((await cli(['history', '--json', '--limit', '3'], cwd)).stdout);
    assert.equal(json.entries.length, 3);
    assert.equal(json.entries[0].action, 'failed');
    assert.equal(json.entries[0].by, user);
    assert.match(json.entries[0].detail, /nosuch/);
    assert.match(json.entries[0].at, /^\d{4}-\d\d-\d\dT/);
    assert.ok(json.total >= 5);
    assert.ok(Number(json.entries[0].id) > Number(json.entries[1].id), 'newest first');
    // A --sql script run by psql: its entries say how and through what.
    assert.equal((await cli(['repair', '--reverted', '0004'], cwd)).code, 0);
    assert.equal((await cli(['down', 'base'], cwd)).code, 0);
    const script = await cli(['up', '+1', '--sql'], cwd);
    assert.equal(script.code, 0, script.stderr);
    if (!needPsql(t)) return;
    const psql = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-', db.url], { input: script.stdout, encoding: 'utf8' });
    assert.equal(psql.status, 0, psql.stderr);
    const viaPsql = await cli(['history', '--limit', '1'], cwd);
    assert.match(viaPsql.stdout, new RegExp(`  ${user} via psql\\s+up 0001_create_users \\(script\\)`), viaPsql.stdout);
  });
});

describe('first hour: create (item 11)', () => {
  it('create "add comments table" and create add comments table make the slug add_comments_table', async () => {
    const cwd = workdir();
    const quoted = await runCli(['create', 'add comments table'], { cwd });
    assert.equal(quoted.code, 0, quoted.stderr);
    assert.equal(quoted.stdout, 'sql/0001_add_comments_table.up.sql\nsql/0001_add_comments_table.down.sql\n');
    const words = await runCli(['create', 'add', 'more', 'tables'], { cwd });
    assert.equal(words.stdout, 'sql/0002_add_more_tables.up.sql\nsql/0002_add_more_tables.down.sql\n');
    const odd = await runCli(['create', "  Añadir índice 'users'/email  "], { cwd });
    assert.equal(odd.stdout.split('\n')[0], 'sql/0003_Anadir_indice_users_email.up.sql');
    const fileName = await runCli(['create', 'drop_x.up.sql'], { cwd });
    assert.equal(fileName.stdout.split('\n')[0], 'sql/0004_drop_x.up.sql');
  });

  it('--timestamp and PGPAIR_VERSIONS=timestamp write YYYYMMDDHHMMSS versions; the directory style is kept by default', async () => {
    const cwd = workdir({ 'sql/0001_first.up.sql': '' });
    const stamped = await runCli(['create', 'second', '--timestamp'], { cwd });
    assert.equal(stamped.code, 0, stamped.stderr);
    const version = /^sql\/(\d{14})_second\.up\.sql$/.exec(stamped.stdout.split('\n')[0]!)?.[1];
    assert.ok(version, stamped.stdout);
    const now = new Date().toISOString().replace(/\D/g, '').slice(0, 8);
    assert.equal(version.slice(0, 8), now);
    // The newest file is a timestamp now: without the flag the next one is a timestamp too, and never the same one.
    const next = await runCli(['create', 'third'], { cwd });
    const nextVersion = /^sql\/(\d{14})_third\.up\.sql$/.exec(next.stdout.split('\n')[0]!)?.[1];
    assert.ok(nextVersion && nextVersion > version, next.stdout);
    const fourth = await runCli(['create', 'fourth'], { cwd, env: { PGPAIR_VERSIONS: 'sequential' } });
    assert.equal(fourth.stdout.split('\n')[0], `sql/${(BigInt(nextVersion) + 1n).toString()}_fourth.up.sql`);
    const sequential = workdir({ 'sql/0007_a.up.sql': '' });
    assert.equal((await runCli(['create', 'b'], { cwd: sequential })).stdout.split('\n')[0], 'sql/0008_b.up.sql');
    const env = await runCli(['create', 'c'], { cwd: sequential, env: { PGPAIR_VERSIONS: 'timestamp' } });
    assert.match(env.stdout, /^sql\/\d{14}_c\.up\.sql\n/);
    // A clock behind the newest file (or two pairs in one second): still above the newest, never a duplicate.
    const ahead = workdir({ 'sql/20991231235959_from_the_future.up.sql': '' });
    const behind = await runCli(['create', 'now', '--timestamp'], { cwd: ahead });
    assert.equal(behind.stdout.split('\n')[0], 'sql/20991231235960_now.up.sql');
    const bad = await runCli(['create', 'd'], { cwd: sequential, env: { PGPAIR_VERSIONS: 'dates' } });
    usage(bad, /PGPAIR_VERSIONS "dates": use timestamp/);
    assert.equal(readdirSync(join(sequential, 'sql')).filter((f) => f.includes('_d.')).length, 0);
  });
});

describe('first hour: logs people can read in CI (item 12)', () => {
  beforeEach(async () => {
    db = await scratchDatabase();
  });
  afterEach(async () => db.drop());

  const noticing = () => workdir({ 'sql/0001_notice.up.sql': "DO $$ BEGIN RAISE NOTICE 'hello from 0001'; END $$;\n", 'sql/0001_notice.down.sql': '' });

  it('in CI (CI set, stderr not a terminal) logs are readable lines, not JSON and not coloured', async () => {
    const r = await cli(['up'], noticing(), { CI: 'true' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /INFO.*0001_notice: NOTICE: hello from 0001/);
    assert.doesNotMatch(r.stderr, /"level"|\{"/);
    assert.doesNotMatch(r.stderr, /\x1b\[/);
  });

  it('elsewhere off a terminal, JSON lines; --log-format and PGPAIR_LOG_FORMAT choose', async () => {
    const plain = await cli(['up'], noticing());
    assert.equal(plain.code, 0, plain.stderr);
    const line = JSON.parse(plain.stderr.trim().split('\n').find((l) => l.includes('hello'))!);
    assert.equal(line.msg, '0001_notice: NOTICE: hello from 0001');
    await cli(['down'], noticing());
    const pretty = await cli(['up', '--log-format', 'pretty'], noticing());
    assert.match(pretty.stderr, /INFO.*hello from 0001/);
    assert.doesNotMatch(pretty.stderr, /"level"/);
    await cli(['down'], noticing());
    const json = await cli(['up', '--log-format', 'json'], noticing(), { CI: '1', PGPAIR_LOG_FORMAT: 'pretty' });
    assert.match(json.stderr, /^\{"level":30/m, 'the option wins over the setting and over CI');
    await cli(['down'], noticing());
    const setting = await cli(['up'], noticing(), { PGPAIR_LOG_FORMAT: 'pretty' });
    assert.match(setting.stderr, /INFO.*hello from 0001/);
    usage(await cli(['up'], noticing(), { PGPAIR_LOG_FORMAT: 'xml' }), /PGPAIR_LOG_FORMAT "xml": use pretty .* or json/);
    usage(await cli(['up', '--log-format', 'xml'], noticing()), /log-format/);
  });

  it('on a terminal: readable, coloured lines, and the embedded default said once (in the result line)', (t) => {
    // util-linux `script` gives the CLI a terminal for stdout and stderr alike.
    const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) return t.skip('util-linux script(1) is not installed: no terminal to run the CLI on');
    const cwd = noticing();
    const r = spawnSync('script', ['-qec', `'${process.execPath}' -- '${BIN}' up`, '/dev/null'], { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const screen = r.stdout;
    assert.match(screen, /\x1b\[32mINFO\x1b\[39m: .*0001_notice: NOTICE: hello from 0001/);
    assert.doesNotMatch(screen, /"level"/);
    assert.match(screen, /now at 0001 \(1 migration applied in \d+ ms\) on the embedded development database \.pgpair\/dev/);
    assert.doesNotMatch(screen, /no DATABASE_URL set: using/, 'not said twice on one screen');
  });

  it('load says each fact once: on stdout, not again as a log line', async () => {
    const r = await cli(['load'], workdirFromFixture('basic'), { PGPAIR_LOG_FORMAT: 'pretty' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^loaded sql\/schema\.sql/);
    assert.doesNotMatch(r.stderr, /loaded/);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

describe('first hour: wait (item 13)', () => {
  it('exits 0 once the database accepts connections', async () => {
    const r = await runCli(['wait', '--url', testServerUrl()], { cwd: workdir() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /accepts connections \(1 attempt, \d+\.\d s\)\n$/);
  });

  it('waits for a server that comes up while it waits', async () => {
    const port = await freePort();
    const target = new URL(testServerUrl());
    let proxy: Server | undefined;
    const url = `postgres://${target.username}${target.password ? `:${target.password}` : ''}@127.0.0.1:${port}${target.pathname}`;
    try {
      const r = await runCli(['wait', '--url', url, '--timeout', '30s', '--log-format', 'json'], { cwd: workdir(), onStderr: (stderr) => {
        // Once the first attempt has been refused, the "server" starts: a TCP proxy to the real one.
        if (proxy || !stderr.includes('waiting for')) return;
        proxy = createServer((socket) => {
          const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
          socket.pipe(upstream).pipe(socket);
          const close = () => {
            socket.destroy();
            upstream.destroy();
          };
          socket.on('error', close).on('close', close);
          upstream.on('error', close).on('close', close);
        }).listen(port, '127.0.0.1');
      } });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(proxy, 'the first attempt failed before the server started');
      assert.match(r.stdout, /accepts connections \((\d+) attempts, \d+\.\d s\)/);
    } finally {
      await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    }
  });

  it('SIGTERM while waiting ends it at once (143 to a shell), without a stack trace', async () => {
    const port = await freePort();
    let sent = false;
    const r = await runCli(['wait', '--url', `postgres://u@127.0.0.1:${port}/db`, '--timeout', '60s', '--log-format', 'json'], { cwd: workdir(), onStderr: (stderr, child) => {
      if (!sent && stderr.includes('waiting for')) {
        sent = true;
        child.kill('SIGTERM');
      }
    } });
    assert.ok(sent);
    assert.ok(r.signal === 'SIGTERM' || r.code === 143, `${r.code} ${r.signal}`);
    noStack(r.stderr);
  });

  it('exits 1 naming the last error after --timeout, never the password', async () => {
    const port = await freePort();
    const r = await runCli(['wait', '--url', `postgres://u:Wait-Secret@127.0.0.1:${port}/db`, '--timeout', '1s'], { cwd: workdir() });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: postgres://u:\\*\\*\\*@127\\.0\\.0\\.1:${port}/db did not accept a connection within \\d+\\.\\d s \\(\\d+ attempts?\\)\\. The last error: .*(refused|ECONNREFUSED)`, 'm'));
    assert.doesNotMatch(r.stdout + r.stderr, /Wait-Secret/);
    noStack(r.stderr);
    usage(await runCli(['wait', '--url', 'mysql://h/db'], { cwd: workdir() }), /Unsupported database URL/);
    const once = await runCli(['wait', '--url', `postgres://u@127.0.0.1:${port}/db`, '--timeout', '0'], { cwd: workdir() });
    assert.equal(once.code, 1);
    assert.match(once.stderr, /\(1 attempt\)/);
    const unset = await runCli(['wait'], { cwd: workdir(), env: { DATABSE_URL: 'postgres://h/db' } });
    usage(unset, /pgpair wait waits for a database server, but no DATABASE_URL is set \(nor --url\)\. .* DATABSE_URL is set: did you mean DATABASE_URL\?/);
    const embedded = await runCli(['wait', '--url', 'pglite:memory'], { cwd: workdir() });
    assert.equal(embedded.code, 0, embedded.stderr);
    assert.match(embedded.stdout, /^nothing to wait for: an in-memory embedded database/);
    usage(await runCli(['wait', '--url', testServerUrl(), '--timeout', 'soon'], { cwd: workdir() }), /Invalid --timeout "soon"/);
  });
});

describe('first hour: help (item 14)', () => {
  it('each command\'s help has examples and lists only the options it uses', async () => {
    const cwd = workdir();
    const create = await runCli(['create', '--help'], { cwd });
    assert.equal(create.code, 0);
    assert.doesNotMatch(create.stdout, /--url|--lock-timeout|--table|--connect-timeout/);
    assert.match(create.stdout, /--timestamp/);
    assert.match(create.stdout, /Examples:\n\s+pgpair create "add comments table"/);
    const current = await runCli(['current', '--help'], { cwd });
    assert.match(current.stdout, /--url/);
    assert.doesNotMatch(current.stdout, /--lock-timeout|--steps/);
    for (const command of ['up', 'down', 'status', 'current', 'history', 'verify', 'stamp', 'create', 'load', 'repair', 'wait']) {
      const r = await runCli([command, '--help'], { cwd });
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      const examples = r.stdout.split('Examples:')[1] ?? '';
      assert.ok(examples.trim().split('\n').length >= 2, `${command} --help has at least two examples:\n${r.stdout}`);
    }
    const all = await runCli(['--help'], { cwd });
    for (const command of ['current', 'history', 'wait']) assert.match(all.stdout, new RegExp(`pgpair ${command}`));
  });

  it('an unknown command suggests the nearest one', async () => {
    const r = await runCli(['upp'], { cwd: workdir() });
    usage(r, /^pgpair: Unknown command "upp": did you mean up\?/);
    usage(await runCli(['create', 'x', '--url', 'postgres://h/db'], { cwd: workdir() }), /Unknown argument: url/);
  });
});
