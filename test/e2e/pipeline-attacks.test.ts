/**
 * Attacks on the pipeline across migrations (lib/run/execute/pipeline.ts) from migrations whose
 * statements pgpair reads as plain DDL (classify.ts isInert): a migration of only such statements
 * gets no check after its statements and, before the fix, neither the lock guard nor the session
 * restore before its history row. Each test runs at least two migrations, so that the pipeline is
 * used, and asserts what a user sees: the exit code, the message, the history and the schema.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, workdir } from '../helpers/cli.js';
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
    assert.match(result.stderr, /statement 1 of 1 \(sql\/0002_index\.up\.sql:1:1\) or one before it released pgpair's migration lock/);
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
