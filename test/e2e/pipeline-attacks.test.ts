/**
 * Attacks on the pipeline across migrations (lib/run/execute/pipeline.ts) from migrations whose
 * statements pgpair reads as plain DDL (classify.ts inertStatements): a migration of only such statements
 * gets no check after its statements and, before the fix, neither the lock guard nor the session
 * restore before its history row. Each test runs at least two migrations, so that the pipeline is
 * used, and asserts what a user sees: the exit code, the message, the history and the schema.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { up } from '../../lib/index.js';
import { runCli, startCli, workdir } from '../helpers/cli.js';
import { capturingLogger, holder, retries } from '../helpers/locks.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

/** The versions recorded as applied, as the log spells them (0001, …), in order. */
async function applied(db: Scratch): Promise<string[]> {
  const rows = await db.sql.unsafe(`SELECT version FROM pgpair_history_log WHERE action = 'up' ORDER BY id`);
  const live = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pgpair_history WHERE state = 'ok'`);
  const versions = rows.map((r) => String(r.version));
  assert.equal(live[0]!.n, versions.length, 'the history and its log agree');
  return versions;
}

/** The lines of stdout that say a migration was applied. */
const saidApplied = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('applied ')).length;

const noStack = (stderr: string) => assert.doesNotMatch(stderr, /\n\s+at .+:\d+:\d+\)?\n|unexpected/i, 'no stack trace, no "unexpected"');

describe('plain DDL that runs the user\'s code, in the pipeline across migrations', () => {
  const made: Scratch[] = [];
  const fresh = async (): Promise<Scratch> => {
    const db = await scratchDatabase('atk_pipe');
    made.push(db);
    return db;
  };
  after(async () => {
    for (const db of made) await db.drop();
  });

  it('CREATE TABLE … PARTITION OF evaluates its bound: a function there that releases the lock rolls that migration back', async () => {
    const db = await fresh();
    const cwd = workdir({
      'sql/0001_parent.up.sql':
        'CREATE FUNCTION atk_let_go() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_unlock_all(); RETURN 1; END $$;\nCREATE TABLE p (a int) PARTITION BY LIST (a);\n',
      'sql/0002_part.up.sql': 'CREATE TABLE p1 PARTITION OF p FOR VALUES IN (atk_let_go());\n',
      'sql/0003_after.up.sql': 'CREATE TABLE after_it (a int);\n',
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /statement 1 of 1 \(sql\/0002_part\.up\.sql:1:1\) released pgpair's migration lock/);
    assert.match(result.stderr, /nothing of 0002 was applied/i);
    noStack(result.stderr);
    assert.deepEqual(await applied(db), ['0001']);
    assert.equal(saidApplied(result.stdout), 1);
    assert.deepEqual((await tables(db.sql)).filter((t) => !t.startsWith('pgpair_')), ['p']);
  });

  it('CREATE INDEX on a plain column calls the type\'s functions: a GiST build whose subtype_diff releases the lock is rolled back', async () => {
    const db = await fresh();
    const cwd = workdir({
      'sql/0001_ranges.up.sql': [
        'CREATE FUNCTION atk_diff(a float8, b float8) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_advisory_unlock_all(); RETURN a - b; END $$;',
        'CREATE TYPE atk_range AS RANGE (subtype = float8, subtype_diff = atk_diff);',
        'CREATE TABLE r (span atk_range);',
        'INSERT INTO r SELECT atk_range(g, g + 1) FROM generate_series(1, 2000) g;',
        '',
      ].join('\n'),
      'sql/0002_index.up.sql': 'CREATE INDEX r_span ON r USING gist (span);\n',
      'sql/0003_after.up.sql': 'CREATE TABLE after_it (a int);\n',
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 1, result.stderr);
    // An index on a table the migration did not create may run the type's functions on its rows, so a check follows it.
    assert.match(result.stderr, /statement 1 of 1 \(sql\/0002_index\.up\.sql:1:1\) released pgpair's migration lock/);
    assert.match(result.stderr, /nothing of 0002 was applied/i);
    noStack(result.stderr);
    assert.deepEqual(await applied(db), ['0001']);
    const index = await db.sql.unsafe(`SELECT to_regclass('public.r_span') IS NULL AS gone, to_regclass('public.after_it') IS NULL AS none`);
    assert.deepEqual({ ...index[0] }, { gone: true, none: true });
  });

  it('a search_path set by a function in a partition bound does not reach the next migration', async () => {
    const db = await fresh();
    const cwd = workdir({
      'sql/0001_parent.up.sql': [
        'CREATE SCHEMA atk_elsewhere;',
        "CREATE FUNCTION atk_move() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('search_path', 'atk_elsewhere, public', false); RETURN 1; END $$;",
        'CREATE TABLE p (a int) PARTITION BY LIST (a);',
        '',
      ].join('\n'),
      'sql/0002_part.up.sql': 'CREATE TABLE p1 PARTITION OF p FOR VALUES IN (atk_move());\n',
      'sql/0003_after.up.sql': 'CREATE TABLE after_it (a int);\n',
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await applied(db), ['0001', '0002', '0003']);
    assert.ok((await tables(db.sql)).includes('after_it'), 'the next migration ran with the search_path the run started with');
    assert.deepEqual(await tables(db.sql, 'atk_elsewhere'), []);
  });

  it('an event trigger created through dynamic SQL, which pgpair cannot see, releases the lock behind plain DDL: that migration is rolled back', async () => {
    const db = await fresh();
    const cwd = workdir({
      'sql/0001_trigger.up.sql': [
        'CREATE FUNCTION atk_let_go() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_unlock_all(); END $$;',
        "DO $$ BEGIN EXECUTE format('CREATE %s TRIGGER atk_let_go ON ddl_command_end EXECUTE FUNCTION atk_let_go()', 'EVENT'); END $$;",
        '',
      ].join('\n'),
      'sql/0002_table.up.sql': 'CREATE TABLE t2 (a int);\n',
      'sql/0003_after.up.sql': 'CREATE TABLE after_it (a int);\n',
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /statement 1 of 1 \(sql\/0002_table\.up\.sql:1:1\) or one before it released pgpair's migration lock/);
    assert.match(result.stderr, /nothing of 0002 was applied/i);
    noStack(result.stderr);
    assert.deepEqual(await applied(db), ['0001']);
    assert.equal(saidApplied(result.stdout), 1);
    assert.deepEqual((await tables(db.sql)).filter((t) => !t.startsWith('pgpair_')), []);
  });

  it('an event trigger created through dynamic SQL that sets search_path does not move the next migration', async () => {
    const db = await fresh();
    const cwd = workdir({
      'sql/0001_trigger.up.sql': [
        'CREATE SCHEMA atk_elsewhere;',
        "CREATE FUNCTION atk_move() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('search_path', 'atk_elsewhere, public', false); END $$;",
        "DO $$ BEGIN EXECUTE format('CREATE %s TRIGGER atk_move ON ddl_command_end EXECUTE FUNCTION atk_move()', 'EVENT'); END $$;",
        '',
      ].join('\n'),
      'sql/0002_table.up.sql': 'CREATE TABLE t2 (a int);\n',
      'sql/0003_after.up.sql': 'CREATE TABLE after_it (a int);\n',
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await applied(db), ['0001', '0002', '0003']);
    assert.deepEqual((await tables(db.sql)).filter((t) => !t.startsWith('pgpair_')), ['after_it', 't2']);
  });
});

/** Migrations of plain DDL, 0001…n, each creating table tNNNN, each with its down. */
function plain(n: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    const v = String(i).padStart(4, '0');
    out[`sql/${v}_t${v}.up.sql`] = `CREATE TABLE t${v} (id int PRIMARY KEY);\nCOMMENT ON TABLE t${v} IS 'migration ${i}';\n`;
    out[`sql/${v}_t${v}.down.sql`] = `DROP TABLE t${v};\n`;
  }
  return out;
}

/** The tNNNN tables present, sorted. */
async function present(db: Scratch): Promise<string[]> {
  return (await tables(db.sql)).filter((t) => /^t\d{4}$/.test(t));
}

describe('failures in the middle of the pipeline', () => {
  const made: Scratch[] = [];
  const fresh = async (): Promise<Scratch> => {
    const db = await scratchDatabase('atk_pipe');
    made.push(db);
    return db;
  };
  after(async () => {
    for (const db of made) await db.drop();
  });

  it('a deferred constraint failing at the COMMIT of a migration in the middle: it and everything sent after it are rolled back', async () => {
    const db = await fresh();
    const cwd = workdir({
      ...plain(5),
      'sql/0003_t0003.up.sql': 'CREATE TABLE t0003 (id int PRIMARY KEY);\nCREATE TABLE child (pid int REFERENCES t0003 DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO child VALUES (1);\n',
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /sql\/0003_t0003\.up\.sql/);
    assert.match(result.stderr, /at COMMIT/);
    assert.match(result.stderr, /child_pid_fkey/);
    assert.match(result.stderr, /Nothing of 0003 was applied/);
    noStack(result.stderr);
    assert.deepEqual(await applied(db), ['0001', '0002']);
    assert.equal(saidApplied(result.stdout), 2);
    assert.deepEqual(await present(db), ['t0001', 't0002']);
    assert.equal((await tables(db.sql)).includes('child'), false);
  });

  it('a statement_timeout the migration sets for its own transaction also bounds pgpair\'s check: reported at the file, nothing of it or after it commits', async () => {
    const db = await fresh();
    const cwd = workdir({
      ...plain(4),
      // 3000 advisory locks make pgpair's look at pg_locks take longer than the 1 ms the migration allows.
      'sql/0002_t0002.up.sql': "CREATE TABLE t0002 (id int PRIMARY KEY);\nSELECT count(pg_advisory_xact_lock(g)) FROM generate_series(1, 3000) g;\nSELECT set_config('statement_timeout', '1', true);\n",
    });
    const result = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /sql\/0002_t0002\.up\.sql:3:1: ERROR \[57014\]: pgpair's check after this statement/);
    assert.match(result.stderr, /Nothing of 0002 was applied/);
    noStack(result.stderr);
    assert.deepEqual(await applied(db), ['0001']);
    assert.deepEqual(await present(db), ['t0001']);
    assert.equal(saidApplied(result.stdout), 1);
  });

  it('SIGTERM mid-run: exit 143, and what the run says it applied is exactly what the history holds', async () => {
    const db = await fresh();
    const cwd = workdir(plain(400));
    const run = startCli(['up', '--url', db.url], { cwd, timeoutMs: 120_000 });
    for (let i = 0; i < 2400; i++) {
      const n = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'pgpair_history_log'`);
      if (n[0]!.n === 1 && (await db.sql.unsafe(`SELECT count(*)::int AS n FROM pgpair_history_log`))[0]!.n >= 5) break;
      if (run.child.exitCode !== null) assert.fail(`the run ended early:\n${run.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    run.child.kill('SIGTERM');
    const result = await run.exited;
    assert.equal(result.code, 143, result.stderr);
    assert.match(result.stderr, /Interrupted by SIGTERM/);
    noStack(result.stderr);
    const done = await applied(db);
    assert.ok(done.length >= 5 && done.length < 400, `stopped mid-run (${done.length} of 400 recorded)`);
    assert.deepEqual(await present(db), done.map((v) => `t${v}`));
    assert.equal(saidApplied(result.stdout), done.length, 'stdout says exactly what the history holds');
    const again = await runCli(['up', '--url', db.url], { cwd });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await applied(db)).length, 400);
  });

  it('down 3 through the pipeline with the second down failing: the first is reverted, nothing else, and the error names the down file', async () => {
    const db = await fresh();
    const cwd = workdir(plain(5));
    assert.equal((await runCli(['up', '--url', db.url], { cwd })).code, 0);
    const broken = workdir({ ...plain(5), 'sql/0004_t0004.down.sql': 'DROP TABLE t0004;\nDROP TABLE no_such_table;\n' });
    const result = await runCli(['down', '3', '--url', db.url], { cwd: broken });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /sql\/0004_t0004\.down\.sql:2:/);
    noStack(result.stderr);
    assert.deepEqual(await present(db), ['t0001', 't0002', 't0003', 't0004']);
    const live = await db.sql.unsafe(`SELECT version FROM pgpair_history WHERE state = 'ok' ORDER BY version`);
    assert.equal(live.length, 4, 'the history holds exactly the four tables left');
    const downs = await db.sql.unsafe(`SELECT version FROM pgpair_history_log WHERE action = 'down' ORDER BY id`);
    assert.deepEqual(downs.map((r) => String(r.version)), ['0005']);
    const reverted = result.stdout.split('\n').filter((line) => line.startsWith('reverted ')).length;
    assert.equal(reverted, 1, result.stdout);
  });

  for (const [what, statement] of [
    ['an ALTER TABLE', 'ALTER TABLE held ADD COLUMN b int;'],
    ['plain DDL (DROP TABLE, inert: no check, no xid at BEGIN)', 'DROP TABLE held;'],
  ] as const) {
    it(`a lock timeout on ${what} in the migration sent ahead: retried, each migration applied once, in order`, async () => {
      const db = await fresh();
      await db.sql.unsafe('CREATE TABLE held (a int)');
      const cwd = workdir({ ...plain(4), 'sql/0002_t0002.up.sql': `CREATE TABLE t0002 (id int);\n${statement}\n` });
      const lock = await holder(db.url, ['BEGIN', 'LOCK TABLE held IN ACCESS EXCLUSIVE MODE']);
      const { logger, until: logged } = capturingLogger();
      let run: Promise<unknown>;
      try {
        run = up({ url: db.url, dir: join(cwd, 'sql'), logger, migrationLockTimeoutMs: 200, lockRetries: 50, lockRetryBaseMs: 10, lockWaitLogMs: 50 });
        run.catch(() => {});
        await logged((e) => retries(e).length >= 2);
      } finally {
        await lock.end();
      }
      const result = (await run) as { steps: { version: string }[] };
      assert.deepEqual(result.steps.map((s) => s.version), ['0001', '0002', '0003', '0004']);
      assert.deepEqual(await applied(db), ['0001', '0002', '0003', '0004'], 'each applied once, in order');
      assert.deepEqual(await present(db), ['t0001', 't0002', 't0003', 't0004']);
    });
  }
});
