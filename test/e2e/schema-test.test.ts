/**
 * `pgpair test` (issue 14 part 2): small migration sets that each plant one kind of broken down
 * are found at the right migration with the right objects named, a correct set passes, and
 * PGlite and the server agree on every set. Then the CLI: exit codes, stdout and stderr, --json,
 * --from, bad input, a server that is not there, and SIGINT mid-run (the scratch database is gone).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { testMigrations, type SchemaTestResult } from '../../lib/run/schema-test.js';
import { runCli, startCli, workdir } from '../helpers/cli.js';
import { connectTo, testServerUrl } from '../helpers/db.js';

type Files = Record<string, string>;

const USERS: Files = {
  '0001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);\n',
  '0001_users.down.sql': 'DROP TABLE users;\n',
};
const LAST: Files = {
  '0003_tags.up.sql': 'CREATE TABLE tags (name text PRIMARY KEY);\n',
  '0003_tags.down.sql': 'DROP TABLE tags;\n',
};

/** Each case: its 0002 (between USERS and LAST), and what the test must find. */
interface Case {
  name: string;
  files: Files;
  /** 0002's outcome, its problems' kinds, and the objects its differences name. */
  outcome: 'ok' | 'failed' | 'irreversible';
  kinds: string[];
  objects?: RegExp[];
  /** 0003's outcome (untested when 0002 left the database unusable). */
  after: 'ok' | 'untested';
}

const CASES: Case[] = [
  {
    name: 'a correct set passes',
    files: {
      '0002_posts.up.sql': "CREATE TYPE mood AS ENUM ('ok', 'meh');\nCREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users, mood mood);\nCREATE INDEX posts_user ON posts (user_id);\nCREATE FUNCTION post_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM posts $$;\nALTER TABLE users ADD COLUMN note text;\n",
      '0002_posts.down.sql': 'ALTER TABLE users DROP COLUMN note;\nDROP FUNCTION post_count();\nDROP TABLE posts;\nDROP TYPE mood;\n',
    },
    outcome: 'ok',
    kinds: [],
    after: 'ok',
  },
  {
    name: 'a down that leaves a column behind',
    files: { '0002_note.up.sql': 'ALTER TABLE users ADD COLUMN note text;\n', '0002_note.down.sql': '-- forgot the column\n' },
    outcome: 'failed',
    kinds: ['down-differs', 'not-rerunnable'],
    objects: [/^table public\.users: column note \(text\) is present in the schema after down, missing in the schema before up$/],
    after: 'untested',
  },
  {
    name: 'a down that leaves a table behind',
    files: { '0002_posts.up.sql': 'CREATE TABLE posts (id int PRIMARY KEY);\n', '0002_posts.down.sql': 'SELECT 1;\n' },
    outcome: 'failed',
    kinds: ['down-differs', 'not-rerunnable'],
    objects: [/^table public\.posts .*present in the schema after down, missing in the schema before up/],
    after: 'untested',
  },
  {
    name: 'a down that leaves an index behind',
    files: { '0002_idx.up.sql': 'CREATE INDEX users_name ON users (name);\n', '0002_idx.down.sql': '-- nothing\n' },
    outcome: 'failed',
    kinds: ['down-differs', 'not-rerunnable'],
    objects: [/^index public\.users_name .*present in the schema after down/],
    after: 'untested',
  },
  {
    name: 'a down that leaves a function behind',
    files: { '0002_fn.up.sql': 'CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;\n', '0002_fn.down.sql': '-- nothing\n' },
    outcome: 'failed',
    kinds: ['down-differs', 'not-rerunnable'],
    objects: [/^function public\.answer\(\).*present in the schema after down/],
    after: 'untested',
  },
  {
    name: 'a down that leaves a type behind',
    files: { '0002_type.up.sql': "CREATE TYPE mood AS ENUM ('ok', 'meh');\n", '0002_type.down.sql': '-- nothing\n' },
    outcome: 'failed',
    kinds: ['down-differs', 'not-rerunnable'],
    objects: [/^type public\.mood .*present in the schema after down/],
    after: 'untested',
  },
  {
    name: 'a down that drops too much',
    files: {
      '0002_idx.up.sql': 'CREATE INDEX users_name ON users (name);\n',
      '0002_idx.down.sql': 'DROP INDEX users_name;\nALTER TABLE users DROP COLUMN name;\n',
    },
    outcome: 'failed',
    // The index comes back with the second up, the column does not: the schema after up again differs too.
    kinds: ['down-differs', 'not-rerunnable'],
    objects: [/^table public\.users: column name \(text NOT NULL\) is present in the schema before up, missing in the schema after down$/],
    after: 'untested',
  },
  {
    name: 'a down that fails (file:line:col), and the run carries on',
    files: { '0002_posts.up.sql': 'CREATE TABLE posts (id int PRIMARY KEY);\n', '0002_posts.down.sql': '-- the table is called posts\nDROP TABLE post;\n' },
    outcome: 'failed',
    kinds: ['down-failed'],
    after: 'ok',
  },
  {
    name: 'an up that cannot run again after its down',
    files: { '0002_admin.up.sql': "INSERT INTO users VALUES (1, 'admin');\n", '0002_admin.down.sql': '-- rows are not schema\n' },
    outcome: 'failed',
    kinds: ['not-rerunnable'],
    after: 'untested',
  },
  {
    name: 'an up that gives another schema the second time (it depends on rows its down leaves)',
    files: {
      '0002_runs.up.sql': "INSERT INTO users SELECT coalesce(max(id), 0) + 1, 'run' FROM users;\nDO $$ BEGIN IF (SELECT count(*) FROM users) > 1 THEN CREATE INDEX users_name ON users (name); END IF; END $$;\n",
      '0002_runs.down.sql': 'DROP INDEX IF EXISTS users_name;\n',
    },
    outcome: 'failed',
    kinds: ['rerun-differs'],
    objects: [/^index public\.users_name .*present in the schema after up again, missing in the first up's schema$/],
    after: 'ok',
  },
  {
    name: 'an enum value the down cannot remove',
    files: {
      '0002_mood.up.sql': "CREATE TYPE mood AS ENUM ('ok');\n",
      '0002_mood.down.sql': 'DROP TYPE mood;\n',
      '0003_tags.up.sql': "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';\n",
      '0003_tags.down.sql': '-- PostgreSQL cannot drop an enum value\n',
    },
    outcome: 'ok',
    kinds: [],
    after: 'ok',
  },
  {
    name: 'an enum value accepted by -- pgpair:test-allow enum-value',
    files: {
      '0002_mood.up.sql': "CREATE TYPE mood AS ENUM ('ok');\n",
      '0002_mood.down.sql': 'DROP TYPE mood;\n',
      '0003_tags.up.sql': "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';\n",
      '0003_tags.down.sql': '-- pgpair:test-allow enum-value\n-- PostgreSQL cannot drop an enum value\n',
    },
    outcome: 'ok',
    kinds: [],
    after: 'ok',
  },
];

function sqlDir(files: Files): string {
  return join(workdir(Object.fromEntries(Object.entries(files).map(([name, text]) => [`sql/${name}`, text]))), 'sql');
}

const filesOf = (c: Case): Files => ({ ...USERS, ...LAST, ...c.files });

/** What must agree between the two databases: each migration's outcome, problem kinds and the differences' objects and changes. */
function summary(result: SchemaTestResult) {
  return result.migrations.map((m) => ({
    version: m.version,
    outcome: m.outcome,
    problems: m.problems.map((p) => ({ kind: p.kind, differences: p.differences.map((d) => `${d.category} ${d.object} ${d.change}`), at: p.failure ? `${p.failure.file}:${p.failure.line}:${p.failure.column}` : null })),
    allowed: m.allowed.map((d) => `${d.category} ${d.object}`),
  }));
}

describe('pgpair test finds each kind of broken down at its migration, on PGlite and on the server alike', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const dir = sqlDir(filesOf(c));
      const [embedded, server] = await Promise.all([testMigrations({ dir }), testMigrations({ dir, url: testServerUrl() })]);
      assert.equal(embedded.kind, 'embedded');
      assert.equal(server.kind, 'server');
      assert.deepEqual(summary(server), summary(embedded), 'PGlite and the server agree');
      for (const result of [embedded, server]) {
        const [first, second, third] = result.migrations;
        assert.equal(first!.outcome, 'ok', JSON.stringify(first));
        const enumCase = c.name.startsWith('an enum value');
        const tested = enumCase ? third! : second!;
        if (enumCase) {
          assert.equal(second!.outcome, 'ok');
          if (c.name.includes('test-allow')) {
            assert.equal(third!.outcome, 'ok', JSON.stringify(third));
            assert.deepEqual(third!.allowed.map((d) => `${d.category} ${d.object} ${d.a ?? d.b}`), ['enum-value type public.mood meh']);
            assert.equal(result.ok, true);
          } else {
            assert.equal(third!.outcome, 'failed');
            assert.deepEqual(third!.problems.map((p) => p.kind), ['enum-value']);
            assert.match(third!.problems[0]!.message, /meh/);
            assert.match(third!.problems[0]!.message, /PostgreSQL cannot drop a value from an enum type.*-- pgpair:test-allow enum-value/);
            assert.equal(result.ok, false);
          }
          continue;
        }
        assert.equal(tested.outcome, c.outcome, JSON.stringify(tested, null, 1));
        assert.deepEqual(tested.problems.map((p) => p.kind), c.kinds);
        const messages = tested.problems.flatMap((p) => p.differences.map((d) => d.message));
        for (const pattern of c.objects ?? []) assert.ok(messages.some((m) => pattern.test(m)), `${pattern} in ${JSON.stringify(messages)}`);
        assert.equal(third!.outcome, c.after, JSON.stringify(third));
        assert.equal(result.ok, c.outcome === 'ok' && c.after === 'ok');
        if (c.after === 'untested') {
          assert.equal(result.stoppedAt, '0002');
          assert.equal(third!.blockedBy, '0002');
        }
        if (c.kinds.includes('down-failed')) {
          const failure = tested.problems[0]!.failure!;
          assert.deepEqual([failure.direction, failure.file.endsWith('0002_posts.down.sql'), failure.line, failure.column, failure.sqlstate], ['down', true, 2, 1, '42P01']);
          assert.match(tested.problems[0]!.message, /^down failed: .*0002_posts\.down\.sql:2:1: ERROR \[42P01\]: table "post" does not exist/);
        }
        if (c.kinds.includes('not-rerunnable') && c.kinds.length === 1) assert.equal(tested.problems[0]!.failure!.sqlstate, '23505');
      }
    });
  }
});

const SERVER_ENV = () => ({ PGPAIR_TEST_URL: testServerUrl() });

describe('pgpair test on the command line', () => {
  it('prints one line per migration on stdout, logs on stderr, and exits 3 when a down is broken', async () => {
    const cwd = workdir();
    const dir = sqlDir({ ...USERS, ...LAST, ...CASES[1]!.files });
    const run = await runCli(['test', '--dir', dir], { cwd, env: SERVER_ENV() });
    assert.equal(run.code, 3, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ok {11}0001 users \(\d+ ms\)$/);
    assert.match(lines[1]!, /^FAILED {7}0002 note$/);
    assert.match(run.stdout, /  - down does not undo up: table public\.users: column note \(text\) is present in the schema after down, missing in the schema before up\n/);
    assert.match(run.stdout, /  - up after down failed: .*0002_note\.up\.sql:1:1: ERROR \[42701\]: column "note" of relation "users" already exists\n/);
    assert.doesNotMatch(run.stdout, /run pgpair up again/, 'no advice meant for a real database');
    assert.match(run.stdout, /^untested {5}0003 tags: not tested, 0002 left the scratch database where no later migration can run$/m);
    assert.match(lines.at(-1)!, /^3 migrations tested on postgres:\/\/.*\/pgpair_test_[0-9a-f]{12}: 1 ok, 1 failed, 1 untested; fix the migrations marked FAILED$/);
    assert.doesNotMatch(run.stderr, /FAILED|0002 note/);
    const json = await runCli(['test', '--dir', dir, '--json'], { cwd, env: SERVER_ENV() });
    assert.equal(json.code, 3);
    const doc = JSON.parse(json.stdout) as SchemaTestResult;
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.counts, { ok: 1, failed: 1, irreversible: 0, untested: 1 });
    assert.equal(doc.migrations[1]!.problems[0]!.differences[0]!.category, 'column');
  });

  it('passes a correct set (exit 0), embedded when no URL is given; --from tests only what comes after; an irreversible migration is reported and stays applied', async () => {
    const cwd = workdir();
    const dir = sqlDir({ ...USERS, ...LAST, ...CASES[0]!.files });
    const embedded = await runCli(['test', '--dir', dir], { cwd });
    assert.equal(embedded.code, 0, embedded.stdout + embedded.stderr);
    assert.match(embedded.stdout, /3 migrations tested on pglite:memory \(scratch\): 3 ok, 0 failed; every down undoes its up\n$/);
    assert.match(embedded.stderr, /no --url or PGPAIR_TEST_URL: testing on an embedded PGlite database in memory/);
    const from = await runCli(['test', '--dir', dir, '--from', '1', '--url', testServerUrl(), '--table', 'audit.pgpair_history'], { cwd });
    assert.equal(from.code, 0, from.stderr);
    assert.doesNotMatch(from.stdout, /0001 users/);
    assert.match(from.stdout, /2 migrations tested on .* \(after 1 applied as setup, up to 0001\): 2 ok, 0 failed/);
    const irreversible = sqlDir({ ...USERS, ...LAST, '0002_seed.up.sql': 'CREATE TABLE seed (id int);\n' });
    const run = await runCli(['test', '--dir', irreversible, '--json'], { cwd, env: SERVER_ENV() });
    assert.equal(run.code, 0, run.stdout);
    const doc = JSON.parse(run.stdout) as SchemaTestResult;
    assert.deepEqual(doc.migrations.map((m) => m.outcome), ['ok', 'irreversible', 'ok']);
    const text = await runCli(['test', '--dir', irreversible], { cwd, env: SERVER_ENV() });
    assert.match(text.stdout, /^irreversible 0002 seed: no down file; applied, and the next migrations are tested on top of it$/m);
    assert.match(text.stdout, /2 ok, 0 failed, 1 irreversible/);
  });

  it('refuses bad input with exit 2 and a server that is not there with exit 1, never DATABASE_URL', async () => {
    const cwd = workdir();
    const dir = sqlDir(USERS);
    const from = await runCli(['test', '--dir', dir, '--from', 'v2'], { cwd });
    assert.equal(from.code, 2);
    assert.match(from.stderr, /--from "v2" is not a version/);
    const pglite = await runCli(['test', '--dir', dir, '--url', 'pglite:./db'], { cwd });
    assert.equal(pglite.code, 2);
    assert.match(pglite.stderr, /a pglite:PATH directory is not used/);
    const gone = await runCli(['test', '--dir', dir, '--url', 'postgres://root:s3cret-pw@127.0.0.1:1/postgres', '--connect-timeout', '2s'], { cwd });
    assert.equal(gone.code, 1, gone.stderr);
    assert.doesNotMatch(gone.stdout + gone.stderr, /s3cret-pw/);
    // A user who may not create databases: said plainly, exit 1, nothing left behind.
    const admin = connectTo(testServerUrl());
    const role = `pgpair_nocreatedb_${process.pid}`;
    try {
      // With a password: the suite's throwaway server checks them (a trusting one ignores it).
      await admin.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD 'n0-createdb-pw'`);
      const url = new URL(testServerUrl());
      url.username = role;
      url.password = 'n0-createdb-pw';
      const denied = await runCli(['test', '--dir', dir, '--url', url.toString()], { cwd });
      assert.equal(denied.code, 1, denied.stderr);
      assert.match(denied.stderr, /^error: Cannot create the scratch database pgpair_test_[0-9a-f]{12} on .* \(the user needs the CREATEDB privilege\): permission denied to create database \[42501\]\n$/m);
      assert.doesNotMatch(denied.stderr + denied.stdout, /n0-createdb-pw|unexpected/);
    } finally {
      await admin.unsafe(`DROP ROLE IF EXISTS "${role}"`);
      await admin.end();
    }
    // DATABASE_URL names the database to migrate: pgpair test never makes databases beside it.
    const dbUrl = await runCli(['test', '--dir', dir], { cwd, env: { DATABASE_URL: 'postgres://root@127.0.0.1:1/postgres' } });
    assert.equal(dbUrl.code, 0, dbUrl.stderr);
    assert.match(dbUrl.stdout, /on pglite:memory/);
  });

  it('on the embedded database, a failing down and a non-transactional migration leave no warnings on stderr', async () => {
    const cwd = workdir();
    const failing = CASES.find((c) => c.kinds.includes('down-failed'))!;
    const dir = sqlDir({ ...USERS, ...LAST, ...failing.files, '0004_idx.up.sql': 'CREATE INDEX CONCURRENTLY users_name ON users (name);\n', '0004_idx.down.sql': 'DROP INDEX CONCURRENTLY users_name;\n' });
    const run = await runCli(['test', '--dir', dir, '--log-format', 'json'], { cwd });
    assert.equal(run.code, 3, run.stdout + run.stderr);
    assert.match(run.stdout, /^ok {11}0004 idx /m);
    const logged = run.stderr.trim().split('\n').map((line) => JSON.parse(line) as { level: number; msg: string });
    assert.deepEqual(logged.filter((entry) => entry.level >= 40), [], 'no warnings');
  });

  it('SIGINT mid-run stops it (exit 130) and the scratch database is gone', async () => {
    const cwd = workdir();
    const dir = sqlDir({ ...USERS, '0002_slow.up.sql': 'SELECT pg_sleep(30.25);\n', '0002_slow.down.sql': '-- nothing\n' });
    const cli = startCli(['test', '--dir', dir], { cwd, env: SERVER_ENV() });
    const admin = connectTo(testServerUrl());
    try {
      let datname: string | null = null;
      // Wait for the state: the slow statement running on a scratch database.
      const deadline = Date.now() + 30_000;
      while (datname === null && Date.now() < deadline) {
        const rows = await admin.unsafe(`SELECT datname FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30.25)%' AND datname LIKE 'pgpair\\_test\\_%' AND pid <> pg_backend_pid()`);
        datname = rows[0] ? String(rows[0].datname) : null;
        if (datname === null) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(datname, 'the scratch database was seen');
      cli.child.kill('SIGINT');
      const run = await cli.exited;
      assert.equal(run.code, 130, run.stderr);
      assert.match(run.stderr, new RegExp(`error: Interrupted by SIGINT during 0002 on the scratch database ${datname}, which is removed; nothing else was changed\\.\\n`));
      assert.doesNotMatch(run.stderr, /run pgpair up again/);
      const left = await admin.unsafe('SELECT datname FROM pg_database WHERE datname = $1', [datname]);
      assert.equal(left.length, 0, `${datname} was dropped`);
    } finally {
      cli.child.kill('SIGKILL');
      await admin.end();
    }
  });
});
