/**
 * The reusable migrator (issue 13 item 5): one migrator, many calls, on a postgres.js Sql the
 * application holds, on a PGlite instance it holds, and on a URL. What must hold for the
 * application: pgpair uses its connection and gives it back as it found it (usable, not closed,
 * no advisory lock, no open transaction, its session settings and notice handler unchanged), also
 * after a failed migration and after the reserved session's backend is killed. The migrator reads
 * the directory once: a file changed afterwards is not what it runs.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pino from 'pino';
import postgres from 'postgres';
import { ConfigError, ConnectionError, InterruptedError, migrator, MigrationFailedError, status as oneShotStatus, UsageError, type Migrator } from '../../lib/index.js';
import { LOCK_KEY_SQL } from '../../lib/core/session-state.js';
import { workdir as newWorkdir } from '../helpers/cli.js';
import { connectTo, scratchDatabase, type Scratch, type Sql } from '../helpers/db.js';

const workdirs: string[] = [];
function sqlDir(files: Record<string, string>): string {
  const dir = newWorkdir(Object.fromEntries(Object.entries(files).map(([name, text]) => [`sql/${name}`, text])));
  workdirs.push(dir);
  return join(dir, 'sql');
}
after(() => {
  for (const dir of workdirs) rmSync(dir, { recursive: true, force: true });
});

const THREE = {
  '0001_users.up.sql': "CREATE TABLE users (id int PRIMARY KEY);\nDO $$ BEGIN RAISE NOTICE 'hello from 0001'; END $$;\n",
  '0001_users.down.sql': 'DROP TABLE users;\n',
  '0002_posts.up.sql': 'CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);\n',
  '0002_posts.down.sql': 'DROP TABLE posts;\n',
  '0003_tags.up.sql': 'CREATE TABLE tags (name text PRIMARY KEY);\n',
  '0003_tags.down.sql': 'DROP TABLE tags;\n',
};

/** What a test reads from the database the migrator works on, however it is reached. */
interface Probe {
  query(text: string): Promise<Record<string, unknown>[]>;
}

async function userTables(probe: Probe): Promise<string[]> {
  const rows = await probe.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'pgpair_%' ORDER BY 1`);
  return rows.map((r) => String(r.tablename));
}

async function history(probe: Probe): Promise<string[]> {
  const rows = await probe.query(`SELECT version_label, how FROM pgpair_history ORDER BY version`);
  return rows.map((r) => `${String(r.version_label)}:${String(r.how)}`);
}

/** status → up → down → stamp → script → verify on one migrator, checking the database after each. */
async function walk(m: Migrator, probe: Probe): Promise<void> {
  const before = await m.status();
  assert.deepEqual(
    before.migrations.map((s) => `${s.version}:${s.state}`),
    ['0001:pending', '0002:pending', '0003:pending'],
  );

  const applied = await m.up({ steps: 2 });
  assert.deepEqual(applied.steps.map((s) => `${s.action} ${s.version}`), ['up 0001', 'up 0002']);
  assert.equal(applied.to, '0002');
  assert.deepEqual(await userTables(probe), ['posts', 'users']);

  const reverted = await m.down();
  assert.deepEqual(reverted.steps.map((s) => `${s.action} ${s.version}`), ['down 0002']);
  assert.deepEqual(await userTables(probe), ['users']);

  const stamped = await m.stamp({ target: '0003' });
  assert.equal(stamped.to, '0003');
  assert.deepEqual(await history(probe), ['0001:executed', '0002:stamped', '0003:stamped']);
  assert.deepEqual(await userTables(probe), ['users'], 'a stamp runs no migration SQL');

  const plan = await m.plan({ command: 'down', steps: 1 });
  assert.deepEqual(plan.steps.map((s) => `${s.action} ${s.action === 'unstamp' ? '' : s.migration.version}`), ['down 0003']);
  const script = await m.script({ command: 'down', steps: 1 });
  assert.match(script.text, /DROP TABLE tags;/);
  assert.deepEqual(script.plan.steps.map((s) => s.action), ['down']);
  assert.deepEqual(await history(probe), ['0001:executed', '0002:stamped', '0003:stamped'], 'a script writes nothing');

  const verified = await m.verify();
  assert.equal(verified.ok, true, JSON.stringify(verified.problems));
  assert.equal(verified.report.current, '0003');
}

/** The server-side view of a database: no advisory lock held, no session left in a transaction. */
async function leftAsFound(admin: Sql, database: string): Promise<void> {
  const locks = await admin.unsafe(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = $1`, [database]);
  assert.equal(locks[0]!.n, 0, 'no advisory lock is held after a call');
  const inTransaction = await admin.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'`, [database]);
  assert.equal(inTransaction[0]!.n, 0, 'no session is left in a transaction');
}

/** Reserves every connection of a pool of `max` (failing, not hanging, when pgpair kept one), runs `fn` on each, releases them. */
async function onEveryConnection<T>(sql: postgres.Sql, max: number, fn: (c: postgres.ReservedSql) => Promise<T>): Promise<T[]> {
  const reserved: postgres.ReservedSql[] = [];
  try {
    for (let i = 0; i < max; i++) {
      let timer: NodeJS.Timeout | undefined;
      const giveUp = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the pool has no free connection: pgpair kept one reserved')), 10_000);
      });
      reserved.push(await Promise.race([sql.reserve(), giveUp]).finally(() => clearTimeout(timer)));
    }
    return await Promise.all(reserved.map(fn));
  } finally {
    for (const r of reserved) r.release();
  }
}

/** Waits until a statement matching `pattern` runs in `database`, and returns its backend's pid. */
async function runningStatement(admin: Sql, database: string, pattern: string): Promise<number> {
  for (;;) {
    const rows = await admin.unsafe(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE $2 AND pid <> pg_backend_pid()`, [database, pattern]);
    if (rows.length > 0) return Number(rows[0]!.pid);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

let db: Scratch;
let admin: Sql;
beforeEach(async () => {
  db = await scratchDatabase('pgpair_migrator');
  admin = connectTo(db.url);
});
afterEach(async () => {
  await admin.end({ timeout: 1 });
  await db.drop();
});

describe('a migrator on the application\'s postgres.js Sql', () => {
  it('walks status → up → down → stamp → script → verify, and gives the pool back as it found it', async () => {
    const notices: string[] = [];
    const onnotice = (notice: postgres.Notice) => void notices.push(String(notice.message));
    const sql = postgres(db.url, { max: 2, onnotice, connection: { application_name: 'the-app' } });
    try {
      // The application's own session settings, on both connections of its pool (pgpair sets synchronous_commit for a run of several migrations).
      await onEveryConnection(sql, 2, (c) => c.unsafe(`SET statement_timeout = '123s'; SET synchronous_commit = local`));
      const [me] = await sql.unsafe(`SELECT current_user::text AS who`);
      const m = await migrator({ connection: sql, dir: sqlDir(THREE) });
      await walk(m, { query: (text) => sql.unsafe(text) });
      await m.close();

      assert.ok(notices.includes('hello from 0001'), `the migration's NOTICE reached the application's onnotice: ${JSON.stringify(notices)}`);
      assert.equal(sql.options.onnotice, onnotice, 'the notice handler is the application\'s still');
      await leftAsFound(admin, db.name);
      const settings = await onEveryConnection(sql, 2, async (c) => {
        const [row] = await c.unsafe(`SELECT current_setting('statement_timeout') AS st, current_setting('synchronous_commit') AS sc,
          current_setting('default_transaction_read_only') AS ro, current_setting('application_name') AS app, current_user::text AS who`);
        return row;
      });
      for (const row of settings) assert.deepEqual({ ...row }, { st: '123s', sc: 'local', ro: 'off', app: 'the-app', who: me!.who });
      assert.deepEqual(await sql`SELECT 1 AS one`.then((rows) => rows[0]), { one: 1 }, 'the application\'s Sql works after close()');
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('refuses a pool whose options reshape the rows pgpair reads, before any call', async () => {
    const camel = postgres(db.url, { max: 1, onnotice: () => {}, transform: postgres.camel });
    try {
      await assert.rejects(migrator({ connection: camel, dir: sqlDir(THREE) }), (error: unknown) => error instanceof ConfigError && /transform/.test(error.message));
    } finally {
      await camel.end({ timeout: 1 });
    }
  });

  it('a failed migration throws MigrationFailedError and the application\'s connection still works', async () => {
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    try {
      const m = await migrator({
        connection: sql,
        dir: sqlDir({ '0001_ok.up.sql': 'CREATE TABLE ok (id int);\n', '0002_bad.up.sql': 'CREATE TABLE half (id int);\nSELECT 1/0;\n' }),
      });
      await assert.rejects(m.up(), (error: unknown) => {
        assert.ok(error instanceof MigrationFailedError, String(error));
        assert.equal(error.version, '0002');
        assert.equal(error.pg.sqlstate, '22012');
        assert.equal(error.line, 2);
        return true;
      });
      assert.deepEqual(await history({ query: (text) => sql.unsafe(text) }), ['0001:executed']);
      assert.deepEqual(await userTables({ query: (text) => sql.unsafe(text) }), ['ok'], 'the failed migration rolled back');
      await leftAsFound(admin, db.name);
      assert.deepEqual([...(await sql`SELECT 2 AS two`)], [{ two: 2 }]);
      // The migrator itself is still usable.
      assert.equal((await m.status()).current, '0001');
      await m.close();
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('a backend kill of the reserved session ends the call with a ConnectionError, and the pool still works', async () => {
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    try {
      const m = await migrator({ connection: sql, dir: sqlDir({ '0001_slow.up.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n' }) });
      const running = m.up();
      running.catch(() => {});
      const pid = await runningStatement(admin, db.name, '%pg_sleep(60)%');
      await admin.unsafe('SELECT pg_terminate_backend($1)', [pid]);
      await assert.rejects(running, (error: unknown) => {
        assert.ok(error instanceof ConnectionError, String(error));
        assert.match(error.message, /Lost the connection/);
        return true;
      });
      // postgres.js hands the server's "terminating connection" message to the next query on that pool connection
      // (it does so with or without pgpair); after that, every query works.
      for (let attempt = 1; ; attempt++) {
        try {
          assert.deepEqual(await Promise.all([sql`SELECT 1 AS n`.then((r) => r[0]), sql`SELECT 2 AS n`.then((r) => r[0])]), [{ n: 1 }, { n: 2 }]);
          break;
        } catch (error) {
          assert.ok(attempt === 1, `the pool still fails after the first round: ${String(error)}`);
          assert.match(String((error as Error).message), /terminating connection due to administrator command/);
        }
      }
      await leftAsFound(admin, db.name);
      // The next call reserves a fresh session; the killed migration's transaction was rolled back.
      const after = await m.status();
      assert.deepEqual(after.migrations.map((s) => `${s.version}:${s.state}`), ['0001:pending']);
      await m.close();
      assert.deepEqual([...(await sql`SELECT 3 AS n`)], [{ n: 3 }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('an aborted signal cancels the statement on the reserved session; the pool gets the session back, usable', async () => {
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    try {
      const m = await migrator({ connection: sql, dir: sqlDir({ '0001_slow.up.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n' }) });
      const controller = new AbortController();
      const running = m.up({ signal: controller.signal });
      running.catch(() => {});
      await runningStatement(admin, db.name, '%pg_sleep(60)%');
      controller.abort('SIGINT');
      await assert.rejects(running, (error: unknown) => error instanceof InterruptedError && /SIGINT/.test(error.message));
      await leftAsFound(admin, db.name);
      const idle = await onEveryConnection(sql, 2, async (c) => (await c.unsafe(`SELECT to_regclass('slow') IS NULL AS rolled_back`))[0]!.rolled_back);
      assert.deepEqual(idle, [true, true]);
      assert.equal((await m.status()).migrations[0]!.state, 'pending');
      await m.close();
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('a call waiting for a free connection of a busy pool ends when its signal is aborted', async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const busy = await sql.reserve();
    try {
      // The call says on the log when it asks the pool for a session: abort once it has.
      let asked: () => void = () => {};
      const askedForSession = new Promise<void>((resolve) => (asked = resolve));
      const logger = pino({ level: 'debug' }, { write: (line: string) => void (/reserving a session/.test(line) && asked()) });
      const m = await migrator({ connection: sql, dir: sqlDir(THREE), logger });
      const controller = new AbortController();
      const waiting = m.status({ signal: controller.signal });
      waiting.catch(() => {});
      await askedForSession;
      controller.abort('SIGTERM');
      await assert.rejects(waiting, (error: unknown) => error instanceof InterruptedError && /free connection/.test(error.message));
      busy.release();
      // The session reserved after the abort went back to the pool: the application and the next call get it.
      assert.deepEqual([...(await sql`SELECT 1 AS n`)], [{ n: 1 }]);
      assert.equal((await m.status()).current, null);
      await m.close();
      assert.deepEqual([...(await sql`SELECT 2 AS n`)], [{ n: 2 }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('a backend kill while pgpair waits for the lock (its session idle) ends the call with a ConnectionError, not a crash', async () => {
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    // Another run holds the migration lock, so pgpair's session polls for it and sits idle in between.
    const holder = await admin.reserve();
    try {
      await holder.unsafe(`SELECT pg_advisory_lock(${LOCK_KEY_SQL})`, ['public.pgpair_history']);
      const m = await migrator({ connection: sql, dir: sqlDir({ '0001_a.up.sql': 'CREATE TABLE a (id int);\n' }) });
      const running = m.up({ lockTimeoutMs: 60_000 });
      running.catch(() => {});
      // Its polls (after the first try and the look at who holds the lock) start with this text; between them it is idle.
      let pid: number | null = null;
      while (pid === null) {
        const rows = await admin.unsafe(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'idle' AND query LIKE 'SELECT pg_try_advisory_lock(%' AND pid <> pg_backend_pid()`, [db.name]);
        pid = rows.length > 0 ? Number(rows[0]!.pid) : null;
        if (pid === null) await new Promise((resolve) => setImmediate(resolve));
      }
      await admin.unsafe('SELECT pg_terminate_backend($1)', [pid]);
      await assert.rejects(running, ConnectionError);
      await holder.unsafe(`SELECT pg_advisory_unlock_all()`);
      // The killed session is not given back to the pool as if it were alive: the next call gets a fresh one and runs.
      assert.deepEqual((await m.up()).steps.map((s) => s.version), ['0001']);
      await m.close();
      await leftAsFound(admin, db.name);
    } finally {
      holder.release();
      await sql.end({ timeout: 1 });
    }
  });
});

describe('a migrator on the application\'s PGlite instance', () => {
  it('walks status → up → down → stamp → script → verify, and leaves the instance open and usable', async () => {
    const pg = await PGlite.create();
    try {
      await pg.exec(`SET statement_timeout = '77s'`);
      const m = await migrator({ connection: pg, dir: sqlDir(THREE) });
      await walk(m, { query: async (text) => (await pg.query<Record<string, unknown>>(text)).rows });
      await m.close();
      assert.equal(pg.closed, false, 'pgpair never closes the application\'s instance');
      assert.equal(pg.isInTransaction(), false);
      const [row] = (await pg.query<{ locks: number; st: string; app: string }>(
        `SELECT (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory') AS locks, current_setting('statement_timeout') AS st, current_setting('application_name') AS app`,
      )).rows;
      assert.deepEqual(row, { locks: 0, st: '77s', app: '' });
      await assert.rejects(m.status(), UsageError, 'a closed migrator refuses calls');
    } finally {
      await pg.close();
    }
  });

  it('a failed migration throws MigrationFailedError and the instance still works', async () => {
    const pg = await PGlite.create();
    try {
      const m = await migrator({ connection: pg, dir: sqlDir({ '0001_bad.up.sql': 'CREATE TABLE half (id int);\nSELECT 1/0;\n' }) });
      await assert.rejects(m.up(), (error: unknown) => error instanceof MigrationFailedError && error.pg.sqlstate === '22012');
      assert.equal(pg.isInTransaction(), false);
      // An instance the application left inside a transaction is refused, and its transaction left alone.
      await pg.exec('BEGIN; CREATE TABLE mine (id int);');
      await assert.rejects(m.status(), (error: unknown) => error instanceof ConfigError && /inside a transaction/.test(error.message));
      assert.equal(pg.isInTransaction(), true);
      await pg.exec('ROLLBACK');
      assert.deepEqual((await pg.query(`SELECT to_regclass('half') AS t`)).rows, [{ t: null }]);
      await m.close();
    } finally {
      await pg.close();
    }
  });
});

describe('a migrator on a URL', () => {
  it('walks status → up → down → stamp → script → verify on one session of its own, closed by close()', async () => {
    const m = await migrator({ url: db.url, dir: sqlDir(THREE) });
    const pids = new Set<number>();
    const probe: Probe = {
      query: async (text) => {
        for (const row of await admin.unsafe(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgpair'`, [db.name])) pids.add(Number(row.pid));
        return admin.unsafe(text);
      },
    };
    await walk(m, probe);
    assert.equal(pids.size, 1, 'every call used the one session');
    await leftAsFound(admin, db.name);
    await m.close();
    const left = await admin.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgpair'`, [db.name]);
    assert.equal(left[0]!.n, 0, 'close() ended pgpair\'s session');
  });

  it('reports a lost connection as a ConnectionError, and the next call connects again', async () => {
    const m = await migrator({ url: db.url, dir: sqlDir({ '0001_slow.up.sql': 'SELECT pg_sleep(60);\n' }) });
    try {
      const running = m.up();
      running.catch(() => {});
      const pid = await runningStatement(admin, db.name, '%pg_sleep(60)%');
      await admin.unsafe('SELECT pg_terminate_backend($1)', [pid]);
      await assert.rejects(running, ConnectionError);
      assert.equal((await m.status()).migrations[0]!.state, 'pending');
    } finally {
      await m.close();
    }
  });

  it('serialises calls made at once: a status asked while up runs sees what up did', async () => {
    const m = await migrator({ url: db.url, dir: sqlDir(THREE) });
    try {
      const [applied, report] = await Promise.all([m.up(), m.status()]);
      assert.equal(applied.steps.length, 3);
      assert.deepEqual(report.migrations.map((s) => s.state), ['applied', 'applied', 'applied']);
    } finally {
      await m.close();
    }
  });

  it('reads the directory once: it runs the files as it read them, and `files` takes entries instead of a directory', async () => {
    const dir = sqlDir({ '0001_users.up.sql': 'CREATE TABLE users (id int);\n' });
    const m = await migrator({ url: db.url, dir });
    const readChecksum = m.files.migrations[0]!.up.checksum;
    writeFileSync(join(dir, '0001_users.up.sql'), 'CREATE TABLE users (id int);\nCREATE TABLE sneaky (id int);\n');
    writeFileSync(join(dir, '0002_later.up.sql'), 'CREATE TABLE later (id int);\n');
    try {
      const result = await m.up();
      assert.deepEqual(result.steps.map((s) => s.version), ['0001'], 'a file added afterwards is not seen');
      assert.deepEqual(await userTables({ query: (text) => admin.unsafe(text) }), ['users'], 'the SQL that ran is the SQL that was read');
      const [row] = await admin.unsafe(`SELECT up_checksum FROM pgpair_history WHERE version_label = '0001'`);
      assert.equal(row!.up_checksum, readChecksum, 'the checksum recorded is that of what ran');
    } finally {
      await m.close();
    }
    // A new reader sees the edit for what it is.
    const report = await oneShotStatus({ url: db.url, dir });
    assert.deepEqual(report.migrations.map((s) => `${s.version}:${s.state}`), ['0001:changed', '0002:pending']);

    const fromEntries = await migrator({ url: db.url, files: [{ name: '0001_users.up.sql', text: 'CREATE TABLE users (id int);\n' }, { name: '0002_later.up.sql', text: 'CREATE TABLE later (id int);\n' }] });
    try {
      assert.deepEqual((await fromEntries.up()).steps.map((s) => s.version), ['0002']);
    } finally {
      await fromEntries.close();
    }
  });
});
