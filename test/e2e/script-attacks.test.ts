/**
 * The concrete attacks of issue 11 on `--sql` scripts, each run with the real psql
 * (`psql -X -v ON_ERROR_STOP=1 -f`) in a working directory of its own: nothing pgpair writes into
 * a script may make psql run a meta-command (a `\! touch pwned` would leave a file there), the
 * history goes into the schema pgpair would use whatever a migration did to search_path, and
 * every migration starts from the session the script started with, as if psql ran each file in
 * a new session. Where it applies, the end state is compared with a pgpair run of the same files
 * on another scratch database.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { runCli, workdir } from '../helpers/cli.js';
import { connectTo, scratchDatabase, testServerUrl, type Scratch, type Sql } from '../helpers/db.js';
import { needPsql, runPsql, type PsqlRun } from '../helpers/psql.js';
import { analyzeFile } from '../../lib/core/analyze.js';
import { splitStatements } from '../../lib/core/lexer.js';

/**
 * A pgpair run restores the session after each migration only once lib/executor.ts emits the
 * statements of lib/session-state.ts (the lead's change, made alongside this one): until then the
 * comparison with a run is reported as todo instead of failing the suite.
 */

/** Version, name and state of each history row, and the log's actions: what a script must have recorded. */
async function recorded(sql: Sql, history = 'public.pgpair_history'): Promise<string[]> {
  const rows = await sql.unsafe(`SELECT version_label || ' ' || name || ' ' || state AS r FROM ${history} ORDER BY version COLLATE "C"`);
  const log = await sql.unsafe(`SELECT action || ' ' || version AS r FROM ${history.replace(/(")?$/, '_log$1')} ORDER BY id`);
  return [...rows.map((r) => String(r.r)), ...log.map((r) => `log ${String(r.r)}`)];
}

/** History and log rows without what differs by nature between a run and a script (times, users, how). */
async function bookkeeping(sql: Sql, history: string): Promise<unknown> {
  const [probe] = await sql.unsafe(`SELECT to_regclass($1) IS NOT NULL AS exists`, [history]);
  if (!probe!.exists) return null;
  const rows = await sql.unsafe(`SELECT version, version_label, name, up_checksum, down_checksum, state, transactional, statements_done, statements_total, error FROM ${history} ORDER BY version COLLATE "C"`);
  const log = await sql.unsafe(`SELECT action, version, name, checksum, detail FROM ${history.replace(/(")?$/, '_log$1')} ORDER BY id`);
  return JSON.parse(JSON.stringify({ rows, log })) as unknown;
}

/** Tables, views and schemas outside the system, with their owners and pgpair's own tables left out. */
/** The user the test server's URL logs in as (root locally, postgres on the embedded server). */
const serverUser = decodeURIComponent(new URL(testServerUrl()).username) || 'root';

async function objects(sql: Sql): Promise<string[]> {
  const rows = await sql.unsafe(
    `SELECT format('%s %s.%s owner=%s', c.relkind, n.nspname, c.relname, pg_get_userbyid(c.relowner)) AS o
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'v') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND c.relname NOT LIKE 'pgpair\\_history%' AND c.relname NOT LIKE '%\\_log'
      UNION ALL SELECT format('schema %s', nspname) FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
  );
  return rows.map((r) => String(r.o));
}

/** `up --sql --from base` run by psql on one database, `up` run by pgpair on the other: the same objects, history and log. */
async function sameAsRun(cwd: string, scripted: Scratch, direct: Scratch): Promise<void> {
  const made = await runCli(['up', '--sql', '--from', 'base'], { cwd });
  assert.equal(made.code, 0, made.stderr);
  assertRanCleanly(await runPsql(scripted.url, made.stdout), 'script');
  const run = await runCli(['up', '--url', direct.url], { cwd });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(await objects(direct.sql), await objects(scripted.sql));
  assert.deepEqual(await bookkeeping(direct.sql, 'public.pgpair_history'), await bookkeeping(scripted.sql, 'public.pgpair_history'));
}

function assertRanCleanly(run: PsqlRun, what: string): void {
  assert.deepEqual(run.appeared, [], `${what}: psql ran a shell command or wrote a file\n${run.stderr}`);
  assert.equal(run.code, 0, `${what}: psql failed\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /invalid command|touch|ERROR/, `${what}: psql complained\n${run.stderr}`);
}

const TWO = {
  'sql/0001_first.up.sql': 'CREATE TABLE first (id int);\n',
  'sql/0001_first.down.sql': 'DROP TABLE first;\n',
  'sql/0002_second.up.sql': 'CREATE TABLE second (id int);\n',
  'sql/0002_second.down.sql': 'DROP TABLE second;\n',
};

describe('text pgpair writes into a script never starts a psql meta-command', () => {
  let scripted: Scratch;
  let direct: Scratch;
  beforeEach(async () => {
    scripted = await scratchDatabase('script_safety_a');
    direct = await scratchDatabase('script_safety_a');
  });
  afterEach(async () => {
    await scripted.drop();
    await direct.drop();
  });

  /** The script `args` print, run with psql; then the same command run by pgpair on the other database: same history. */
  async function scriptAndRun(cwd: string, given: string[], history: string, env: Record<string, string> = {}, what = given.join(' ')): Promise<void> {
    // A hostile --table schema does not exist yet: the script and the run both create it, as --create-schema asks.
    const args = given[0] === 'up' || given[0] === 'stamp' ? [...given, '--create-schema'] : given;
    const made = await runCli([...args, '--sql', ...(args.includes('--from') ? [] : ['--url', scripted.url])], { cwd, env });
    assert.equal(made.code, 0, `${what}: ${made.stderr}`);
    const ran = await runPsql(scripted.url, made.stdout);
    assertRanCleanly(ran, what);
    const runArgs = args.filter((_, i) => args[i] !== '--from' && args[i - 1] !== '--from');
    const run = await runCli([...runArgs, '--url', direct.url], { cwd, env });
    assert.equal(run.code, 0, `${what}: pgpair run: ${run.stderr}`);
    assert.deepEqual(await bookkeeping(scripted.sql, history), await bookkeeping(direct.sql, history), what);
    assert.notEqual(await bookkeeping(scripted.sql, history), null, `${what}: the history is in ${history}`);
  }

  it('a newline and \\! in --table, in connected and --from scripts, in the name and in the schema', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir(TWO);
    await scriptAndRun(cwd, ['up', '--from', 'base', '--table', 'h\n\\! touch pwned #'], `public."h\n\\! touch pwned #"`);
    await scriptAndRun(cwd, ['down', 'base', '--table', 'h\n\\! touch pwned #'], `public."h\n\\! touch pwned #"`);
    await scriptAndRun(cwd, ['up', '--table', '"s\r\\! touch pwned2 #".h'], `"s\r\\! touch pwned2 #"."h"`);
  });

  it('a newline and \\! in PGPAIR_TABLE', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir(TWO);
    const env = { PGPAIR_TABLE: 'e\n\\! touch pwned #' };
    await scriptAndRun(cwd, ['up', '--from', 'base'], `public."e\n\\! touch pwned #"`, env, 'PGPAIR_TABLE, --from');
    await scriptAndRun(cwd, ['down', 'base'], `public."e\n\\! touch pwned #"`, env, 'PGPAIR_TABLE, connected');
  });

  it('a newline and \\! in --dir (in the header and in every -- file:line comment)', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir();
    const dir = 'migrations\n\\! touch pwned #';
    mkdirSync(join(cwd, dir));
    for (const [name, text] of Object.entries(TWO)) writeFileSync(join(cwd, dir, name.slice('sql/'.length)), text);
    await scriptAndRun(cwd, ['up', '--from', 'base', '--dir', dir], 'public.pgpair_history');
    await scriptAndRun(cwd, ['down', '--dir', dir], 'public.pgpair_history');
  });

  it('a $tag$ of the history check or a quote in --table cannot end the check block early', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir(TWO);
    await scriptAndRun(cwd, ['up', '--from', 'base', '--table', "x$pgpair_check$';CREATE TABLE pwned();--"], `public."x$pgpair_check$';CREATE TABLE pwned();--"`);
    assert.equal((await scripted.sql.unsafe(`SELECT to_regclass('pwned') AS t`))[0]!.t, null, 'no SQL of the table name ran');
    // $3 in a name is no parameter: the slug written into it would end the name (in scripts and runs alike).
    await scriptAndRun(cwd, ['down', 'base', '--table', "x$pgpair_check$';CREATE TABLE pwned();--"], `public."x$pgpair_check$';CREATE TABLE pwned();--"`);
    await scriptAndRun(cwd, ['up', '--table', 'h$3'], 'public."h$3"');
  });

  it('a --table name PostgreSQL would truncate (its log table would become the history table itself) is refused, exit 2', async () => {
    const cwd = workdir(TWO);
    for (const args of [['up', '--sql', '--from', 'base'], ['up', '--url', scripted.url], ['up', '--sql', '--url', scripted.url]]) {
      const r = await runCli([...args, '--table', 'é'.repeat(24)], { cwd });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /Invalid history table name "é{24}": .*at most 47 bytes/);
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(await objects(scripted.sql), []);
    assert.equal((await scripted.sql.unsafe(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'é%'`))[0]!.n, 0);
    const longest = 'h'.repeat(47);
    await scriptAndRun(cwd, ['up', '--from', 'base', '--table', longest], `public.${longest}`);
  });

  it('a history row read from the database whose name holds a newline and \\!, and whose checksum holds $pgpair_check$', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir(TWO);
    for (const db of [scripted, direct]) {
      assert.equal((await runCli(['up', '--url', db.url], { cwd })).code, 0);
      await db.sql.unsafe(`UPDATE pgpair_history SET name = E'first\\n\\\\! touch pwned #', version_label = '0001'`);
      await db.sql.unsafe(`INSERT INTO pgpair_history (version, version_label, name, up_checksum, how, state, pgpair_version)
        VALUES ('7', '0007', E'gone\\r\\\\! touch pwned7 #', E'x$pgpair_check$;CREATE TABLE pwned();--\\n\\\\! touch pwned8 #', 'stamped', 'ok', '0')`);
    }
    // A stamp back to base removes every row, the unknown 0007 included: its name and checksum go into comments and literals.
    await scriptAndRun(cwd, ['stamp', 'base'], 'public.pgpair_history');
    assert.equal((await scripted.sql.unsafe(`SELECT to_regclass('pwned') AS t`))[0]!.t, null, 'no SQL of the history row ran');
  });
});

/** The attacks inside a migration file: the lexer's to refuse (another change); until it does, reported as todo. */
const FILE_ATTACKS: [string, string][] = [
  ['the $1$tag$ misread', 'SELECT $1$abc$ AS x, $abc$ \\! touch pwned #$abc$;\n'],
  ["standard_conforming_strings = off, then 'x\\''", "SET standard_conforming_strings = off;\nSELECT 'x\\'' \\! touch pwned\n--';\n"],
];

describe('a migration file that would make psql run a meta-command is refused, or its script runs none', () => {
  let db: Scratch;
  beforeEach(async () => {
    db = await scratchDatabase('script_safety_l');
  });
  afterEach(async () => db.drop());

  for (const [name, text] of FILE_ATTACKS) {
    const refused = splitStatements(text).problems.length > 0 || analyzeFile({ path: 'x.sql', text }).problems.length > 0;
    it(name, async (t) => {
      assert.ok(refused, 'the lexer must refuse this file');
      if (!needPsql(t)) return;
      const cwd = workdir({ 'sql/0001_attack.up.sql': text });
      for (const args of [['--from', 'base'], ['--url', db.url]]) {
        const made = await runCli(['up', '--sql', ...args], { cwd });
        if (made.code === 2) {
          assert.match(made.stderr, /sql\/0001_attack\.up\.sql:\d+/);
          assert.equal(made.stdout, '');
          continue;
        }
        assert.equal(made.code, 0, made.stderr);
        assertRanCleanly(await runPsql(db.url, made.stdout), `${name} ${args[0]}`);
      }
    });
  }
});

describe('--from scripts: the history lands in the schema resolved when the script starts, whatever a migration does', () => {
  let scripted: Scratch;
  let direct: Scratch;
  let oracle: Scratch;
  beforeEach(async () => {
    [scripted, direct, oracle] = await Promise.all([scratchDatabase('script_safety_f'), scratchDatabase('script_safety_f'), scratchDatabase('script_safety_f')]);
  });
  afterEach(async () => {
    await Promise.all([scripted.drop(), direct.drop(), oracle.drop()]);
  });

  /** Each up file run by psql in a session of its own: where a migration's objects belong (SPEC §4). */
  async function runEachFileInItsOwnSession(cwd: string, files: string[]): Promise<void> {
    for (const file of files) {
      const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', join(cwd, file), oracle.url], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${file}: ${r.stderr}`);
    }
  }

  const cases: { name: string; first: string }[] = [
    { name: 'SET search_path = other', first: 'CREATE SCHEMA other;\nSET search_path = other;\nCREATE TABLE in_other (id int);\n' },
    { name: "pg_dump's set_config('search_path', '', false)", first: "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.dumped (id int);\n" },
    { name: 'SET LOCAL search_path, SET search_path in a no-transaction file', first: '-- pgpair:no-transaction\nCREATE SCHEMA other;\nSET search_path = other, public;\nCREATE TABLE in_other (id int);\n' },
  ];
  for (const { name, first } of cases) {
    it(`0001 runs ${name}, then 0002 runs where a fresh psql session would put it`, async (t) => {
      if (!needPsql(t)) return;
      const cwd = workdir({
        'sql/0001_path.up.sql': first,
        'sql/0002_next.up.sql': 'CREATE TABLE next_table (id int);\nCREATE VIEW next_view AS SELECT * FROM next_table;\n',
      });
      const made = await runCli(['up', '--sql', '--from', 'base'], { cwd });
      assert.equal(made.code, 0, made.stderr);
      assertRanCleanly(await runPsql(scripted.url, made.stdout), name);
      await runEachFileInItsOwnSession(cwd, ['sql/0001_path.up.sql', 'sql/0002_next.up.sql']);
      assert.deepEqual(await objects(scripted.sql), await objects(oracle.sql), 'objects are where psql running each file in its own session puts them');
      assert.ok((await objects(scripted.sql)).includes(`r public.next_table owner=${serverUser}`));
      assert.deepEqual(await recorded(scripted.sql), ['0001 path ok', '0002 next ok', 'log up 0001', 'log up 0002']);
      assert.equal((await scripted.sql.unsafe(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'pgpair\\_history%' AND relnamespace <> 'public'::regnamespace`))[0]!.n, 0, 'no history table anywhere else');
      assert.equal((await runCli(['verify', '--strict', '--url', scripted.url], { cwd })).code, 0);
    });

    it(`0001 runs ${name}: the script and a pgpair run of the same files end in the same state`, async (t) => {
      if (!needPsql(t)) return;
      const cwd = workdir({
        'sql/0001_path.up.sql': first,
        'sql/0002_next.up.sql': 'CREATE TABLE next_table (id int);\nCREATE VIEW next_view AS SELECT * FROM next_table;\n',
      });
      await sameAsRun(cwd, scripted, direct);
    });
  }

  it('a session with no current schema: the script stops before changing anything, saying why', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir(TWO);
    const made = await runCli(['up', '--sql', '--from', 'base'], { cwd });
    const ran = await runPsql(scripted.url, made.stdout, { PGOPTIONS: '-c search_path=nowhere' });
    assert.equal(ran.code, 3, ran.stderr);
    assert.match(ran.stderr, /pgpair script: the session has no current schema/);
    assert.match(ran.stderr, /--table schema\.pgpair_history/);
    assert.deepEqual(await objects(scripted.sql), []);
    assert.equal((await scripted.sql.unsafe(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'pgpair%'`))[0]!.n, 0);
  });
});

describe('each migration in a script starts from the session the script started with', () => {
  let scripted: Scratch;
  let direct: Scratch;
  const role = `pgpair_script_safety_${process.pid}`;
  before(async () => {
    const admin = connectTo(testServerUrl());
    await admin.unsafe(`DROP ROLE IF EXISTS ${role}`);
    await admin.unsafe(`CREATE ROLE ${role} NOLOGIN`);
    await admin.end();
  });
  after(async () => {
    const admin = connectTo(testServerUrl());
    await admin.unsafe(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });
  beforeEach(async () => {
    [scripted, direct] = await Promise.all([scratchDatabase('script_safety_s'), scratchDatabase('script_safety_s')]);
  });
  afterEach(async () => {
    await Promise.all([scripted.drop(), direct.drop()]);
  });

  for (const [name, statement] of [
    ['SET ROLE', `SET ROLE ${role};`],
    ['SET SESSION AUTHORIZATION', `SET SESSION AUTHORIZATION ${role};`],
    ['set_config(role)', `SELECT set_config('role', '${role}', false);`],
  ] as const) {
    it(`${name} in 0001: its history row is written as the user who ran the script, and 0002 runs as that user`, async (t) => {
      if (!needPsql(t)) return;
      const cwd = workdir({
        'sql/0001_role.up.sql': `${statement}\nSELECT 1;\n`,
        'sql/0002_next.up.sql': 'CREATE TABLE next_table (id int);\n',
      });
      for (const args of [['--from', 'base'], ['--url', scripted.url]]) {
        if (args[0] === '--url') await scripted.sql.unsafe('DROP TABLE next_table, pgpair_history, pgpair_history_log');
        const made = await runCli(['up', '--sql', ...args], { cwd });
        assert.equal(made.code, 0, made.stderr);
        assertRanCleanly(await runPsql(scripted.url, made.stdout), `${name} ${args[0]}`);
        assert.deepEqual(await objects(scripted.sql), [`r public.next_table owner=${serverUser}`]);
        assert.deepEqual((await scripted.sql.unsafe(`SELECT DISTINCT applied_by FROM pgpair_history`)).map((r) => r.applied_by), [serverUser]);
        assert.deepEqual(await recorded(scripted.sql), ['0001 role ok', '0002 next ok', 'log up 0001', 'log up 0002']);
      }
    });

    it(`${name} in 0001: the script and a pgpair run of the same files end in the same state`, async (t) => {
      if (!needPsql(t)) return;
      const cwd = workdir({ 'sql/0001_role.up.sql': `${statement}\nSELECT 1;\n`, 'sql/0002_next.up.sql': 'CREATE TABLE next_table (id int);\n' });
      await sameAsRun(cwd, scripted, direct);
    });
  }

  it('RESET ALL or a forged pgpair.transaction in 0001: the script runs through, as a run does (the guard reads the transaction id)', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir({
      'sql/0001_reset.up.sql': "CREATE TABLE first_table (id int);\nRESET ALL;\nSELECT set_config('pgpair.transaction', 'forged', false);\n",
      'sql/0002_next.up.sql': 'CREATE TABLE next_table (id int);\n',
    });
    await sameAsRun(cwd, scripted, direct);
    assert.deepEqual(await recorded(scripted.sql), ['0001 reset ok', '0002 next ok', 'log up 0001', 'log up 0002']);
  });

  it('standard_conforming_strings = off set by 0001 does not change how psql reads 0002', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir({
      'sql/0001_off.up.sql': 'SET standard_conforming_strings = off;\n',
      // Under standard_conforming_strings = on (a fresh session) this is one statement selecting a string.
      'sql/0002_string.up.sql': "SELECT 'x\\'';\n\\! touch pwned\n--';\n",
    });
    const made = await runCli(['up', '--sql', '--from', 'base'], { cwd });
    if (made.code === 2) {
      // A lexer that refuses to let a migration turn it off (the file can no longer be split as psql reads it) is fine too.
      assert.match(made.stderr, /sql\/0001_off\.up\.sql:1.*standard_conforming_strings/);
      assert.equal(made.stdout, '');
      return;
    }
    assert.equal(made.code, 0, made.stderr);
    assertRanCleanly(await runPsql(scripted.url, made.stdout), 'standard_conforming_strings off in 0001');
  });

  it('a session that starts with standard_conforming_strings = off: the script refuses to run, saying why', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir({ 'sql/0001_string.up.sql': "SELECT 'x\\'';\n\\! touch pwned\n--';\n" });
    for (const args of [['--from', 'base'], ['--url', scripted.url]]) {
      const made = await runCli(['up', '--sql', ...args], { cwd });
      assert.equal(made.code, 0, made.stderr);
      const ran = await runPsql(scripted.url, made.stdout, { PGOPTIONS: '-c standard_conforming_strings=off' });
      assert.deepEqual(ran.appeared, []);
      assert.equal(ran.code, 3, ran.stderr);
      assert.match(ran.stderr, /standard_conforming_strings is off/);
      assert.equal((await scripted.sql.unsafe(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'pgpair%'`))[0]!.n, 0, 'nothing created');
    }
  });

  it('a migration that releases the migration lock stops the script before it is recorded (in a transaction: nothing of it stays)', async (t) => {
    if (!needPsql(t)) return;
    for (const directive of ['', '-- pgpair:no-transaction\n']) {
      const cwd = workdir({ 'sql/0001_unlock.up.sql': `${directive}CREATE TABLE unlocked (id int);\nSELECT pg_advisory_unlock_all();\n` });
      const made = await runCli(['up', '--sql', '--from', 'base'], { cwd });
      assert.equal(made.code, 0, made.stderr);
      const ran = await runPsql(scripted.url, made.stdout);
      assert.equal(ran.code, 3, ran.stderr);
      assert.match(ran.stderr, /pgpair: the migration released pgpair's migration lock/);
      const rows = await scripted.sql.unsafe(`SELECT version, state FROM pgpair_history`);
      if (directive === '') {
        assert.equal((await scripted.sql.unsafe(`SELECT to_regclass('unlocked') AS t`))[0]!.t, null, 'rolled back');
        assert.deepEqual(rows.map((r) => r.version), [], 'not recorded');
      } else {
        assert.deepEqual(rows.map((r) => `${r.version} ${r.state}`), ['1 running'], 'left running: pgpair status shows it failed');
        await scripted.sql.unsafe('DROP TABLE unlocked, pgpair_history, pgpair_history_log');
      }
    }
  });

  it('a session that starts in another client encoding: names stay UTF-8 after each migration', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir({ 'sql/0001_zoë.up.sql': 'SELECT 1;\n', 'sql/0002_ünïcødé.up.sql': 'SELECT 2;\n' });
    const made = await runCli(['up', '--sql', '--from', 'base'], { cwd });
    assertRanCleanly(await runPsql(scripted.url, made.stdout, { PGCLIENTENCODING: 'LATIN1' }), 'LATIN1 client');
    assert.deepEqual((await scripted.sql.unsafe(`SELECT name FROM pgpair_history ORDER BY version`)).map((r) => r.name), ['zoë', 'ünïcødé']);
  });
});
