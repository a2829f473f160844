/**
 * Test databases from a template (issue 17, part 1): parallel workers build the template once, an
 * edited file makes a new template and the old one is dropped, a clone's history says head, drop
 * removes the database, a session left on the template neither breaks clones (they retry) nor
 * hangs them (bounded, a TemplateBusyError), a failed or interrupted build leaves no template, the
 * PGlite path, and `pgpair template [--clean]` through the CLI. Every template a test makes is
 * dropped after it (they share the server with other tests).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import pino from 'pino';
import postgres from 'postgres';
import { dropTemplates, migrator, MigrationFailedError, InterruptedError, TemplateBusyError, templateDatabase, testDatabase, ConfigError, type TestDatabase } from '../../lib/index.js';
import { ROOT, runCli, workdir } from '../helpers/cli.js';
import { connectTo, testServerUrl, urlFor } from '../helpers/db.js';

const SERVER = () => testServerUrl();
const execFileAsync = promisify(execFile);

const TWO = {
  'sql/0001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY);\n',
  'sql/0001_users.down.sql': 'DROP TABLE users;\n',
  'sql/0002_posts.up.sql': 'CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);\n',
  'sql/0002_posts.down.sql': 'DROP TABLE posts;\n',
};

/** A logger whose messages the test reads. */
function recorder(): { logger: pino.Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void messages.push(String(JSON.parse(line).msg)) });
  return { logger, messages };
}

const dirs: string[] = [];
const made: TestDatabase[] = [];
/** A working directory with sql/ (dropped, with its templates, after the test). */
function project(files: Record<string, string>): { cwd: string; dir: string } {
  const cwd = workdir(files);
  dirs.push(join(cwd, 'sql'));
  return { cwd, dir: join(cwd, 'sql') };
}

afterEach(async () => {
  for (const db of made.splice(0)) await db.drop();
  for (const dir of dirs.splice(0)) await dropTemplates({ url: SERVER(), dir });
});

/** Rows as plain objects (postgres.js returns a Result array). */
async function rowsOf(sql: ReturnType<typeof connectTo>, text: string): Promise<Record<string, unknown>[]> {
  return [...(await sql.unsafe(text))].map((row) => ({ ...row }));
}

async function databasesLike(prefix: string): Promise<string[]> {
  const admin = connectTo(SERVER());
  try {
    const rows = await admin.unsafe('SELECT datname FROM pg_database WHERE left(datname, length($1)) = $1 ORDER BY 1', [prefix]);
    return rows.map((r) => String(r.datname));
  } finally {
    await admin.end();
  }
}

async function flags(name: string): Promise<{ datistemplate: boolean; datallowconn: boolean } | undefined> {
  const admin = connectTo(SERVER());
  try {
    const [row] = await admin.unsafe('SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1', [name]);
    return (row ? { ...row } : undefined) as { datistemplate: boolean; datallowconn: boolean } | undefined;
  } finally {
    await admin.end();
  }
}

/** Status of a database through the migrator: current, head, and each migration's state. */
async function statusOf(options: { url: string } | { connection: import('@electric-sql/pglite').PGlite }, dir: string): Promise<{ current: string | null; head: string | null; states: string[] }> {
  const m = await migrator({ ...options, dir });
  try {
    const report = await m.status();
    return { current: report.current, head: report.head, states: report.migrations.map((s) => `${s.version}:${s.state}`) };
  } finally {
    await m.close();
  }
}

/** Waits until `sql` returns a row (polling the state, at most 20 s). */
async function untilRow(admin: ReturnType<typeof connectTo>, sql: string, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await admin.unsafe(sql)).length === 0) {
    if (Date.now() > deadline) throw new Error(`never saw ${what}`);
    await pause(20);
  }
}

async function track<T extends TestDatabase>(db: Promise<T>): Promise<T> {
  const value = await db;
  made.push(value);
  return value;
}

describe('testDatabase on a server', () => {
  it('builds the template once for concurrent calls, and each clone is a database of its own at head', async () => {
    const { dir } = project({ ...TWO, 'sql/0003_slow.up.sql': 'SELECT pg_sleep(0.3);\n' });
    const { logger, messages } = recorder();
    const dbs = await Promise.all([1, 2, 3, 4].map(() => track(testDatabase({ url: SERVER() as `postgres://${string}`, dir, logger }))));
    assert.equal(messages.filter((m) => m.startsWith('built the template database')).length, 1, messages.join('\n'));
    assert.equal(new Set(dbs.map((d) => d.name)).size, 4);
    assert.equal(new Set(dbs.map((d) => d.template)).size, 1);
    for (const db of dbs) {
      assert.deepEqual(await statusOf({ url: db.url }, dir), { current: '0003', head: '0003', states: ['0001:applied', '0002:applied', '0003:applied'] });
    }
    // Each is its own database: a row written in one is not in another.
    const first = connectTo(dbs[0]!.url);
    const second = connectTo(dbs[1]!.url);
    try {
      await first.unsafe('INSERT INTO users VALUES (1)');
      assert.deepEqual(await rowsOf(second, 'SELECT count(*)::int AS n FROM users'), [{ n: 0 }]);
    } finally {
      await first.end();
      await second.end();
    }
    // The template: complete (renamed into place), marked as a template, closed to connections.
    assert.deepEqual(await flags(dbs[0]!.template), { datistemplate: true, datallowconn: false });
    assert.deepEqual(await databasesLike(`${dbs[0]!.template}_b`), [], 'no build left behind');
  });

  it('parallel processes (pgpair template) build it once and print the same name, and nothing else on stdout', async () => {
    const { cwd } = project({ ...TWO, 'sql/0003_slow.up.sql': 'SELECT pg_sleep(0.3);\n' });
    const env = { DATABASE_URL: SERVER() };
    const runs = await Promise.all([1, 2, 3, 4].map(() => runCli(['template', '--json'], { cwd, env })));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const docs = runs.map((r) => JSON.parse(r.stdout) as { template: string; built: boolean });
    assert.equal(new Set(docs.map((d) => d.template)).size, 1);
    assert.equal(docs.filter((d) => d.built).length, 1, runs.map((r) => r.stdout).join('\n'));
    // The history of the one build: one log entry per migration, in a clone of the template.
    const plain = await runCli(['template'], { cwd, env });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, `${docs[0]!.template}\n`);
    const admin = connectTo(SERVER());
    const copy = `${docs[0]!.template.replace('pgpair_tpl_', 'pgpair_cp_')}`;
    try {
      await admin.unsafe(`CREATE DATABASE "${copy}" TEMPLATE "${docs[0]!.template}"`);
      const sql = connectTo(urlFor(copy));
      try {
        assert.deepEqual(await rowsOf(sql, 'SELECT count(*)::int AS n FROM pgpair_history_log'), [{ n: 3 }]);
        assert.deepEqual(await rowsOf(sql, 'SELECT count(*)::int AS n FROM pgpair_history'), [{ n: 3 }]);
      } finally {
        await sql.end();
      }
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${copy}"`);
      await admin.end();
    }
  });

  it('callers whose URLs name different maintenance databases (advisory locks are per database) both get the template', async () => {
    // The migration waits until both builds of the template exist (pg_database is seen from every
    // database), so that both are under way at once and race to rename theirs into place.
    const waitForTwo = `DO $$ BEGIN
      WHILE (SELECT count(*) FROM pg_database WHERE datname LIKE left(current_database(), length(current_database()) - 6) || '%') < 2
            AND clock_timestamp() < now() + interval '20 seconds' LOOP
        PERFORM pg_sleep(0.02);
      END LOOP;
    END $$;\n`;
    const { dir } = project({ ...TWO, 'sql/0003_meet.up.sql': waitForTwo });
    const other = `pgpair_maint_${process.pid}`;
    const admin = connectTo(SERVER());
    await admin.unsafe(`CREATE DATABASE "${other}"`);
    try {
      const results = await Promise.all([SERVER(), urlFor(other)].map((url) => templateDatabase({ url, dir })));
      assert.equal(new Set(results.map((r) => r.name)).size, 1);
      assert.equal(results.filter((r) => r.built).length, 1, JSON.stringify(results));
      assert.deepEqual(await flags(results[0]!.name), { datistemplate: true, datallowconn: false });
      assert.deepEqual(await databasesLike(`${results[0]!.name}_b`), [], 'no build left behind');
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${other}"`);
      await admin.end();
    }
  });

  it('an edited file makes a new template, and the old one is dropped', async () => {
    const { dir } = project(TWO);
    const before = await templateDatabase({ url: SERVER(), dir });
    assert.equal(before.built, true);
    assert.equal((await templateDatabase({ url: SERVER(), dir })).built, false, 'the same set finds its template');
    writeFileSync(join(dir, '0002_posts.up.sql'), 'CREATE TABLE posts (id int PRIMARY KEY, title text);\n');
    const db = await track(testDatabase({ url: SERVER() as `postgres://${string}`, dir }));
    assert.notEqual(db.template, before.name);
    assert.equal(await flags(before.name), undefined, 'the old template is gone');
    const sql = connectTo(db.url);
    try {
      assert.deepEqual(await rowsOf(sql, "SELECT column_name FROM information_schema.columns WHERE table_name = 'posts' ORDER BY 1"), [{ column_name: 'id' }, { column_name: 'title' }]);
    } finally {
      await sql.end();
    }
    // A new down file is an edit too (its checksum is recorded).
    writeFileSync(join(dir, '0002_posts.down.sql'), 'DROP TABLE IF EXISTS posts;\n');
    const again = await templateDatabase({ url: SERVER(), dir });
    assert.equal(again.built, true);
    assert.deepEqual(again.dropped, [db.template]);
  });

  it('drop() removes the database, also while a session is connected to it, and twice is fine', async () => {
    const { dir } = project(TWO);
    const db = await testDatabase({ url: SERVER() as `postgres://${string}`, dir });
    const client = connectTo(db.url);
    await client.unsafe('SELECT 1');
    await db.drop();
    await db.drop();
    assert.equal(await flags(db.name), undefined);
    await client.end({ timeout: 1 }).catch(() => {});
  });

  it('a session left on the template: a clone waits for it to go; one that stays fails in bounded time, naming it', async () => {
    const { dir } = project(TWO);
    const { name } = await templateDatabase({ url: SERVER(), dir });
    const admin = connectTo(SERVER());
    await admin.unsafe(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS true`);
    // The build's own session may still be ending (seen on a fast server): the squatter must be the only session.
    await untilRow(admin, `SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '${name}')`, `no session on ${name}`);
    // Not connectTo's client: its idle timeout (5 s) would end the session while PostgreSQL waits for it.
    const squatter = postgres(urlFor(name), { max: 1, onnotice: () => {} });
    try {
      const [{ pid }] = (await squatter.unsafe('SELECT pg_backend_pid() AS pid')) as unknown as [{ pid: number }];
      // Stays: refused after the bound, with the session named.
      const started = Date.now();
      await assert.rejects(testDatabase({ url: SERVER() as `postgres://${string}`, dir, busyTimeoutMs: 0 }), (error: unknown) => {
        assert.ok(error instanceof TemplateBusyError, String(error));
        assert.equal(error.busy, 'sessions');
        assert.deepEqual(error.sessions.map((s) => s.pid), [pid]);
        assert.match(error.message, new RegExp(`pid ${pid}`));
        return true;
      });
      assert.ok(Date.now() - started < 20_000, 'bounded');
      // Goes away while the clone waits: the clone succeeds.
      const cloning = track(testDatabase({ url: SERVER() as `postgres://${string}`, dir, busyTimeoutMs: 30_000 }));
      await untilRow(admin, "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE DATABASE %TEMPLATE%' AND state = 'active'", 'the clone waiting');
      await squatter.end();
      const db = await cloning;
      assert.equal((await statusOf({ url: db.url }, dir)).current, '0002');
    } finally {
      await squatter.end({ timeout: 1 }).catch(() => {});
      await admin.end();
    }
  });

  it('waiting for another build is bounded: a TemplateBusyError names the session that holds the build lock', async () => {
    const { dir } = project(TWO);
    const { readMigrations } = await import('../../lib/read/source.js');
    const { templateIdentity } = await import('../../lib/run/template-name.js');
    const name = templateIdentity(await readMigrations(dir), { schema: null, name: 'pgpair_history' }).name;
    // Another "builder": a session on the maintenance database holding the lock keyed from the name.
    const holder = postgres(SERVER(), { max: 1, onnotice: () => {} });
    try {
      const [{ pid }] = (await holder.unsafe('SELECT pg_backend_pid() AS pid, pg_advisory_lock(hashtextextended($1, 0))', [name])) as unknown as [{ pid: number }];
      await assert.rejects(templateDatabase({ url: SERVER(), dir, buildTimeoutMs: 300 }), (error: unknown) => {
        assert.ok(error instanceof TemplateBusyError, String(error));
        assert.equal(error.busy, 'building');
        assert.deepEqual(error.sessions.map((s) => s.pid), [pid]);
        return true;
      });
      assert.equal(await flags(name), undefined, 'nothing was built');
    } finally {
      await holder.end();
    }
    assert.equal((await templateDatabase({ url: SERVER(), dir })).built, true, 'once the lock is free, it builds');
  });

  it('a build cut short (its process killed, its database left) is dropped by the next build', async () => {
    const { dir } = project(TWO);
    const { readMigrations } = await import('../../lib/read/source.js');
    const { templateIdentity } = await import('../../lib/run/template-name.js');
    const name = templateIdentity(await readMigrations(dir), { schema: null, name: 'pgpair_history' }).name;
    const admin = connectTo(SERVER());
    try {
      await admin.unsafe(`CREATE DATABASE "${name}_b0a0b0c"`);
    } finally {
      await admin.end();
    }
    const { logger, messages } = recorder();
    const result = await templateDatabase({ url: SERVER(), dir, logger });
    assert.equal(result.name, name);
    assert.ok(messages.some((m) => m.includes(`dropping ${name}_b0a0b0c`)), messages.join('\n'));
    assert.equal(await flags(`${name}_b0a0b0c`), undefined);
  });

  it('a failed build leaves no template and no half-built database; the fixed files build it', async () => {
    const { dir } = project({ ...TWO, 'sql/0003_bad.up.sql': 'CREATE TABLE broken (id int REFERENCES nowhere);\n' });
    await assert.rejects(testDatabase({ url: SERVER() as `postgres://${string}`, dir }), MigrationFailedError);
    const prefix = (await import('../../lib/run/template-name.js')).templatePrefix(dir, { schema: null, name: 'pgpair_history' }).prefix;
    assert.deepEqual(await databasesLike(prefix), []);
    writeFileSync(join(dir, '0003_bad.up.sql'), 'CREATE TABLE fixed (id int);\n');
    const db = await track(testDatabase({ url: SERVER() as `postgres://${string}`, dir }));
    assert.equal((await statusOf({ url: db.url }, dir)).current, '0003');
    assert.deepEqual(await databasesLike(prefix), [db.template]);
  });

  it('an interrupted build leaves no template', async () => {
    const { dir } = project({ ...TWO, 'sql/0003_slow.up.sql': 'SELECT pg_sleep(30);\n' });
    const controller = new AbortController();
    const admin = connectTo(SERVER());
    try {
      const building = testDatabase({ url: SERVER() as `postgres://${string}`, dir, signal: controller.signal });
      await untilRow(admin, "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'", 'the migration running');
      controller.abort('SIGINT');
      await assert.rejects(building, (error: unknown) => {
        assert.ok(error instanceof InterruptedError, String(error));
        assert.match(error.message, /no template was made and the half-built database was dropped/);
        return true;
      });
    } finally {
      await admin.end();
    }
    const prefix = (await import('../../lib/run/template-name.js')).templatePrefix(dir, { schema: null, name: 'pgpair_history' }).prefix;
    assert.deepEqual(await databasesLike(prefix), []);
  });

  it('clones a template by name without reading any file (a global setup built it); an unknown name is a ConfigError', async () => {
    const { cwd, dir } = project(TWO);
    const built = await runCli(['template'], { cwd, env: { DATABASE_URL: SERVER() } });
    assert.equal(built.code, 0, built.stderr);
    const template = built.stdout.trim();
    // The files are gone: only the name is used.
    writeFileSync(join(dir, '0003_broken.sql'), 'not a migration name\n');
    const db = await track(testDatabase({ url: SERVER() as `postgres://${string}`, dir, template }));
    assert.equal(db.template, template);
    const sql = connectTo(db.url);
    try {
      assert.deepEqual(await rowsOf(sql, 'SELECT count(*)::int AS n FROM pgpair_history'), [{ n: 2 }]);
    } finally {
      await sql.end();
    }
    await assert.rejects(testDatabase({ url: SERVER() as `postgres://${string}`, template: `${template}_nope` }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, /does not exist/);
      return true;
    });
    await assert.rejects(testDatabase({ template }), ConfigError);
  });

  it('refuses a pglite:PATH url (testDatabase makes in-memory ones only)', async () => {
    const { dir } = project(TWO);
    await assert.rejects(testDatabase({ url: 'pglite:./somewhere', dir }), ConfigError);
  });

  it('refuses a wait bound that is not a number of milliseconds (NaN would retry a busy template forever)', async () => {
    const { dir } = project(TWO);
    for (const bound of [{ busyTimeoutMs: Number.NaN }, { busyTimeoutMs: -1 }, { buildTimeoutMs: Number.NaN }]) {
      await assert.rejects(testDatabase({ url: SERVER() as `postgres://${string}`, dir, ...bound }), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /must be a number of milliseconds/);
        return true;
      });
    }
    await assert.rejects(templateDatabase({ url: SERVER(), dir, buildTimeoutMs: Number.NaN }), ConfigError);
    const prefix = (await import('../../lib/run/template-name.js')).templatePrefix(dir, { schema: null, name: 'pgpair_history' }).prefix;
    assert.deepEqual(await databasesLike(prefix), [], 'nothing was built');
  });
});

describe('testDatabase on PGlite', () => {
  /** One process making one PGlite test database: what it logged, and where the database stands. */
  async function child(dir: string, cacheDir: string): Promise<{ messages: string[]; current: string | null }> {
    const script = `
      import pino from 'pino';
      import { migrator, testDatabase } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};
      const messages = [];
      const logger = pino({ level: 'info' }, { write: (line) => messages.push(JSON.parse(line).msg) });
      const db = await testDatabase({ dir: ${JSON.stringify(dir)}, cacheDir: ${JSON.stringify(cacheDir)}, logger });
      const m = await migrator({ connection: db.db, dir: ${JSON.stringify(dir)} });
      const { current } = await m.status();
      await m.close();
      await db.drop();
      process.stdout.write(JSON.stringify({ messages, current }));
    `;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    return JSON.parse(stdout) as { messages: string[]; current: string | null };
  }

  // One test, so that each snapshot is built once (a PGlite build and a process start cost seconds each).
  it('one snapshot per process, stored for the next process; an edit replaces it; a damaged file is built again', async () => {
    const { cwd, dir } = project(TWO);
    const cacheDir = join(cwd, 'cache');
    const { logger, messages } = recorder();
    const builds = () => messages.filter((m) => m.startsWith('built the PGlite template snapshot')).length;
    const first = await track(testDatabase({ dir, logger, cacheDir }));
    const second = await track(testDatabase({ dir, logger, cacheDir }));
    assert.equal(first.kind, 'pglite');
    if (first.kind !== 'pglite' || second.kind !== 'pglite') throw new Error('unreachable');
    // Built once, and the second call took it from this process's memory, not from the file.
    assert.equal(builds(), 1, messages.join('\n'));
    assert.deepEqual(messages.filter((m) => m.startsWith('loaded the PGlite template snapshot')), [], messages.join('\n'));
    assert.deepEqual(await statusOf({ connection: first.db }, dir), { current: '0002', head: '0002', states: ['0001:applied', '0002:applied'] });
    await first.db.exec('INSERT INTO users VALUES (1)');
    assert.deepEqual((await second.db.query('SELECT count(*)::int AS n FROM users')).rows, [{ n: 0 }]);
    await first.drop();
    assert.equal(first.db.closed, true);
    const stored = readdirSync(cacheDir);
    assert.equal(stored.length, 1);
    assert.match(stored[0]!, /^pgpair_tpl_.*\.tar$/);
    // Another process loads the stored snapshot and builds nothing.
    const loader = await child(dir, cacheDir);
    assert.equal(loader.current, '0002');
    assert.deepEqual(loader.messages.filter((m) => m.startsWith('built the PGlite')), [], loader.messages.join('\n'));
    assert.equal(loader.messages.filter((m) => m.startsWith('loaded the PGlite template snapshot')).length, 1);
    // An edit makes a new snapshot, which replaces the old one in the cache.
    writeFileSync(join(dir, '0003_tags.up.sql'), 'CREATE TABLE tags (name text);\n');
    const third = await track(testDatabase({ dir, logger, cacheDir }));
    if (third.kind !== 'pglite') throw new Error('unreachable');
    assert.equal((await statusOf({ connection: third.db }, dir)).current, '0003');
    assert.equal(builds(), 2);
    const now = readdirSync(cacheDir);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], stored[0]);
    // Damaged: the next process builds it again (and stores it again).
    writeFileSync(join(cacheDir, now[0]!), 'not a tar file');
    const repairer = await child(dir, cacheDir);
    assert.equal(repairer.current, '0003');
    assert.ok(repairer.messages.some((m) => /cannot be loaded; building it again/.test(m)), repairer.messages.join('\n'));
    assert.equal(repairer.messages.filter((m) => m.startsWith('built the PGlite template snapshot')).length, 1);
    assert.notEqual(readFileSync(join(cacheDir, now[0]!), 'utf8').slice(0, 14), 'not a tar file');
  });
});

describe('pgpair template (CLI)', () => {
  it('prints the name only, --clean drops it (and clones never dropped), and without a server it is a usage error', async () => {
    const { cwd, dir } = project(TWO);
    const env = { DATABASE_URL: SERVER() };
    const built = await runCli(['template'], { cwd, env });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /^pgpair_tpl_[a-z0-9_]+_[0-9a-f]{8}_[0-9a-f]{12}\n$/);
    const name = built.stdout.trim();
    assert.match(built.stderr, /built the template database/);
    assert.deepEqual(await flags(name), { datistemplate: true, datallowconn: false });
    // A multi-host URL (the drivers accept one) names the same template, found, not built again.
    const { host } = new URL(SERVER());
    const multi = await runCli(['template', '--json', '--url', SERVER().replace(`${host}/`, `${host},${host}/`)], { cwd });
    assert.equal(multi.code, 0, multi.stderr);
    assert.deepEqual(JSON.parse(multi.stdout), { ok: true, template: name, built: false, dropped: [] });
    // A test database its test never dropped (the process was killed): --clean drops it too.
    const left = await testDatabase({ url: SERVER() as `postgres://${string}`, dir });
    assert.equal(left.template, name);
    const cleaned = await runCli(['template', '--clean'], { cwd, env });
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.equal(cleaned.stdout, `${name}\n${left.name}\n`);
    assert.equal(await flags(name), undefined);
    assert.equal(await flags(left.name), undefined);
    const json = await runCli(['template', '--clean', '--json'], { cwd, env });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { ok: true, dropped: [] });

    const embedded = await runCli(['template'], { cwd });
    assert.equal(embedded.code, 2);
    assert.equal(embedded.stdout, '');
    assert.match(embedded.stderr, /no DATABASE_URL is set/);
    const memory = await runCli(['template', '--url', 'pglite:memory'], { cwd });
    assert.equal(memory.code, 2);
  });

  it('bad files: exit 2 naming the file; an unreachable server: exit 1, the password never shown', async () => {
    const { cwd } = project({ ...TWO, 'sql/0003_oops.sql': 'SELECT 1;\n' });
    const bad = await runCli(['template'], { cwd, env: { DATABASE_URL: SERVER() } });
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /0003_oops\.sql/);
    // A history table in a schema that does not exist: refused (exit 2) unless --create-schema.
    const { cwd: schemaless } = project(TWO);
    const env = { DATABASE_URL: SERVER() };
    const refused = await runCli(['template', '--table', 'tpl_schema.hist'], { cwd: schemaless, env });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /--create-schema/);
    const created = await runCli(['template', '--table', 'tpl_schema.hist', '--create-schema'], { cwd: schemaless, env });
    assert.equal(created.code, 0, created.stderr);
    const cleaned = await runCli(['template', '--table', 'tpl_schema.hist', '--clean'], { cwd: schemaless, env });
    assert.equal(cleaned.stdout, created.stdout);
    const { cwd: good } = project(TWO);
    const down = await runCli(['template', '--url', 'postgres://root:hunter2secret@127.0.0.1:1/postgres', '--json'], { cwd: good });
    assert.equal(down.code, 1);
    assert.doesNotMatch(down.stdout + down.stderr, /hunter2secret/);
    assert.equal(JSON.parse(down.stdout).error.code, 'E_CONNECTION');
  });
});
