/**
 * `--sql` scripts against real PostgreSQL and the real psql: a script run by
 * `psql -X -v ON_ERROR_STOP=1 -f` must leave a database exactly where pgpair
 * itself would (schema, data, history and log rows), and must stop at its
 * first check, changing nothing, when the database is not the one it was
 * generated for.
 *
 * Tests that need psql are skipped, with the reason, when psql is not
 * installed, unless CI or CI_REQUIRE_PSQL is set, where they fail instead
 * (test/helpers/psql.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import * as pgpair from '../../lib/index.js';
import { LOCK_KEY_SQL } from '../../lib/run/lock.js';
import { runCli, workdir } from '../helpers/cli.js';
import { needPsql, runPsql } from '../helpers/psql.js';
import { scratchDatabase, tables, type Scratch, type Sql } from '../helpers/db.js';

// ---------------------------------------------------------------------------------------------
// A migration directory with every kind of file the executor distinguishes.

const CORPUS: Record<string, string> = {
  '0001_schema_and_types.up.sql': `-- A schema of its own, an enum, identity, quoted identifiers.
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE app.people (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  mood app.mood,
  "Weird ""Name""; really" text
);
COMMENT ON TABLE app.people IS 'people; with a semicolon and a ''quote''';
INSERT INTO app.people (name, mood) VALUES ('Zoë', 'happy'), ('O''Brien', 'ok');
`,
  '0001_schema_and_types.down.sql': 'DROP TABLE app.people;\nDROP TYPE app.mood;\nDROP SCHEMA app;\n',
  '0002_functions.up.sql': readFileSync(new URL('../fixtures/statements/0001_functions.up.sql', import.meta.url), 'utf8'),
  '0002_functions.down.sql': readFileSync(new URL('../fixtures/statements/0001_functions.down.sql', import.meta.url), 'utf8'),
  '0003_copy.up.sql': `${readFileSync(new URL('../fixtures/statements/0002_copy.up.sql', import.meta.url), 'utf8')}
INSERT INTO measurements VALUES (4, E'back\\\\slash ''quoted''', 'ünïcødé ✓', U&'\\0041\\00e9');
`,
  '0003_copy.down.sql': 'DROP TABLE measurements;\n',
  '0004_index_concurrently.up.sql': readFileSync(new URL('../fixtures/statements/0003_index_concurrently.up.sql', import.meta.url), 'utf8'),
  '0004_index_concurrently.down.sql': readFileSync(new URL('../fixtures/statements/0003_index_concurrently.down.sql', import.meta.url), 'utf8'),
  '0005_own_transaction.up.sql': readFileSync(new URL('../fixtures/statements/0004_own_transaction.up.sql', import.meta.url), 'utf8'),
  '0005_own_transaction.down.sql': readFileSync(new URL('../fixtures/statements/0004_own_transaction.down.sql', import.meta.url), 'utf8'),
  "0006_it's_a_no-op.up.sql": '-- Nothing to do yet: a comment-only file is a valid no-op.\n',
  "0006_it's_a_no-op.down.sql": '',
  '0007_no_final_semicolon.up.sql': "ALTER TABLE notes ADD COLUMN tags text[] DEFAULT '{}'",
  '0007_no_final_semicolon.down.sql': 'ALTER TABLE notes DROP COLUMN tags',
  '0008_directive.up.sql': '-- pgpair:no-transaction\nCREATE TABLE counters (name text PRIMARY KEY, n int NOT NULL);\nINSERT INTO counters VALUES ($$a;b$$, 1);\nVACUUM counters;\n',
  '0008_directive.down.sql': 'DROP TABLE counters;\n',
  '0009_view_and_trigger.up.sql':
    '\ufeff-- BOM and CRLF line endings: normalised before they run.\r\nCREATE VIEW note_bodies AS SELECT id, body FROM notes;\r\nCREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $body$\r\nBEGIN\r\n  NEW.body := NEW.body || \'!\';\r\n  RETURN NEW;\r\nEND\r\n$body$;\r\nCREATE TRIGGER notes_touch BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION touch();\r\n',
  '0009_view_and_trigger.down.sql': 'DROP TRIGGER notes_touch ON notes;\nDROP FUNCTION touch();\nDROP VIEW note_bodies;\n',
  '20150100000001000000_big_version.up.sql': 'CREATE TABLE big (x numeric);\nINSERT INTO big VALUES (20150100000001000000);\n',
  '20150100000001000000_big_version.down.sql': 'DROP TABLE big;\n',
};

const VERSIONS = ['0001', '0002', '0003', '0004', '0005', '0006', '0007', '0008', '0009', '20150100000001000000'];

function corpusDir(): string {
  const cwd = workdir(Object.fromEntries(Object.entries(CORPUS).map(([name, text]) => [`sql/${name}`, text])));
  return join(cwd, 'sql');
}

// ---------------------------------------------------------------------------------------------
// What a database looks like: schema, data, history and log, without the parts that differ by
// nature between a run and a script (times, durations, users, how = executed/script).

async function snapshot(sql: Sql, table = 'public.pgpair_history') {
  const notPgpair = `NOT LIKE 'pgpair\\_history%'`;
  const system = `('pg_catalog', 'information_schema', 'pg_toast')`;
  const schemas = await sql.unsafe(`SELECT nspname FROM pg_namespace WHERE nspname NOT IN ${system} AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`);
  const columns = await sql.unsafe(
    `SELECT table_schema, table_name, column_name, data_type, udt_name, is_nullable, column_default, is_identity
       FROM information_schema.columns WHERE table_schema NOT IN ${system} AND table_name ${notPgpair} ORDER BY 1, 2, ordinal_position`,
  );
  const indexes = await sql.unsafe(
    `SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid, i.indisready
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ${system} AND c.relname ${notPgpair} ORDER BY 1, 2`,
  );
  const constraints = await sql.unsafe(
    `SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE connamespace NOT IN (SELECT oid FROM pg_namespace WHERE nspname IN ${system}) AND conrelid::regclass::text NOT LIKE '%pgpair\\_history%' ORDER BY 1, 2`,
  );
  const functions = await sql.unsafe(
    `SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS def FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname NOT IN ${system} AND p.prokind IN ('f', 'p') AND p.proname ${notPgpair} ORDER BY 1`,
  );
  const types = await sql.unsafe(
    `SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 ORDER BY 1`,
  );
  const views = await sql.unsafe(`SELECT table_schema, table_name, view_definition FROM information_schema.views WHERE table_schema NOT IN ${system} ORDER BY 1, 2`);
  const triggers = await sql.unsafe(
    `SELECT tgrelid::regclass::text AS rel, tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE NOT tgisinternal AND tgname ${notPgpair} ORDER BY 1, 2`,
  );
  const comments = await sql.unsafe(
    `SELECT c.relname, d.description FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
      WHERE d.classoid = 'pg_class'::regclass AND c.relname ${notPgpair} AND c.relnamespace NOT IN (SELECT oid FROM pg_namespace WHERE nspname IN ${system}) ORDER BY 1`,
  );
  const data: Record<string, unknown> = {};
  const userTables = await sql.unsafe(
    `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ${system} AND tablename ${notPgpair} ORDER BY 1`,
  );
  for (const { name } of userTables) {
    const [row] = await sql.unsafe(`SELECT coalesce(json_agg(t ORDER BY t::text), '[]') AS rows FROM ${String(name)} t`);
    data[String(name)] = row!.rows;
  }
  const [probe] = await sql.unsafe(`SELECT to_regclass($1) IS NOT NULL AS exists`, [table]);
  const how = `CASE how WHEN 'executed' THEN 'run' WHEN 'script' THEN 'run' ELSE how END`;
  const history = probe!.exists
    ? await sql.unsafe(
        `SELECT version, version_label, name, up_checksum, down_checksum, ${how} AS how, state, transactional, statements_done, statements_total, error, pgpair_version
           FROM ${table} ORDER BY version::numeric`,
      )
    : null;
  const log = probe!.exists ? await sql.unsafe(`SELECT action, version, name, checksum, ${how} AS how, detail, pgpair_version FROM ${table}_log ORDER BY id`) : null;
  const plain = (rows: unknown) => JSON.parse(JSON.stringify(rows)) as unknown;
  return plain({ schemas, columns, indexes, constraints, functions, types, views, triggers, comments, data, history, log });
}

/** Rows whose `how` says how they were recorded, by version label. */
async function hows(sql: Sql, table = 'public.pgpair_history'): Promise<Record<string, string>> {
  const rows = await sql.unsafe(`SELECT version_label, how FROM ${table}`);
  return Object.fromEntries(rows.map((r) => [String(r.version_label), String(r.how)]));
}

/** Waits until a session with this application_name holds an advisory lock in the database. */
async function lockHeldBy(sql: Sql, applicationName: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows = await sql.unsafe(
      `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [applicationName],
    );
    if (rows.length > 0) return;
    if (Date.now() > deadline) throw new Error(`no session named ${applicationName} took the migration lock within 15s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---------------------------------------------------------------------------------------------
// A seeded walk through up/down/stamp requests, each carried out both ways.

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Request =
  | { command: 'up'; target?: string; steps?: number }
  | { command: 'down'; target?: string; steps?: number }
  | { command: 'stamp'; target: string };

/** A valid request from the current position (index into VERSIONS, -1 = base). */
function pickRequest(random: () => number, at: number, stamping: boolean): Request {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const above = VERSIONS.slice(at + 1);
  const below = VERSIONS.slice(0, Math.max(0, at));
  if (stamping) return { command: 'stamp', target: pick(['base', 'head', ...VERSIONS]) };
  const options: Request[] = [{ command: 'up' }, { command: 'down' }];
  if (above.length > 0) options.push({ command: 'up', target: pick(above) }, { command: 'up', steps: 1 + Math.floor(random() * 3) }, { command: 'up' });
  if (at >= 0) options.push({ command: 'down', target: pick(['base', ...below]) }, { command: 'down', steps: 1 + Math.floor(random() * 3) }, { command: 'down', target: 'base' });
  return pick(options);
}

function describeRequest(r: Request): string {
  return `${r.command}${r.target !== undefined ? ` ${r.target}` : ''}${'steps' in r && r.steps !== undefined ? ` --steps ${r.steps}` : ''}`;
}

describe('--sql scripts run by psql reach exactly the state pgpair reaches', () => {
  let direct: Scratch;
  let scripted: Scratch;
  before(async () => {
    direct = await scratchDatabase('script_h');
    scripted = await scratchDatabase('script_h');
  });
  after(async () => {
    await direct.drop();
    await scripted.drop();
  });

  it('over a seeded walk of up, down and stamp requests, with scripts made from the database and from the files alone', async (t) => {
    if (!needPsql(t)) return;
    const dir = corpusDir();
    const seed = Number(process.env.PGPAIR_SCRIPT_SEED ?? 20240605);
    const random = prng(seed);
    const guardRandom = prng(seed + 1);
    let at = -1;
    let compared = 0;
    let largest = 0;
    const modes = { database: 0, files: 0, guarded: 0 };
    const walk: string[] = [];
    const total = 44;
    for (let i = 0; i < total; i++) {
      // The last stretch stamps: stamping does not run SQL, so schema and history part ways on purpose there.
      const stamping = i >= total - 10;
      const request = pickRequest(random, at, stamping);
      const offline = random() < 0.5;
      // Guards on some requests, from a generator of their own so that the walk stays the one its seed names: both runners set and reset them.
      const guarded = guardRandom() < 0.4;
      if (guarded) modes.guarded++;
      const label = `#${i} ${describeRequest(request)}${guarded ? ' with --statement-timeout and --migration-lock-timeout' : ''} (${offline ? `--from ${at < 0 ? 'base' : VERSIONS[at]}` : 'read from the database'}, seed ${seed})`;
      walk.push(label);
      const common = {
        dir,
        ...(request.target !== undefined ? { target: request.target } : {}),
        ...('steps' in request && request.steps !== undefined ? { steps: request.steps } : {}),
        ...(guarded ? { statementTimeoutMs: 60_000, migrationLockTimeoutMs: 30_000 } : {}),
      };
      const generated = await pgpair.script({
        ...common,
        command: request.command,
        ...(offline ? { from: at < 0 ? 'base' : VERSIONS[at]! } : { url: scripted.url }),
      });
      const result =
        request.command === 'up'
          ? await pgpair.up({ ...common, url: direct.url })
          : request.command === 'down'
            ? await pgpair.down({ ...common, url: direct.url })
            : await pgpair.stamp({ dir, url: direct.url, target: request.target });
      assert.equal(generated.plan.from, result.from, label);
      assert.equal(generated.plan.to, result.to, label);
      assert.deepEqual(
        generated.plan.steps.map((s) => `${s.action} ${s.action === 'unstamp' ? s.row.version : s.migration.version}`),
        result.steps.map((s) => `${s.action} ${s.version}`),
        label,
      );
      const ran = await runPsql(scripted.url, generated.text);
      assert.equal(ran.code, 0, `${label}: psql failed\n${ran.stderr}\n--- script ---\n${generated.text}`);
      const [got, wanted] = [await snapshot(scripted.sql), await snapshot(direct.sql)];
      assert.deepEqual(got, wanted, `${label}: the databases differ\n--- script ---\n${generated.text}`);
      largest = Math.max(largest, Object.keys((wanted as { data: object }).data).length);
      compared++;
      modes[offline ? 'files' : 'database']++;
      at = result.to === null ? -1 : VERSIONS.indexOf(result.to);
    }
    // Executed steps are recorded as 'script', stamps as 'stamped'; verify and status agree with the files.
    const recorded = await hows(scripted.sql);
    const directHows = await hows(direct.sql);
    for (const [version, how] of Object.entries(recorded)) assert.equal(how, directHows[version] === 'executed' ? 'script' : directHows[version], version);
    const verified = await pgpair.verify({ url: scripted.url, dir });
    assert.equal(verified.ok, true, JSON.stringify(verified.problems));
    t.diagnostic(`compared ${compared} plans (${modes.database} scripts from the database, ${modes.files} from the files alone): ${walk.join('; ')}`);
    assert.equal(compared, total);
    assert.ok(largest >= 6, `the walk reached the later migrations (at most ${largest} tables compared)`);
    assert.ok(modes.database > 5 && modes.files > 5);
    assert.ok(modes.guarded > 5, `requests with guards: ${modes.guarded}`);
  });
});

describe('a script that does not fit the database stops at its first check and changes nothing', () => {
  let db: Scratch;
  beforeEach(async () => {
    db = await scratchDatabase('script_h');
  });
  afterEach(async () => db.drop());

  it('when run twice, and when the database moved on since it was generated', async (t) => {
    if (!needPsql(t)) return;
    const dir = corpusDir();
    const upTo3 = await pgpair.script({ dir, url: db.url, command: 'up', target: '0003' });
    assert.equal(upTo3.plan.steps.length, 3);
    assert.deepEqual(await tables(db.sql), [], 'generating a script from the database writes nothing, not even the history table');
    const first = await runPsql(db.url, upTo3.text);
    assert.equal(first.code, 0, first.stderr);
    const applied = await snapshot(db.sql);

    const second = await runPsql(db.url, upTo3.text);
    assert.equal(second.code, 3, 'psql exits 3 when ON_ERROR_STOP stops a script');
    assert.match(second.stderr, /pgpair script: the history in public\.pgpair_history is not the one this script was generated for; nothing was changed/);
    assert.match(second.stderr, /DETAIL: {2}expected \{\}, found \{"1 ok sha256:[0-9a-f]{64}","2 ok sha256:[0-9a-f]{64}","3 ok sha256:[0-9a-f]{64}"\}/);
    assert.doesNotMatch(second.stdout, /INSERT|CREATE/);
    assert.deepEqual(await snapshot(db.sql), applied);

    // Generated from the files for a database at 0003; pgpair moves it on before the script runs.
    const downFrom3 = await pgpair.script({ dir, command: 'down', from: '0003' });
    const upFrom3 = await pgpair.script({ dir, command: 'up', from: '0003', target: '0005' });
    await pgpair.up({ dir, url: db.url, target: '0004' });
    const movedOn = await snapshot(db.sql);
    for (const stale of [downFrom3, upFrom3]) {
      const r = await runPsql(db.url, stale.text);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /not the one this script was generated for; nothing was changed/);
      assert.deepEqual(await snapshot(db.sql), movedOn);
    }

    // An edited file (checksum) is a different history too, even at the same versions.
    const upFrom4 = await pgpair.script({ dir, command: 'up', from: '0004', target: '0005' });
    await db.sql.unsafe(`UPDATE pgpair_history SET up_checksum = 'sha256:edited' WHERE version = '2'`);
    const edited = await runPsql(db.url, upFrom4.text);
    assert.equal(edited.code, 3);
    assert.match(edited.stderr, /"2 ok sha256:edited"/);
  });

  it('a script and a pgpair run take the same lock, so they never interleave', async (t) => {
    if (!needPsql(t)) return;
    const cwd = workdir({
      'sql/0001_slow.up.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(2);\n',
      'sql/0001_slow.down.sql': 'DROP TABLE slow;\n',
      'sql/0002_next.up.sql': 'CREATE TABLE next (id int);\n',
      'sql/0002_next.down.sql': 'DROP TABLE next;\n',
    });
    const dir = join(cwd, 'sql');
    // The key the script computes is lib/lock.ts's expression, evaluated by the server.
    const generated = await pgpair.script({ dir, command: 'up', from: 'base', lockTimeoutMs: 500 });
    // Without a connection the schema is the current one of the session that runs the script, resolved once when it starts.
    const resolved = "SELECT current_schema() AS pgpair_history_schema \\gset\n";
    const pinned = "SELECT set_config('pgpair.history_schema', :'pgpair_history_schema', false) AS \"history schema\";\n";
    const lock = `SELECT pg_advisory_lock(${LOCK_KEY_SQL.split('$1').join("current_setting('pgpair.history_schema') || '.pgpair_history'")});`;
    assert.ok(generated.text.indexOf(resolved) < generated.text.indexOf(`${pinned}${lock}`) && generated.text.indexOf(resolved) > 0, generated.text);

    // The script holds the lock while its slow migration runs: pgpair waits, then gives up naming psql.
    const scriptRun = runPsql(db.url, generated.text.replace(/ON_ERROR_STOP on/, 'ON_ERROR_STOP on\nSET application_name = \'dba-script\';'));
    await lockHeldBy(db.sql, 'dba-script');
    const blocked = await runCli(['up', '--url', db.url, '--lock-timeout', '500ms'], { cwd });
    assert.equal(blocked.code, 1, blocked.stderr);
    assert.match(blocked.stderr, /dba-script/);
    assert.equal((await scriptRun).code, 0);

    // pgpair holds the lock while its slow migration runs: the script waits lock_timeout, then stops before its check.
    await pgpair.down({ dir, url: db.url, target: 'base' });
    const again = await pgpair.script({ dir, command: 'up', url: db.url, lockTimeoutMs: 500 });
    const pgpairRun = runCli(['up', '--url', db.url], { cwd });
    await lockHeldBy(db.sql, 'pgpair');
    const waited = await runPsql(db.url, again.text);
    assert.equal(waited.code, 3, waited.stderr);
    assert.match(waited.stderr, /canceling statement due to lock timeout/);
    assert.equal((await pgpairRun).code, 0);
    assert.deepEqual(
      (await db.sql.unsafe(`SELECT version_label, how FROM pgpair_history ORDER BY version::numeric`)).map((r) => `${r.version_label} ${r.how}`),
      ['0001 executed', '0002 executed'],
    );
  });
});

describe('pgpair up|down|stamp --sql on the command line', () => {
  let db: Scratch;
  beforeEach(async () => {
    db = await scratchDatabase('script_h');
  });
  afterEach(async () => db.drop());

  const basic = () =>
    workdir({
      'sql/0001_create_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY);\n',
      'sql/0001_create_users.down.sql': 'DROP TABLE users;\n',
      'sql/0002_add_email.up.sql': 'ALTER TABLE users ADD COLUMN email text;\n',
      'sql/0002_add_email.down.sql': 'ALTER TABLE users DROP COLUMN email;\n',
    });

  it('prints only the script on stdout, reads the database without writing to it, and psql applies it', async (t) => {
    const cwd = basic();
    const r = await runCli(['up', '--sql', '--url', db.url], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-- -+\n-- pgpair up: from base to 0002 \(apply 2 migrations\)\.\n-- Generated \d{4}-\d\d-\d\dT[\d:.]+Z by pgpair \d+\.\d+\.\d+ \(pgpair up --sql\)\.\n/);
    assert.match(r.stdout, /\n\\set ON_ERROR_STOP on\n/);
    assert.match(r.stdout, /\nBEGIN;\nSELECT txid_current\(\) AS pgpair_xid \\gset\nSELECT set_config\('lock_timeout', '5000ms', true\);\n(-- .*\n){2}\n-- sql\/0001_create_users\.up\.sql:1\nCREATE TABLE users \(id int PRIMARY KEY\);\n\n(-- .*\n){2}SELECT set_config\('pgpair\.transaction', :'pgpair_xid', true\);\nDO \$pgpair\$[\s\S]*?\$pgpair\$;\nSET SESSION AUTHORIZATION DEFAULT; RESET ALL; .*; RESET ROLE;\nINSERT INTO "public"\."pgpair_history" /);
    assert.doesNotMatch(r.stdout, /^(applied|now at) /m, "no run output mixed into the script");
    assert.match(r.stderr, /nothing was run/);
    assert.deepEqual(await tables(db.sql), [], 'nothing created by --sql');
    if (!needPsql(t)) return;
    const ran = await runPsql(db.url, r.stdout);
    assert.equal(ran.code, 0, ran.stderr);
    const verify = await runCli(['verify', '--url', db.url], { cwd });
    assert.equal(verify.code, 0, verify.stdout);
    const status = await runCli(['status', '--json', '--url', db.url], { cwd });
    const report = JSON.parse(status.stdout) as { current: string; migrations: { version: string; state: string; how: string }[] };
    assert.equal(report.current, '0002');
    assert.deepEqual(report.migrations.map((m) => `${m.version} ${m.state} ${m.how}`), ['0001 applied script', '0002 applied script']);

    // down and stamp the same way.
    const down = await runCli(['down', '--sql', '--url', db.url], { cwd });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /-- pgpair down: from 0002 to 0001 \(revert 1 migration\)/);
    assert.equal((await runPsql(db.url, down.stdout)).code, 0);
    const stamp = await runCli(['stamp', 'head', '--sql', '--url', db.url], { cwd });
    assert.equal(stamp.code, 0, stamp.stderr);
    assert.match(stamp.stdout, /-- stamp 0002_add_email: recorded as applied; sql\/0002_add_email\.up\.sql is not run\./);
    assert.equal((await runPsql(db.url, stamp.stdout)).code, 0);
    const after = await runCli(['status', '--json', '--url', db.url], { cwd });
    assert.deepEqual((JSON.parse(after.stdout) as typeof report).migrations.map((m) => `${m.version} ${m.state} ${m.how}`), ['0001 applied script', '0002 applied stamped']);
  });

  it('--from needs no database at all, not even a URL, and works with targets, --steps and --table', async (t) => {
    const cwd = basic();
    // Without --create-schema a script creates no schema, as a run does not (it stops where the history table is made).
    const plain = await runCli(['up', '--sql', '--from', 'base', '--table', 'ops.migrations'], { cwd });
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout, /CREATE SCHEMA/);
    const r = await runCli(['up', '0002', '--steps', '1', '--sql', '--from', 'base', '--table', 'ops.migrations', '--create-schema'], { cwd, env: { CI: 'true', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /-- pgpair up: from base to 0001 \(apply 1 migration\)\.\n-- Generated .* \(pgpair up 0002 --steps 1 --table ops\.migrations --create-schema --sql --from base\)\./);
    assert.match(r.stdout, /Starting state: assumed from the files alone \(--from base\): an empty history; no database was read\./);
    assert.match(r.stdout, /CREATE SCHEMA IF NOT EXISTS "ops";/);
    assert.match(r.stdout, /INSERT INTO "ops"\."migrations" /);
    assert.doesNotMatch(r.stdout, /0002_add_email\.up\.sql:/);
    if (!needPsql(t)) return;
    assert.equal((await runPsql(db.url, r.stdout)).code, 0);
    const next = await runCli(['up', '--sql', '--from', '0001', '--table', 'ops.migrations'], { cwd });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /a history holding exactly 0001, with the checksums of the files/);
    assert.doesNotMatch(next.stdout, /CREATE TABLE IF NOT EXISTS/, 'a history at 0001 exists already');
    assert.equal((await runPsql(db.url, next.stdout)).code, 0);
    const verify = await runCli(['verify', '--strict', '--table', 'ops.migrations', '--url', db.url], { cwd });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  it('usage errors: --from without --sql, an unknown --from version; drift refuses as up does; --json', async () => {
    const cwd = basic();
    const noSql = await runCli(['up', '--from', '0001', '--url', db.url], { cwd });
    assert.equal(noSql.code, 2);
    assert.match(noSql.stderr, /--from only goes with --sql/);
    assert.equal(noSql.stdout, '');
    const unknown = await runCli(['down', '--sql', '--from', '0009'], { cwd });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--from 0009: no migration has that version\. Known versions: 0001, 0002/);
    const bad = await runCli(['up', '--sql', '--from', 'yesterday'], { cwd });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid --from "yesterday"/);
    const stampNoTarget = await runCli(['stamp', '--sql', '--from', 'base'], { cwd });
    assert.equal(stampNoTarget.code, 2);

    await runCli(['up', '--url', db.url, '--table', 'drift_history'], { cwd });
    writeFileSync(join(cwd, 'sql', '0001_create_users.up.sql'), 'CREATE TABLE users (id bigint PRIMARY KEY);\n');
    const drift = await runCli(['up', '--sql', '--url', db.url, '--table', 'drift_history'], { cwd });
    assert.equal(drift.code, 3);
    assert.equal(drift.stdout, '');
    assert.match(drift.stderr, /changed after it was applied/);

    const json = await runCli(['down', 'base', '--sql', '--json', '--from', '0002'], { cwd });
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { ok: boolean; command: string; from: string; to: null; steps: { action: string; version: string }[]; script: string };
    assert.deepEqual([doc.ok, doc.command, doc.from, doc.to], [true, 'down', '0002', null]);
    assert.deepEqual(doc.steps.map((s) => `${s.action} ${s.version}`), ['down 0002', 'down 0001']);
    assert.match(doc.script, /^-- -+\n-- pgpair down: from 0002 to base/);
  });
});
