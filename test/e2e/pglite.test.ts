/**
 * The embedded database (issue 4): every command on pglite:PATH and
 * pglite:memory through the real CLI, the zero-setup default, one process per
 * directory, directories that are not databases, and the example sql/.
 *
 * No server needed. PGlite costs about a second per process (four or more to
 * create a database), so a database made once in `before` is copied where a
 * test needs an existing one, and the groups run two at a time.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { ROOT, runCli, startCli, workdir as newWorkdir, type CliResult } from '../helpers/cli.js';

/** Working directories of this file, removed at the end: each may hold a 40 MB database. */
const workdirs: string[] = [];
function workdir(files: Record<string, string> = {}): string {
  const dir = newWorkdir(files);
  workdirs.push(dir);
  return dir;
}

const EMBEDDED_NOTE = /no DATABASE_URL set: using the embedded development database pglite:\.pgpair\/dev/;

/** A CLI run that must end by itself: a handle left open after close would hold the process until the timeout kills it. */
async function cli(args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await runCli(args, { cwd, env, timeoutMs: 90_000 });
  assert.equal(result.signal, null, `pgpair ${args.join(' ')} did not exit by itself\n${result.stderr}`);
  return result;
}

/** Opens a PGlite directory in this process (after the CLI has exited), runs `fn`, closes it. */
async function withDatabase<T>(dir: string, fn: (db: PGlite) => Promise<T>): Promise<T> {
  const db = await PGlite.create(dir);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function select<T>(db: PGlite, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.query<T>(sql, params)).rows;
}

/** Tables, columns, constraints, indexes, functions, triggers, comments and seed data, pgpair's own tables left out. */
async function schemaSnapshot(db: PGlite): Promise<unknown> {
  const own = `NOT LIKE 'pgpair\\_%'`;
  return {
    columns: await select(db, `SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
      FROM information_schema.columns WHERE table_schema = 'public' AND table_name ${own} ORDER BY table_name, ordinal_position`),
    constraints: await select(db, `SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS def
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text ${own} ORDER BY 1, 2`),
    indexes: await select(db, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename ${own} ORDER BY 1`),
    functions: await select(db, `SELECT proname, pg_get_functiondef(oid) AS def FROM pg_proc
      WHERE pronamespace = 'public'::regnamespace AND proname ${own} ORDER BY 1`),
    triggers: await select(db, `SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger
      WHERE NOT tgisinternal AND tgrelid::regclass::text ${own} ORDER BY 1`),
    comments: await select(db, `SELECT classoid::regclass::text AS catalog, objsubid, description FROM pg_description d
      WHERE (classoid = 'pg_class'::regclass AND objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname ${own}))
         OR (classoid = 'pg_proc'::regclass AND objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname ${own}))
      ORDER BY 1, 2, 3`),
    tags: await select(db, `SELECT id, name FROM tags ORDER BY id`),
  };
}

let template: string;

/** A copy of an existing (closed) PGlite database at `cwd/relative`. */
function existingDatabase(cwd: string, relative = '.pgpair/dev'): string {
  const dir = join(cwd, relative);
  mkdirSync(join(dir, '..'), { recursive: true });
  cpSync(template, dir, { recursive: true });
  return dir;
}

/** A working directory holding a copy of the repository's example migrations. */
function exampleProject(): string {
  const cwd = workdir();
  cpSync(join(ROOT, 'sql'), join(cwd, 'sql'), { recursive: true });
  return cwd;
}

const EXAMPLES = ['0001_create_users', '0002_create_posts', '0003_slugify', '0004_seed_tags', '0005_posts_published_index'];

describe('pgpair on PGlite', { concurrency: 2 }, () => {
  // The database the other tests copy, made as pgpair makes one (a copy is opened as a database, never cleared:
  // test/e2e/pglite-safety.test.ts).
  before(async () => {
    const { connect } = await import('../../lib/db/index.js');
    template = join(workdir(), '.pgpair', 'dev');
    mkdirSync(join(template, '..'));
    await (await connect({ url: `pglite:${template}` })).close();
  });
  after(() => {
    for (const dir of workdirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('zero-setup first run on the example migrations', { concurrency: 1 }, () => {
    const cwd = exampleProject();
    const dir = join(cwd, '.pgpair', 'dev');
    let migrated: unknown;

    it('up with no URL creates pglite:.pgpair/dev, says so on stderr, and applies every example', async () => {
      const r = await cli(['up'], cwd);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, EMBEDDED_NOTE);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, -1).map((l) => l.replace(/ \(\d+ ms\)$/, '')), EXAMPLES.map((m) => `applied ${m}`));
      assert.match(lines.at(-1)!, /^now at 0005 \(5 migrations applied in \d+ ms\) on the embedded development database \.pgpair\/dev \(no DATABASE_URL set: pass --url or set DATABASE_URL to use a server\)$/);
      assert.equal(readFileSync(join(dir, 'PG_VERSION'), 'utf8').trim().length > 0, true);
      assert.equal(existsSync(`${dir}.lock`), false, 'the lock file is removed on exit');
      assert.match(readFileSync(join(cwd, '.pgpair', '.gitignore'), 'utf8'), /^\*$/m, 'the database stays out of git');
    });

    it('status --json reports them applied and executed; the database holds what they built', async () => {
      const r = await cli(['status', '--json'], cwd);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.current, '0005');
      assert.deepEqual(
        report.migrations.map((m: { version: string; name: string; state: string; how: string; transactional: boolean }) => [m.version, m.state, m.how, m.transactional]),
        [['0001', 'applied', 'executed', true], ['0002', 'applied', 'executed', true], ['0003', 'applied', 'executed', true], ['0004', 'applied', 'executed', true], ['0005', 'applied', 'executed', false]],
      );
      await withDatabase(dir, async (db) => {
        const [fn] = await select<{ slug: string }>(db, `SELECT slugify($1) AS slug`, ["It's a  Release!"]);
        assert.equal(fn!.slug, 'it-s-a-release');
        const [index] = await select<{ indisvalid: boolean }>(db, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'posts_published_idx'::regclass`);
        assert.equal(index!.indisvalid, true);
        const history = await select<{ version_label: string; how: string; state: string; applied_by: string }>(db, `SELECT version_label, how, state, applied_by FROM pgpair_history ORDER BY version`);
        assert.deepEqual(history.map((h) => [h.version_label, h.how, h.state]), EXAMPLES.map((m) => [m.slice(0, 4), 'executed', 'ok']));
        migrated = await schemaSnapshot(db);
      });
    });

    it('sql/schema.sql loaded into a new database and stamped gives the same schema as up', async () => {
      const other = workdir();
      cpSync(join(ROOT, 'sql'), join(other, 'sql'), { recursive: true });
      const otherDir = existingDatabase(other);
      const schema = readFileSync(join(ROOT, 'sql', 'schema.sql'), 'utf8');
      assert.match(schema.split('\n')[0]!, /^-- pgpair:version 0005$/);
      await withDatabase(otherDir, (db) => db.exec(schema));
      const r = await cli(['stamp', 'head'], other);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^now at 0005 \(5 migrations recorded, no migration SQL ran\) on .+$/m);
      await withDatabase(otherDir, async (db) => assert.deepEqual(await schemaSnapshot(db), migrated));
    });

    it('down, stamp, verify and create work on it too', async () => {
      const down = await cli(['down', '0002'], cwd);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(down.stdout.trim().split('\n').slice(0, 3).map((l) => l.replace(/ \(\d+ ms\)$/, '')), ['reverted 0005_posts_published_index', 'reverted 0004_seed_tags', 'reverted 0003_slugify']);
      const stamp = await cli(['stamp', 'head'], cwd);
      assert.equal(stamp.code, 0, stamp.stderr);
      assert.match(stamp.stdout, /stamped 0003_slugify\nstamped 0004_seed_tags\nstamped 0005_posts_published_index\n/);
      const verify = await cli(['verify'], cwd);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /^ok: files and history agree \(current 0005, head 0005\)/);
      const create = await cli(['create', 'add_comments'], cwd);
      assert.equal(create.code, 0, create.stderr);
      assert.equal(create.stdout, 'sql/0006_add_comments.up.sql\nsql/0006_add_comments.down.sql\n');
      const strict = await cli(['verify', '--strict'], cwd);
      assert.equal(strict.code, 3, strict.stderr);
      assert.match(strict.stdout, /0006/);
      await withDatabase(dir, async (db) => {
        const history = await select<{ version_label: string; how: string }>(db, `SELECT version_label, how FROM pgpair_history ORDER BY version`);
        assert.deepEqual(history.map((h) => `${h.version_label} ${h.how}`), ['0001 executed', '0002 executed', '0003 stamped', '0004 stamped', '0005 stamped']);
        const log = await select<{ action: string; version: string; application_name: string }>(db, `SELECT action, version, application_name FROM pgpair_history_log ORDER BY id`);
        assert.deepEqual(log.map((l) => `${l.action} ${l.version}`), [
          ...EXAMPLES.map((m) => `up ${m.slice(0, 4)}`),
          'down 0005', 'down 0004', 'down 0003',
          'stamp 0003', 'stamp 0004', 'stamp 0005',
        ]);
        assert.equal(log[0]!.application_name, 'pgpair');
        // Stamping ran no migration SQL: what 0003-0005 build is still gone.
        const [gone] = await select<{ fn: string | null; idx: string | null; tags: number }>(db, `SELECT to_regproc('slugify') AS fn, to_regclass('posts_published_idx') AS idx, (SELECT count(*)::int FROM tags) AS tags`);
        assert.deepEqual(gone, { fn: null, idx: null, tags: 0 });
      });
    });
  });

  describe('pglite:memory', { concurrency: 1 }, () => {
    it('runs a whole up in the process: JSON on stdout, notices on stderr, nothing written to disk', async () => {
      const cwd = workdir({
        'sql/0001_notes.up.sql': [
          'CREATE TABLE notes (id int PRIMARY KEY, body text);',
          'COPY notes (id, body) FROM stdin;',
          '1\tfirst',
          '2\tsecond; with a semicolon',
          '\\.',
          "DO $$ BEGIN RAISE NOTICE 'copied % notes', (SELECT count(*) FROM notes); RAISE WARNING 'just a warning'; END $$;",
          '',
        ].join('\n'),
        'sql/0001_notes.down.sql': 'DROP TABLE notes;\n',
      });
      const r = await cli(['up', '--url', 'pglite:memory', '--json'], cwd);
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout);
      assert.equal(result.to, '0001');
      assert.match(r.stderr, /0001_notes: NOTICE: copied 2 notes/);
      assert.match(r.stderr, /0001_notes: WARNING: just a warning/);
      assert.doesNotMatch(r.stderr, EMBEDDED_NOTE);
      assert.deepEqual(readdirSync(cwd), ['sql']);
    });

    it('runs a migration whose dollar quotes have a non-ASCII tag ($é$), as the server reads them', async () => {
      // The text between $é$ and $é$ is a string: the driver's earlier tokenizer took $é$ for no quote and refused the
      // "copy … from stdin" inside as a COPY sent without its data.
      const cwd = workdir({
        'sql/0001_notes.up.sql': [
          'CREATE TABLE notes (body text);',
          'INSERT INTO notes VALUES ($é$; copy notes from stdin $é$);',
          "DO $é$ BEGIN RAISE NOTICE 'note: [%]', (SELECT body FROM notes); END $é$;",
          '',
        ].join('\n'),
        'sql/0001_notes.down.sql': 'DROP TABLE notes;\n',
      });
      const r = await cli(['up', '--url', 'pglite:memory', '--json'], cwd);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).to, '0001');
      assert.match(r.stderr, /0001_notes: NOTICE: note: \[; copy notes from stdin \]/);
    });
  });

  describe('failures on pglite:PATH', { concurrency: 1 }, () => {
    it('--statement-timeout is refused (exit 2) before anything runs: PGlite would never time a statement out', async () => {
      const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t (id int);\n' });
      const dir = existingDatabase(cwd, 'db/dev');
      const r = await cli(['up', '--url', 'pglite:db/dev', '--statement-timeout', '5s'], cwd);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^error: --statement-timeout cannot work on pglite:db\/dev: the embedded database runs each statement to its end in this process/);
      assert.equal(r.stdout, '');
      await withDatabase(dir, async (db) => assert.deepEqual(await select(db, `SELECT to_regclass('t') AS t, to_regclass('pgpair_history') AS h`), [{ t: null, h: null }]));
      const withLockTimeout = await cli(['up', '--url', 'pglite:db/dev', '--migration-lock-timeout', '5s'], cwd);
      assert.equal(withLockTimeout.code, 0, withLockTimeout.stderr);
    });

    it('a failing migration: exit 1 with FILE:LINE:COLUMN and SQLSTATE; earlier ones stay applied, the failed one leaves nothing', async () => {
      const cwd = workdir({
        'sql/0001_items.up.sql': "CREATE TABLE items (id int PRIMARY KEY, name text);\nCOPY items FROM stdin;\n1\tone\n2\ttwo\n\\.\nDO $$ BEGIN RAISE NOTICE 'two items'; END $$;\n",
        'sql/0002_broken.up.sql': 'CREATE TABLE half (id int);\n\nINSERT INTO items VALUES (3, 3);\nSELECT nope FROM items;\n',
        'sql/0003_bad_copy.up.sql': 'CREATE TABLE nums (n int);\nCOPY nums FROM stdin;\n1\nzz\n\\.\n',
      });
      const dir = existingDatabase(cwd, 'db/dev');
      const r = await cli(['up', '--url', 'pglite:db/dev'], cwd);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /^applied 0001_items \(\d+ ms\)\n$/);
      assert.match(r.stderr, /0001_items: NOTICE: two items/);
      assert.match(r.stderr, /error: sql\/0002_broken\.up\.sql:4:8: ERROR \[42703\]: column "nope" does not exist\n/);
      assert.match(r.stderr, / 4 \| SELECT nope FROM items;\n {3}\| {8}\^/);
      assert.equal(existsSync(join(cwd, 'db', 'dev.lock')), false, 'the lock is released after a failure');
      rmSync(join(cwd, 'sql', '0002_broken.up.sql'));
      const copy = await cli(['up', '--url', `pglite:${dir}`], cwd);
      assert.equal(copy.code, 1, copy.stderr);
      assert.match(copy.stderr, /sql\/0003_bad_copy\.up\.sql:4:1: ERROR \[22P02\]: invalid input syntax for type integer: "zz"/);
      await withDatabase(dir, async (db) => {
        assert.deepEqual(await select(db, `SELECT id, name FROM items ORDER BY id`), [{ id: 1, name: 'one' }, { id: 2, name: 'two' }]);
        assert.deepEqual(await select(db, `SELECT to_regclass('half') AS half, to_regclass('nums') AS nums`), [{ half: null, nums: null }]);
        assert.deepEqual(await select(db, `SELECT version_label FROM pgpair_history`), [{ version_label: '0001' }]);
      });
    });

    it('a directory of other files is refused (exit 2) and left alone; so are a file and an incomplete database; a damaged one of ours fails to open (exit 1)', async () => {
      const cwd = workdir({ 'sql/0001_t.up.sql': 'CREATE TABLE t (id int);\n', 'notes/readme.txt': 'not a database\n', 'afile': 'x\n' });
      const foreign = await cli(['status', '--url', 'pglite:notes'], cwd);
      assert.equal(foreign.code, 2, foreign.stderr);
      assert.match(foreign.stderr, /^error: pglite:notes \(.*\/notes\) is not an embedded database: it holds other files \(readme\.txt\)\. Nothing was changed: .* Point pglite: at a path that does not exist yet/);
      assert.deepEqual(readdirSync(join(cwd, 'notes')), ['readme.txt']);
      const file = await cli(['status', '--url', 'pglite:afile'], cwd);
      assert.equal(file.code, 2, file.stderr);
      assert.match(file.stderr, /is a file, not a directory/);
      const incomplete = existingDatabase(cwd, 'incomplete');
      rmSync(join(incomplete, 'global', 'pg_control'));
      const refused = await cli(['status', '--url', 'pglite:incomplete'], cwd);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /has a PG_VERSION but is not a whole database \(global\/pg_control is missing\), and nothing proves that pgpair made it\. Its \.pgpair-pglite\.json was copied from another directory/);
      // Made by pgpair here (its marker names this directory), then damaged: opened, fails, and is left for the user to move aside.
      const damaged = existingDatabase(cwd, 'damaged');
      const marker = JSON.parse(readFileSync(join(damaged, '.pgpair-pglite.json'), 'utf8'));
      const here = statSync(damaged, { bigint: true });
      writeFileSync(join(damaged, '.pgpair-pglite.json'), JSON.stringify({ ...marker, device: here.dev.toString(), inode: here.ino.toString() }));
      rmSync(join(damaged, 'global', 'pg_control'));
      const broken = await cli(['status', '--url', 'pglite:damaged'], cwd);
      assert.equal(broken.code, 1, broken.stderr);
      assert.match(broken.stderr, /Cannot open the embedded database pglite:damaged: PGlite failed with ".+"\. The directory .*damaged is damaged, or was made by another PGlite version \(its PG_VERSION says \d+\)\. .*move it aside \(mv /);
      assert.equal(broken.stdout, '');
      assert.ok(existsSync(join(damaged, 'PG_VERSION')), 'a damaged database is never cleared');
      assert.deepEqual(readdirSync(cwd).sort(), ['afile', 'damaged', 'incomplete', 'notes', 'sql'], 'no lock files left behind');
    });
  });

  describe('one process per directory', { concurrency: 1 }, () => {
    it('a second process gets exit 1 naming the pid that holds the directory, not a wait or a corrupted database', async () => {
      const cwd = workdir({ 'sql/0001_slow.up.sql': 'SELECT pg_sleep(3);\nCREATE TABLE slow (id int);\n' });
      existingDatabase(cwd);
      const lock = join(cwd, '.pgpair', 'dev.lock');
      const busy = startCli(['up'], { cwd, timeoutMs: 90_000 });
      for (const started = Date.now(); !existsSync(lock); ) {
        assert.ok(Date.now() - started < 15_000, 'the first run never took the lock');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const started = Date.now();
      const [status, up] = await Promise.all([cli(['status'], cwd), cli(['up'], cwd)]);
      for (const second of [status, up]) {
        assert.equal(second.code, 1, second.stderr);
        assert.match(second.stderr, new RegExp(`error: The embedded database pglite:\\.pgpair/dev is in use by another process \\(pid ${busy.child.pid}\\)\\. PGlite serves one process at a time`));
        assert.equal(second.stdout, '');
      }
      assert.ok(Date.now() - started < 10_000, 'refused at once, without waiting for the holder');
      const busyDone = await busy.exited;
      assert.equal(busyDone.code, 0, busyDone.stderr);
      assert.match(busyDone.stdout, /applied 0001_slow/);
      assert.equal(existsSync(lock), false);
    });

    it('after a process is killed (SIGKILL) mid-migration, the next run takes over its lock and finds the migration not applied', async () => {
      const cwd = workdir({ 'sql/0001_killed.up.sql': 'CREATE TABLE half (id int);\nSELECT pg_sleep(6);\n' });
      const dir = existingDatabase(cwd);
      const lock = `${dir}.lock`;
      const victim = startCli(['up', '--log-level', 'debug'], { cwd, timeoutMs: 90_000 });
      // Killed once the migration has started (the executor logs each step at debug), not after a fixed delay.
      await victim.stderrMatches(/"msg":"up 0001_killed"/);
      assert.ok(existsSync(lock), 'the run holds the lock while it migrates');
      victim.child.kill('SIGKILL');
      await victim.exited;
      assert.ok(existsSync(lock), 'a killed process leaves its lock file');
      const r = await cli(['status', '--json'], cwd);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).migrations[0].state, 'pending');
      assert.equal(existsSync(lock), false);
      await withDatabase(dir, async (db) => assert.deepEqual(await select(db, `SELECT to_regclass('half') AS half`), [{ half: null }]));
    });
    it('Ctrl-C stops a run between statements (PGlite gives the event loop a turn before each one)', async () => {
      // 60 short statements: a run the signal stops early, long enough (30 s) for a loaded machine to send it in time.
      const cwd = workdir({ 'sql/0001_long.up.sql': `${'SELECT pg_sleep(0.5);\n'.repeat(60)}CREATE TABLE long (id int);\n` });
      const dir = existingDatabase(cwd);
      const run = startCli(['up', '--log-level', 'debug'], { cwd, timeoutMs: 90_000 });
      // Signal once the migration has started (the executor logs each step at debug), not after a
      // fixed delay: on a busy machine opening the database alone can take longer than the delay.
      await run.stderrMatches(/"msg":"up 0001_long"/);
      run.child.kill('SIGINT');
      const { code, stderr } = await run.exited;
      assert.equal(code, 130, stderr);
      assert.match(stderr, /error: Interrupted by SIGINT (during|before) (up )?0001/);
      assert.equal(existsSync(`${dir}.lock`), false);
      await withDatabase(dir, async (db) => {
        assert.deepEqual(await select(db, `SELECT to_regclass('long') AS long, (SELECT count(*)::int FROM pgpair_history) AS applied`), [{ long: null, applied: 0 }]);
      });
    });
  });

  describe('the driver, in-process', { concurrency: 1 }, () => {
    it('refuses COPY FROM STDIN outside copyFrom instead of waiting forever; copyFrom, int8, notices, rollback and close behave', async () => {
      const { connect } = await import('../../lib/db/index.js');
      const { ConnectionError } = await import('../../lib/core/errors.js');
      const cwd = workdir();
      const dir = existingDatabase(cwd);
      const notices: string[] = [];
      const db = await connect({ url: `pglite:${dir}`, onNotice: (n) => notices.push(`${n.severity}: ${n.message}`) });
      try {
        assert.equal(db.server.versionNum >= 150000, true);
        await db.exec('CREATE TABLE t (id bigint, name text)');
        await assert.rejects(db.exec('SELECT 1;\n  copy t (id, name) from STDIN;'), (e: unknown) => {
          const error = e as { code: string; position: string; message: string };
          return error.code === '0A000' && error.position === '36' && /COPY … FROM STDIN needs its data/.test(error.message);
        });
        await db.copyFrom('COPY t (id, name) FROM stdin;', (async function* () {
          yield '9007199254740993\tbig\n';
          yield '2\tsmall\n';
        })());
        assert.deepEqual(await db.query('SELECT id, name FROM t ORDER BY name'), [{ id: '9007199254740993', name: 'big' }, { id: '2', name: 'small' }]);
        await assert.rejects(db.copyFrom('COPY t (id, name) FROM stdin WITH (FORMAT nope);', '1\tx\n'), (e: unknown) => (e as { position: string }).position === '36');
        // A dollar quote with a non-ASCII tag is a string to the server, and so to the driver: what it holds is no statement.
        await db.exec("INSERT INTO t VALUES (4, $é$; copy t from stdin $é$)");
        await assert.rejects(db.exec('SELECT $é$x$é$; COPY t FROM stdin;'), (e: unknown) => (e as { code: string; position: string }).code === '0A000' && (e as { position: string }).position === '29');
        await db.exec("DELETE FROM t WHERE id = 4");
        await db.exec("DO $$ BEGIN RAISE NOTICE 'hello'; END $$");
        assert.deepEqual(notices, ['NOTICE: hello']);
        await assert.rejects(db.transaction(async (tx) => {
          await tx.exec("INSERT INTO t VALUES (3, 'rolled back')");
          await tx.exec('SELECT 1/0');
        }), (e: unknown) => (e as { code: string }).code === '22012');
        assert.deepEqual(await db.query('SELECT count(*) AS n FROM t'), [{ n: '2' }]);
        await assert.rejects(connect({ url: `pglite:${dir}` }), (e: unknown) => e instanceof ConnectionError && /in use by this process \(it is already open here\)/.test(e.message));
      } finally {
        await db.close();
      }
      await assert.rejects(db.query('SELECT 1'), (e: unknown) => e instanceof ConnectionError && /already closed/.test(e.message));
      assert.equal(existsSync(`${dir}.lock`), false);
    });
  });

  describe('the driver over a PGlite instance the application holds (pgliteConnection)', { concurrency: 1 }, () => {
    /** Applies the pending migrations of `dir` through `db`, as a run does (lock, history, plan, executor). */
    async function migrateThrough(db: import('../../lib/db/types.js').Connection, dir: string): Promise<string[]> {
      const { readMigrations } = await import('../../lib/read/source.js');
      const { historyTables } = await import('../../lib/core/history.js');
      const { withLock } = await import('../../lib/run/lock.js');
      const { readHistory } = await import('../../lib/run/read-history.js');
      const { currentStatus, ensureHistory, silent } = await import('../../lib/run/session.js');
      const { planUp } = await import('../../lib/core/plan.js');
      const { executePlan } = await import('../../lib/run/executor.js');
      const tables = historyTables({ schema: null, name: 'pgpair_history' }, db.server.schema);
      const session = { db, tables, files: await readMigrations(dir), logger: silent, running: null, createSchema: false };
      return withLock(db, tables, { timeoutMs: 1000, logger: silent }, async () => {
        const history = await readHistory(db, tables);
        const plan = planUp(await currentStatus(session, history.rows));
        if (!history.exists) await ensureHistory(session);
        return (await executePlan(db, tables, plan, { logger: silent })).map((step) => step.version);
      });
    }

    const heldLocks = async (app: PGlite) => select<{ objid: string; mode: string }>(app,
      `SELECT objid::text, mode FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() ORDER BY objid`);

    it('runs migrations on it, and close() leaves it open, outside any transaction, with its own locks, role and settings only', async () => {
      const { pgliteConnection } = await import('../../lib/db/pglite/index.js');
      const cwd = workdir({
        'sql/0001_notes.up.sql': "CREATE TABLE notes (id int, body text);\nCOPY notes (id, body) FROM stdin;\n1\t$é$ first\n\\.\nDO $é$ BEGIN RAISE NOTICE 'hello from 0001'; END $é$;\n",
        'sql/0001_notes.down.sql': 'DROP TABLE notes;\n',
        'sql/0002_more.up.sql': "INSERT INTO notes VALUES (2, 'second');\n",
        'sql/0002_more.down.sql': 'DELETE FROM notes WHERE id = 2;\n',
      });
      const app = await PGlite.create();
      try {
        // What the application's session holds before: a lock of its own, two settings.
        await app.query('SELECT pg_advisory_lock(42)');
        await app.exec("SET application_name = 'the-app'; SET work_mem = '7MB'");
        const notices: string[] = [];
        const db = await pgliteConnection(app, { displayUrl: 'pglite:app', onNotice: (n) => notices.push(n.message) });
        assert.equal(db.displayUrl, 'pglite:app');
        assert.deepEqual(await db.query(`SELECT current_setting('application_name') AS name`), [{ name: 'pgpair' }]);
        assert.deepEqual(await migrateThrough(db, join(cwd, 'sql')), ['0001', '0002']);
        assert.deepEqual(notices, ['hello from 0001']);
        // Left behind on purpose, as a failed or interrupted run could: an open transaction, locks, settings, a role.
        await db.query('SELECT pg_advisory_lock(7), pg_advisory_lock(7), pg_advisory_lock_shared(8)');
        await db.exec('CREATE ROLE app_writer; GRANT INSERT ON notes TO app_writer');
        await db.exec("SET ROLE app_writer; SET statement_timeout = '5s'; SET work_mem = '9MB'; BEGIN; INSERT INTO notes VALUES (3, 'never committed')");
        assert.equal(app.isInTransaction(), true);
        await db.close();

        assert.equal(app.closed, false, 'the instance stays open');
        assert.equal(app.isInTransaction(), false);
        assert.deepEqual(await heldLocks(app), [{ objid: '42', mode: 'ExclusiveLock' }], "only the application's own lock is held");
        assert.deepEqual(await select(app, `SELECT current_user AS u, current_setting('application_name') AS a, current_setting('work_mem') AS w, current_setting('statement_timeout') AS s`),
          [{ u: 'postgres', a: 'the-app', w: '7MB', s: '0' }]);
        assert.deepEqual(await select(app, 'SELECT id, body FROM notes ORDER BY id'), [{ id: 1, body: '$é$ first' }, { id: 2, body: 'second' }]);
        assert.deepEqual(await select(app, 'SELECT version FROM pgpair_history ORDER BY version'), [{ version: '1' }, { version: '2' }]);
        await assert.rejects(db.query('SELECT 1'), /already closed/);

        // Handed over again, it finds everything applied.
        const again = await pgliteConnection(app);
        assert.deepEqual(await migrateThrough(again, join(cwd, 'sql')), []);
        await again.close();
        assert.deepEqual(await heldLocks(app), [{ objid: '42', mode: 'ExclusiveLock' }]);
      } finally {
        await app.close();
      }
    });

    it('refuses an instance that is closed or inside a transaction, and reports one the application closes as lost', async () => {
      const { pgliteConnection } = await import('../../lib/db/pglite/index.js');
      const { ConfigError, ConnectionError } = await import('../../lib/core/errors.js');
      const app = await PGlite.create();
      await app.exec('BEGIN');
      await assert.rejects(pgliteConnection(app), (e: unknown) => e instanceof ConfigError && /inside a transaction/.test(e.message));
      await app.exec('ROLLBACK');
      const db = await pgliteConnection(app, { displayUrl: 'pglite:app' });
      await app.close();
      await assert.rejects(db.query('SELECT 1'), (e: unknown) => e instanceof ConnectionError && /pglite:app was closed while pgpair was using it/.test(e.message));
      assert.equal(db.lost, true);
      await db.close();
      await assert.rejects(pgliteConnection(app), (e: unknown) => e instanceof ConfigError && /is closed/.test(e.message));
    });
  });

  describe('signals, in-process', { concurrency: 1 }, () => {
    it('a signal that arrives during a statement stops the run before the next one starts', async () => {
      const { up } = await import('../../lib/index.js');
      const { default: pino } = await import('pino');
      // nextval is not rolled back: it shows whether a statement ran in the transaction that the signal rolls back.
      const cwd = workdir({
        'sql/0001_probe.up.sql': 'CREATE SEQUENCE probe;\n',
        'sql/0002_steps.up.sql': `CREATE TABLE s1 (id int);
DO $$ BEGIN RAISE NOTICE 'signal now'; PERFORM pg_sleep(0.2); END $$;
SELECT nextval('probe');
CREATE TABLE s2 (id int);
`,
      });
      const dir = existingDatabase(cwd);
      const controller = new AbortController();
      // As with a real Ctrl-C, the handler runs only when the event loop gets a turn: here, after the DO block.
      process.once('SIGUSR2', () => controller.abort('SIGINT'));
      const logger = pino({ level: 'info' }, {
        write: (line: string) => {
          if (line.includes('signal now')) process.kill(process.pid, 'SIGUSR2');
        },
      });
      await assert.rejects(up({ url: `pglite:${dir}`, dir: join(cwd, 'sql'), logger, signal: controller.signal }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'E_INTERRUPTED', error.message);
        assert.match(error.message, /0002/);
        return true;
      });
      await withDatabase(dir, async (db) => {
        assert.deepEqual(await select(db, `SELECT is_called FROM probe`), [{ is_called: false }], 'no statement ran after the signal');
        assert.deepEqual(await select(db, `SELECT to_regclass('s1') IS NOT NULL AS s1, to_regclass('s2') IS NOT NULL AS s2`), [{ s1: false, s2: false }]);
        assert.deepEqual(await select(db, `SELECT version FROM pgpair_history`), [{ version: '1' }]);
      });
    });
  });

  describe('configuration', { concurrency: 1 }, () => {
    it('with no URL and CI=true or NODE_ENV=production: exit 2, how to set DATABASE_URL, no embedded database created', async () => {
      for (const env of [{ CI: 'true' }, { NODE_ENV: 'production' }]) {
        const cwd = exampleProject();
        for (const command of ['up', 'status']) {
          const r = await cli([command], cwd, env);
          assert.equal(r.code, 2, r.stderr);
          assert.match(r.stderr, /^error: No database configured, and (CI is set|NODE_ENV is production), so pgpair will not fall back to its embedded development database\. Set DATABASE_URL \(e\.g\. DATABASE_URL=postgres:\/\/user:password@host:5432\/dbname\) or pass --url\.\n$/);
          assert.equal(r.stdout, '');
        }
        assert.equal(existsSync(join(cwd, '.pgpair')), false);
      }
    });

    it('PGlite is loaded only for pglite: URLs', async () => {
      const cwd = exampleProject();
      const server = await cli(['status', '--url', 'postgres://pgpair@127.0.0.1:1/none', '--connect-timeout', '2'], cwd, { NODE_DEBUG: 'esm' });
      assert.equal(server.code, 1, server.stderr);
      assert.match(server.stderr, /dist\/db\/postgres\/connection\.js/, 'NODE_DEBUG=esm lists the modules loaded');
      // Not /pglite/i: the checkout's own path may hold the word.
      assert.doesNotMatch(server.stderr, /dist\/db\/pglite\/|@electric-sql\/pglite/);
      const embedded = await cli(['status', '--url', 'pglite:sql'], cwd, { NODE_DEBUG: 'esm' });
      assert.equal(embedded.code, 2);
      assert.match(embedded.stderr, /dist\/db\/pglite\/index\.js/);
    });
  });
});
