/**
 * Issue 16, fleets: one command over several databases and schemas (--url repeated, --targets
 * FILE, --schemas GLOB, PGPAIR_TARGETS), each target with its own connection, lock and history.
 * A failure that happens in one tenant only, canaries, --keep-going, the default stop, a rerun
 * that picks up where each target stopped, signals, connections never more than --parallel,
 * passwords never shown. Waits are for states (sessions in pg_stat_activity), never for a time.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, fleet, globToLike, parseTargetsFile, parseTargetsList, splitSchema, withSchema, type RunResult } from '../../lib/index.js';
import { runCli, startCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, tables, testServerUrl, type Scratch } from '../helpers/db.js';

/**
 * A password the output must never show. A trusting server (the local one) takes any password; a
 * server that checks them (the suite's throwaway one) needs its own, which the test URL carries.
 */
const PASSWORD = new URL(testServerUrl()).password || 'fl33t-s3cret-pw';
/** The test server's user, as target labels show it. */
const USER = new URL(testServerUrl()).username;

/** The URL with the password in it. */
function withPassword(url: string): string {
  const u = new URL(url);
  u.password = PASSWORD;
  return u.toString();
}

function migrations(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'sql/0001_accounts.up.sql': 'CREATE TABLE accounts (id int PRIMARY KEY);\n',
    'sql/0001_accounts.down.sql': 'DROP TABLE accounts;\n',
    // Fails where a tenant already has its own `invoices` (as one real tenant might).
    'sql/0002_invoices.up.sql': 'CREATE TABLE invoices (id int PRIMARY KEY);\n',
    'sql/0002_invoices.down.sql': 'DROP TABLE invoices;\n',
    'sql/0003_notes.up.sql': 'CREATE TABLE notes (id int PRIMARY KEY);\n',
    'sql/0003_notes.down.sql': 'DROP TABLE notes;\n',
    ...extra,
  };
}

/** How many migrations the schema's own history records; null when it has no history table. */
async function currentOf(db: Scratch, schema: string): Promise<number | null> {
  const [row] = await db.sql.unsafe(`SELECT to_regclass($1) AS t`, [`"${schema}".pgpair_history`]);
  if (row!.t === null) return null;
  const [count] = await db.sql.unsafe(`SELECT count(*)::int AS n FROM "${schema}".pgpair_history`);
  return count!.n as number;
}

function noPassword(run: { stdout: string; stderr: string }): void {
  assert.ok(!run.stdout.includes(PASSWORD), `password in stdout:\n${run.stdout}`);
  assert.ok(!run.stderr.includes(PASSWORD), `password in stderr:\n${run.stderr}`);
}

describe('fleets of databases', () => {
  let a: Scratch;
  let b: Scratch;
  before(async () => {
    a = await scratchDatabase('fleet_a');
    b = await scratchDatabase('fleet_b');
  });
  after(async () => {
    await a.drop();
    await b.drop();
  });

  it('up over two databases (--url twice, one with a password): a progress line each, the summary table, exit 0; status and --json agree', async () => {
    const cwd = workdir(migrations());
    const run = await runCli(['up', '--url', a.url, '--url', withPassword(b.url)], { cwd });
    assert.equal(run.code, 0, run.stderr);
    noPassword(run);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0]!, /^\[1\/2\] ok +\S+\/fleet_[ab]_\S+: base → 0003, 3 applied, \d+ ms$/);
    assert.match(lines[1]!, /^\[2\/2\] ok /);
    assert.match(lines[2]!, /^TARGET +FROM → TO +APPLIED +TIME +RESULT$/);
    assert.match(run.stdout, new RegExp(`${a.name} +base → 0003 +3 +\\d+ ms +ok`));
    assert.match(run.stdout, new RegExp(`${b.name} +base → 0003 +3 +\\d+ ms +ok`));
    assert.match(lines.at(-1)!, /^2 targets: 2 ok \(\d+ ms in all\)$/);
    assert.deepEqual(await tables(a.sql), ['accounts', 'invoices', 'notes', 'pgpair_history', 'pgpair_history_log']);
    assert.deepEqual(await tables(b.sql), ['accounts', 'invoices', 'notes', 'pgpair_history', 'pgpair_history_log']);

    const json = await runCli(['status', '--json', '--url', withPassword(a.url), '--url', b.url], { cwd });
    assert.equal(json.code, 0, json.stderr);
    noPassword(json);
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(Object.keys(doc), ['ok', 'command', 'exitCode', 'stopped', 'durationMs', 'summary', 'targets']);
    assert.equal(doc.ok, true);
    assert.equal(doc.command, 'status');
    assert.equal(doc.stopped, null);
    assert.deepEqual(doc.summary, { targets: 2, ok: 2, failed: 0, interrupted: 0, skipped: 0 });
    assert.deepEqual(
      doc.targets.map((t: Record<string, unknown>) => ({ ...t, durationMs: typeof t.durationMs })),
      [a, b].map((db) => ({ target: `${USER}@127.0.0.1:${new URL(db.url).port || 5432}/${db.name}`, result: 'ok', durationMs: 'number', from: '0003', to: '0003', head: '0003', applied: 0, exitCode: 0 })),
    );
  });

  it('a single --url keeps the one-database output (no fleet table); fleet flags without a fleet are a usage error', async () => {
    const cwd = workdir(migrations());
    const one = await runCli(['up', '--url', a.url], { cwd });
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^already at 0003; nothing to apply on /);
    assert.doesNotMatch(one.stdout, /TARGET/);
    const lonely = await runCli(['up', '--parallel', '2', '--url', a.url], { cwd });
    assert.equal(lonely.code, 2);
    assert.match(lonely.stderr, /--parallel, --canary and --keep-going are for a fleet/);
    const sql = await runCli(['up', '--sql', '--url', a.url, '--url', b.url], { cwd });
    assert.equal(sql.code, 2);
    assert.match(sql.stderr, /--sql prints the script of one database/);
  });
});

describe('fleets of schemas', () => {
  let db: Scratch;
  const tenants = ['tenant_1', 'tenant_2', 'tenant_3', 'tenant_4'];
  before(async () => {
    db = await scratchDatabase('fleet_s');
  });
  after(async () => db.drop());

  /** Fresh tenant schemas (and decoys the pattern must not match); tenant_2 already has its own invoices table. */
  async function resetSchemas(): Promise<void> {
    for (const schema of [...tenants, 'tenantx1', 'other', 'tenant_%odd']) await db.sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; CREATE SCHEMA "${schema}"`);
    await db.sql.unsafe(`DROP TABLE IF EXISTS public.pgpair_history, public.pgpair_history_log`);
    await db.sql.unsafe(`CREATE TABLE tenant_2.invoices (id int)`);
  }

  it("--schemas 'tenant_?' runs in every matching schema (history there, public untouched); a rerun after fixing the failed tenant picks up where each stopped", async () => {
    await resetSchemas();
    const cwd = workdir(migrations());
    // --parallel 1: the targets run in name order, so tenant_2 fails second and 3 and 4 never start.
    const first = await runCli(['up', '--url', withPassword(db.url), '--schemas', 'tenant_?', '--parallel', '1'], { cwd });
    assert.equal(first.code, 1, first.stderr);
    noPassword(first);
    assert.match(first.stdout, /^\[1\/4\] ok +\S+\?schema=tenant_1: base → 0003, 3 applied/m);
    assert.match(first.stdout, /^\[2\/4\] failed +\S+\?schema=tenant_2 \(exit 1\): .*0002_invoices\.up\.sql/m);
    assert.match(first.stderr, /error: \S+\?schema=tenant_2: .*relation "invoices" already exists/);
    assert.match(first.stdout, /\?schema=tenant_3 +skipped$/m);
    assert.match(first.stdout, /^4 targets: 1 ok, 1 failed, 2 skipped; after the first failure no new target was started/m);
    assert.deepEqual(await Promise.all(tenants.map((t) => currentOf(db, t))), [3, 1, null, null]);
    assert.deepEqual(await tables(db.sql, 'public'), [], 'nothing in public');
    assert.equal(await currentOf(db, 'tenantx1'), null, '_ is a literal, not LIKE any-character');
    assert.equal(await currentOf(db, 'tenant_%odd'), null);

    await db.sql.unsafe(`DROP TABLE tenant_2.invoices`);
    const rerun = await runCli(['up', '--json', '--url', db.url, '--schemas', 'tenant_?'], { cwd });
    assert.equal(rerun.code, 0, rerun.stderr);
    const doc = JSON.parse(rerun.stdout);
    const byTarget = Object.fromEntries(doc.targets.map((t: { target: string; from: string | null; applied: number }) => [t.target.replace(/.*schema=/, ''), [t.from, t.applied]]));
    assert.deepEqual(byTarget, { tenant_1: ['0003', 0], tenant_2: ['0001', 2], tenant_3: [null, 3], tenant_4: [null, 3] });
    assert.deepEqual(await Promise.all(tenants.map((t) => currentOf(db, t))), [3, 3, 3, 3]);
  });

  it('--keep-going runs every target past the failure; exit 1', async () => {
    await resetSchemas();
    const cwd = workdir(migrations());
    const run = await runCli(['up', '--url', db.url, '--schemas', 'tenant_*', '--keep-going', '--parallel', '2'], { cwd });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^5 targets: 4 ok, 1 failed \(/m);
    assert.deepEqual(await Promise.all(tenants.map((t) => currentOf(db, t))), [3, 1, 3, 3]);
    assert.equal(await currentOf(db, 'tenant_%odd'), 3, '* matches % literally too');
  });

  it('--canary: a failing canary stops the fleet with nothing else started; passing canaries let the rest run', async () => {
    await resetSchemas();
    const cwd = workdir(migrations());
    const urls = ['tenant_2', 'tenant_1', 'tenant_3'].flatMap((t) => ['--url', `${db.url}?schema=${t}`]);
    const stopped = await runCli(['up', '--canary', '1', '--keep-going', ...urls], { cwd });
    assert.equal(stopped.code, 1, stopped.stderr);
    assert.match(stopped.stdout, /a canary failed, so no other target was started/);
    assert.deepEqual(await Promise.all(['tenant_1', 'tenant_2', 'tenant_3'].map((t) => currentOf(db, t))), [null, 1, null]);

    const passing = ['tenant_1', 'tenant_3', 'tenant_4'].flatMap((t) => ['--url', `${db.url}?schema=${t}`]);
    const ran = await runCli(['up', '--canary', '2', '--json', ...passing], { cwd });
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(await Promise.all(['tenant_1', 'tenant_3', 'tenant_4'].map((t) => currentOf(db, t))), [3, 3, 3]);
  });

  it('--targets FILE with comments and blank lines; a bad line is named FILE:LINE with exit 2 and nothing runs', async () => {
    await resetSchemas();
    const cwd = workdir(migrations());
    const file = join(cwd, 'tenants.txt');
    writeFileSync(file, `# tenants of ${db.name}\n\n  ${withPassword(db.url)}?schema=tenant_1  \n# ${db.url}?schema=tenant_2\n${db.url}?schema=tenant_3\n`);
    const ok = await runCli(['up', '--targets', file], { cwd });
    assert.equal(ok.code, 0, ok.stderr);
    noPassword(ok);
    assert.match(ok.stdout, /^2 targets: 2 ok/m);
    assert.deepEqual(await Promise.all(['tenant_1', 'tenant_2', 'tenant_3'].map((t) => currentOf(db, t))), [3, null, 3]);

    writeFileSync(file, `${db.url}?schema=tenant_4\nhost=db dbname=x\n\n${withPassword(db.url).replace('postgres://', 'postgres:/')}\n`);
    const bad = await runCli(['up', '--targets', file], { cwd });
    assert.equal(bad.code, 2, bad.stderr);
    noPassword(bad);
    assert.match(bad.stderr, new RegExp(`${file.replace(/[.\\/]/g, '\\$&')}:2: host=db dbname=x is not a database URL`));
    assert.match(bad.stderr, new RegExp(`tenants\\.txt:4: Invalid database URL postgres:/${USER}:\\*\\*\\*@`));
    assert.equal(await currentOf(db, 'tenant_4'), null, 'nothing ran');
  });

  it('PGPAIR_TARGETS (comma-separated); verify over the fleet: exit 3 for a target with problems, a missing schema is 2, and the worst code wins', async () => {
    await resetSchemas();
    const cwd = workdir(migrations());
    const env = { PGPAIR_TARGETS: `${db.url}?schema=tenant_1, ${db.url}?schema=tenant_3` };
    const up = await runCli(['up', '--quiet'], { cwd, env });
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, '', '--quiet: nothing on stdout when all went well');
    assert.deepEqual(await Promise.all(['tenant_1', 'tenant_3'].map((t) => currentOf(db, t))), [3, 3]);
    await db.sql.unsafe(`UPDATE tenant_3.pgpair_history SET up_checksum = 'sha256:0' WHERE version_label = '0002'`);
    const verify = await runCli(['verify'], { cwd, env });
    assert.equal(verify.code, 3, verify.stderr);
    assert.match(verify.stdout, /\?schema=tenant_3 +0003 +0003 +\d+ ms +problems/);
    assert.match(verify.stdout, /tenant_1 +0003 +0003 +\d+ ms +ok/);

    const missing = await runCli(['verify', '--url', `${db.url}?schema=tenant_1`, '--url', `${db.url}?schema=no_such_tenant`], { cwd });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /Schema "no_such_tenant" does not exist in /);
    const worst = await runCli(['verify', '--json', '--keep-going', '--url', `${db.url}?schema=tenant_3`, '--url', `${db.url}?schema=no_such_tenant`], { cwd });
    assert.equal(worst.code, 3, '3 (verification failed) is worse than 2');
    assert.deepEqual(JSON.parse(worst.stdout).targets.map((t: { exitCode: number }) => t.exitCode), [3, 2]);
  });

  it('no schema matches: exit 2 naming the pattern; a schema= next to options=-csearch_path is refused', async () => {
    const cwd = workdir(migrations());
    const none = await runCli(['status', '--url', withPassword(db.url), '--schemas', 'nobody_*'], { cwd });
    assert.equal(none.code, 2, none.stderr);
    noPassword(none);
    assert.match(none.stderr, new RegExp(`--schemas "nobody_\\*" matches no schema in ${USER}@`));
    const both = await runCli(['status', '--url', `${db.url}?schema=tenant_1&options=-csearch_path%3Dother`, '--url', `${db.url}?schema=tenant_3`], { cwd });
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /sets both schema= and a search_path in options=/);
    const shared = await runCli(['up', '--table', 'public.pgpair_history', '--url', `${db.url}?schema=tenant_1`, '--url', `${db.url}?schema=tenant_3`], { cwd });
    assert.equal(shared.code, 2, shared.stderr);
    assert.match(shared.stderr, /--table public\.pgpair_history names a schema, but \S+\?schema=tenant_1 is a schema target/);
  });

  it('--parallel 2: at most two pgpair connections at once, and two really run together; SIGINT starts no new target and interrupts the running ones (exit 130)', async () => {
    await resetSchemas();
    await db.sql.unsafe(`DROP TABLE tenant_2.invoices`);
    const cwd = workdir(migrations({ 'sql/0001_accounts.up.sql': 'SELECT pg_advisory_lock_shared(16016);\nCREATE TABLE accounts (id int PRIMARY KEY);\nSELECT pg_advisory_unlock_shared(16016);\n' }));
    const gate = await db.sql.reserve();
    try {
      await gate.unsafe('SELECT pg_advisory_lock(16016)');
      const sessions = async () => {
        const rows = await db.sql.unsafe(`SELECT count(*)::int AS all, count(*) FILTER (WHERE wait_event_type = 'Lock' AND query LIKE '%16016%')::int AS gated FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgpair'`, [db.name]);
        return rows[0] as unknown as { all: number; gated: number };
      };
      const run = startCli(['up', '--url', db.url, '--schemas', 'tenant_?', '--parallel', '2', '--migration-lock-timeout', '0'], { cwd });
      let seen = await sessions();
      while (seen.gated < 2) {
        assert.ok(seen.all <= 2, `${seen.all} pgpair connections with --parallel 2`);
        seen = await sessions();
      }
      assert.equal(seen.all, 2, 'two targets run together, on two connections, and no third');
      run.child.kill('SIGINT');
      const ended = await run.exited;
      assert.equal(ended.code, 130, ended.stderr);
      assert.match(ended.stdout, /2 interrupted, 2 skipped; interrupted: no new target was started/);
      assert.match(ended.stdout, /^\[1\/4\] interrupted +\S+\?schema=tenant_[12] \(exit 130\): Interrupted by SIGINT during up 0001_accounts/m);
      assert.deepEqual(await Promise.all(tenants.map((t) => currentOf(db, t))).then((c) => c.map((n) => n ?? 0)), [0, 0, 0, 0], 'nothing applied');
      assert.equal(await currentOf(db, 'tenant_3'), null, 'a skipped target was never touched');
    } finally {
      await gate.unsafe('SELECT pg_advisory_unlock_all()');
      gate.release();
    }
  });
});

describe('fleet connections', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('fleet_c');
    await db.sql.unsafe('CREATE SCHEMA c_1; CREATE SCHEMA c_2');
  });
  after(async () => db.drop());

  it('a statement that waits on a lock opens no side session in a fleet (one connection per running target); the lock timeout still ends it, exit 1', async () => {
    const cwd = workdir({ 'sql/0001_gate.up.sql': 'SELECT pg_advisory_lock_shared(16017);\nCREATE TABLE gate (id int);\n' });
    const gate = await db.sql.reserve();
    try {
      await gate.unsafe('SELECT pg_advisory_lock(16017)');
      const run = startCli(['up', '--url', `${db.url}?schema=c_1`, '--url', `${db.url}?schema=c_2`, '--migration-lock-timeout', '1500ms'], { cwd });
      let ended = false;
      void run.exited.then(() => (ended = true));
      const seen = { pgpair: 0, side: 0 };
      while (!ended) {
        const [row] = await db.sql.unsafe(`SELECT count(*) FILTER (WHERE application_name = 'pgpair')::int AS pgpair, count(*) FILTER (WHERE application_name LIKE 'pgpair-%')::int AS side FROM pg_stat_activity WHERE datname = $1`, [db.name]);
        seen.pgpair = Math.max(seen.pgpair, row!.pgpair as number);
        seen.side = Math.max(seen.side, row!.side as number);
      }
      const result = await run.exited;
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /canceling statement due to lock timeout/);
      // A single run's watcher names the holder ("held by pid … (…)") from its side session; a fleet's has none.
      assert.doesNotMatch(result.stderr, /held by pid/);
      assert.deepEqual(seen, { pgpair: 2, side: 0 });
    } finally {
      await gate.unsafe('SELECT pg_advisory_unlock_all()');
      gate.release();
    }
  });
});

describe('fleet parts', () => {
  it('splitSchema takes schema= off a URL (other parameters kept), refuses it twice, empty or next to a search_path; withSchema encodes', () => {
    assert.deepEqual(splitSchema('postgres://u:p@h/db?sslmode=disable&schema=Tenant%20One'), { url: 'postgres://u:p@h/db?sslmode=disable', schema: 'Tenant One' });
    assert.deepEqual(splitSchema('postgres://u@h/db?schema=t1'), { url: 'postgres://u@h/db', schema: 't1' });
    assert.deepEqual(splitSchema('postgres://u@h/db?options=-csearch_path%3Dx'), { url: 'postgres://u@h/db?options=-csearch_path%3Dx', schema: null });
    assert.deepEqual(splitSchema('pglite:./a?schema=x'), { url: 'pglite:./a?schema=x', schema: null }, 'a pglite path is taken as written');
    assert.throws(() => splitSchema('postgres://u:pw@h/db?schema=a&schema=b'), (e: Error) => e instanceof ConfigError && /2 times/.test(e.message) && !e.message.includes(':pw@'));
    assert.throws(() => splitSchema('postgres://u@h/db?schema='), /empty schema=/);
    assert.throws(() => splitSchema('postgres://u@h/db?schema=a&options=-c%20search_path%3Db'), /both schema= and a search_path/);
    assert.equal(withSchema('postgres://u@h/db?sslmode=disable', 'a&b c'), 'postgres://u@h/db?sslmode=disable&schema=a%26b%20c');
    assert.deepEqual(splitSchema(withSchema('postgres://u@h/db', 'a&b c')), { url: 'postgres://u@h/db', schema: 'a&b c' });
  });

  it('globToLike: * and ? become % and _, and %, _ and \\ are literal', () => {
    assert.equal(globToLike('tenant_*'), 'tenant\\_%');
    assert.equal(globToLike('a?%\\'), 'a_\\%\\\\');
  });

  it('a targets file: BOM, CRLF, comments, blanks and spaces are fine; every bad line is named at once, its password masked', () => {
    assert.deepEqual(parseTargetsFile('t.txt', '\uFEFF# fleet\r\n\r\n  postgres://u@h/a?schema=x  \r\npglite:./b\r\n'), ['postgres://u@h/a?schema=x', 'pglite:./b']);
    assert.throws(
      () => parseTargetsFile('t.txt', 'postgres://u@h/a\nmysql://u:pw9@h/b\n\npostgres://u:pw9@h/c?schema=\n'),
      (e: Error) => e instanceof ConfigError && /t\.txt:2: mysql:\/\/u:\*\*\*@h\/b is not a database URL/.test(e.message) && /t\.txt:4: .*empty schema=/.test(e.message) && !e.message.includes('pw9'),
    );
    assert.throws(() => parseTargetsFile('t.txt', '# only comments\n\n'), /names no target/);
  });

  it('PGPAIR_TARGETS splits at newlines and at a comma before a URL, never inside a multi-host URL', () => {
    assert.deepEqual(parseTargetsList('postgres://h1:5432,h2:5432/app, postgres://h3/app\n# off\npglite:./x,postgresql://h4/app'), ['postgres://h1:5432,h2:5432/app', 'postgres://h3/app', 'pglite:./x', 'postgresql://h4/app']);
  });
});

describe('the library: fleet()', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('fleet_l');
    await db.sql.unsafe('CREATE SCHEMA lib_1; CREATE SCHEMA lib_2');
  });
  after(async () => db.drop());

  it('runs a call per target and returns each outcome as data, in target order; a target that fails is a result, duplicates are refused', async () => {
    const cwd = workdir(migrations());
    const targets = ['lib_1', 'lib_missing', 'lib_2'].map((s) => withSchema(db.url, s));
    const finished: string[] = [];
    const result = await fleet<RunResult>({ targets, dir: join(cwd, 'sql'), keepGoing: true, parallel: 2, onResult: (r) => finished.push(r.label) }, (m, target) => m.up({ ...(target.signal ? { signal: target.signal } : {}) }));
    assert.equal(finished.length, 3);
    assert.deepEqual(result.results.map((r) => [r.label.replace(/.*schema=/, ''), r.outcome]), [['lib_1', 'ok'], ['lib_missing', 'failed'], ['lib_2', 'ok']]);
    assert.equal(result.stopped, null);
    assert.equal(result.results[0]!.value!.steps.length, 3);
    assert.ok(result.results[1]!.error instanceof ConfigError);
    assert.deepEqual([await currentOf(db, 'lib_1'), await currentOf(db, 'lib_2')], [3, 3]);
    await assert.rejects(fleet({ targets: [targets[0]!, targets[0]!], dir: join(cwd, 'sql') }, (m) => m.status()), /names a target twice/);
  });
});

describe('fleet attacks (fleetfix)', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('fleetfix');
    await db.sql.unsafe('CREATE SCHEMA tenant_1');
  });
  after(async () => db.drop());

  it('one target spelled two ways (default port written or not, schema percent-encoded, another password) is refused before anything connects', async () => {
    const cwd = workdir(migrations());
    const url = new URL(db.url);
    const port = url.port || '5432';
    const noPort = `postgres://${url.username}@${url.hostname}/${db.name}`;
    const withPort = withPassword(`postgres://${url.username}@${url.hostname}:${port}/${db.name}`);
    // Only meaningful where the server is on the default port (the shared one is); elsewhere the two really differ.
    if (port === '5432') {
      const run = await runCli(['up', '--url', noPort, '--url', withPort], { cwd });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /names a target twice: .*\(targets 1 and 2\)/);
      noPassword(run);
    }
    const schemas = await runCli(['up', '--url', `${db.url}?schema=tenant_1`, '--url', `${db.url}?schema=tenant%5F1&application_name=x`], { cwd });
    assert.equal(schemas.code, 2, schemas.stderr);
    assert.match(schemas.stderr, /names a target twice: \S+\?schema=tenant_1 \(targets 1 and 2\)/);
    assert.equal(await currentOf(db, 'tenant_1'), null, 'nothing ran');
  });

  it('a password with a space in it (an invalid URL) is masked in the error, from --url, a targets file and PGPAIR_TARGETS', async () => {
    const spaced = 'sp4ced s3cret';
    const bad = `postgres://root:${spaced}@127.0.0.1:5432/${db.name}`;
    const cwd = workdir({ ...migrations(), 'targets.txt': `${db.url}\n${bad}\n` });
    const runs = [
      await runCli(['status', '--url', bad], { cwd }),
      await runCli(['status', '--url', db.url, '--url', bad], { cwd }),
      await runCli(['status', '--targets', 'targets.txt'], { cwd }),
      await runCli(['status'], { cwd, env: { PGPAIR_TARGETS: `${db.url},${bad}` } }),
    ];
    for (const run of runs) {
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /it holds a space before the host/);
      assert.match(run.stderr, /postgres:\/\/root:\*\*\*@127\.0\.0\.1:5432\//);
      for (const word of spaced.split(' ')) assert.ok(!`${run.stdout}${run.stderr}`.includes(word), `password part ${word} shown:\n${run.stderr}`);
    }
  });

  it('--sql with a schema= target is refused (psql would run the migrations outside the tenant schema while recording them in its history)', async () => {
    const cwd = workdir(migrations());
    const run = await runCli(['up', '--sql', '--url', `${db.url}?schema=tenant_1`], { cwd });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /--sql cannot honour schema=tenant_1: psql does not know it/);
  });
});
