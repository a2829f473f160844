/**
 * pgpair through a real PgBouncer (test/helpers/pgbouncer.ts). Session mode: everything works as
 * directly. Transaction mode: a run either works (alone, on one server connection) or refuses with
 * exit 2 naming transaction pooling; concurrent runs never apply a migration twice.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import postgres from 'postgres';
import { runCli, startCli, workdir, type CliResult } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';
import { needPsql } from '../helpers/psql.js';
import { pgbouncerBinary, startPgbouncer, type Pgbouncer, type PgbouncerOptions } from '../helpers/pgbouncer.js';

const binary = pgbouncerBinary();
const missing = 'missing' in binary ? binary.missing : null;

/** Skips the test (with the reason) when PgBouncer cannot be had; fails instead when CI is set. */
function needPgbouncer(t: TestContext): string | null {
  if (!missing) return (binary as { path: string }).path;
  if (process.env.CI) assert.fail(`${missing} (CI is set, so this is a failure, not a skip; .ci/run installs pgbouncer in step 0)`);
  t.skip(missing);
  return null;
}

async function withPgbouncer<T>(t: TestContext, options: PgbouncerOptions, fn: (pb: Pgbouncer) => Promise<T>): Promise<T | undefined> {
  const path = needPgbouncer(t);
  if (!path) return undefined;
  const pb = await startPgbouncer(path, options);
  try {
    return await fn(pb);
  } finally {
    await pb.stop();
  }
}

/** Migrations whose double application would be silent: each inserts its version into `applications`. */
function countedMigrations(n: number): Record<string, string> {
  const files: Record<string, string> = {
    'sql/0001_applications.up.sql': 'CREATE TABLE applications (version int NOT NULL, at timestamptz DEFAULT clock_timestamp());\nINSERT INTO applications (version) VALUES (1);\n',
    'sql/0001_applications.down.sql': 'DROP TABLE applications;\n',
  };
  for (let i = 2; i <= n; i++) {
    const v = String(i).padStart(4, '0');
    files[`sql/${v}_step_${i}.up.sql`] = `INSERT INTO applications (version) VALUES (${i});\nCREATE TABLE t_${i} (id int);\n`;
    files[`sql/${v}_step_${i}.down.sql`] = `DROP TABLE t_${i};\nDELETE FROM applications WHERE version = ${i};\n`;
  }
  return files;
}

const POOLER_MESSAGE = /goes through a connection pooler in transaction or statement mode \(such as PgBouncer with pool_mode = transaction\).*Point pgpair at the database directly \(the direct URL, not the pooled one\)/s;

function assertCleanRefusal(run: CliResult, label: string): void {
  assert.equal(run.code, 2, `${label}: ${run.stderr}`);
  assert.match(run.stderr, POOLER_MESSAGE, label);
  assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/, `${label}: no stack trace`);
}

/** Each version applied at most once, the history a prefix of the files that matches what ran. */
async function assertConsistent(db: Scratch, n: number): Promise<number> {
  const [exists] = await db.sql.unsafe(`SELECT to_regclass('applications') IS NOT NULL AS applications, to_regclass('pgpair_history') IS NOT NULL AS history`);
  if (!exists!.history) return 0;
  const history = (await db.sql.unsafe(`SELECT version FROM pgpair_history ORDER BY version::int`)).map((r) => Number(r.version));
  const applications = exists!.applications ? (await db.sql.unsafe(`SELECT version, count(*)::int AS n FROM applications GROUP BY version ORDER BY version`)).map((r) => [Number(r.version), Number(r.n)]) : [];
  for (const [version, count] of applications) assert.equal(count, 1, `version ${version} applied ${count} times`);
  assert.deepEqual(applications.map(([v]) => v), history, 'what ran is what the history says');
  assert.deepEqual(history, Array.from({ length: history.length }, (_, i) => i + 1), 'the history is a prefix of the files');
  const log = await db.sql.unsafe(`SELECT version, count(*)::int AS n FROM pgpair_history_log WHERE action = 'up' GROUP BY version`);
  for (const row of log) assert.equal(row.n, 1, `version ${row.version} logged ${row.n} times`);
  assert.ok(history.length <= n);
  return history.length;
}

/** Waits until `state()` holds, polling; fails the test (instead of hanging) when it has not after 30 s. */
async function until(what: string, state: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await state())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let db: Scratch;
before(async () => {
  db = await scratchDatabase('pgpair_pooler');
});
after(async () => db.drop());

/** A scratch database of its own for one test (or one round). */
async function freshDatabase(): Promise<Scratch> {
  return scratchDatabase('pgpair_pooler');
}

describe('directly, the pooler checks stay out of the way', () => {
  it('a migration that runs RESET ALL or DISCARD PLANS (clearing the run\'s marker until the restore) passes every check', async () => {
    const scratch = await freshDatabase();
    try {
      const cwd = workdir({
        ...countedMigrations(2),
        'sql/0003_reset.up.sql': 'RESET ALL;\nINSERT INTO applications (version) VALUES (3);\n',
        'sql/0004_reset_outside.up.sql': '-- pgpair:no-transaction\nRESET ALL;\nDISCARD PLANS;\nINSERT INTO applications (version) VALUES (4);\n',
        'sql/0005_after.up.sql': 'INSERT INTO applications (version) VALUES (5);\n',
      });
      const up = await runCli(['up', '--url', scratch.url], { cwd });
      assert.equal(up.code, 0, up.stderr);
      const [row] = await scratch.sql.unsafe(`SELECT array_agg(version ORDER BY version)::text AS versions, (SELECT count(*)::int FROM pgpair_history WHERE state = 'ok') AS ok FROM applications`);
      assert.deepEqual({ ...row }, { versions: '{1,2,3,4,5}', ok: 5 });
    } finally {
      await scratch.drop();
    }
  });
});

describe('PgBouncer in session mode', () => {
  it('up, status, a CREATE INDEX CONCURRENTLY migration and down work as directly', async (t) => {
    await withPgbouncer(t, { mode: 'session', poolSize: 2 }, async (pb) => {
      const cwd = workdir({
        ...countedMigrations(3),
        'sql/0004_index.up.sql': 'CREATE INDEX CONCURRENTLY applications_version ON applications (version);\n',
        'sql/0004_index.down.sql': 'DROP INDEX CONCURRENTLY applications_version;\n',
      });
      const url = pb.url(db.name);
      const up = await runCli(['up', '--url', url], { cwd });
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stdout, /now at 0004 \(4 migrations applied/);
      const status = await runCli(['status', '--json', '--url', url], { cwd });
      assert.equal(status.code, 0, status.stderr);
      const doc = JSON.parse(status.stdout);
      assert.equal(doc.current, '0004');
      assert.deepEqual(doc.migrations.map((m: { state: string }) => m.state), ['applied', 'applied', 'applied', 'applied']);
      assert.equal(doc.migrations[3].transactional, false);
      const [index] = await db.sql.unsafe(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('applications_version')`);
      assert.equal(index?.indisvalid, true);
      const down = await runCli(['down', '--steps', '2', '--url', url], { cwd });
      assert.equal(down.code, 0, down.stderr);
      const [after] = await db.sql.unsafe(`SELECT to_regclass('applications_version') AS index, to_regclass('t_3') AS t3, (SELECT count(*)::int FROM pgpair_history) AS history`);
      assert.deepEqual({ ...after }, { index: null, t3: null, history: 2 });
      const verify = await runCli(['verify', '--url', url], { cwd });
      assert.equal(verify.code, 0, verify.stderr);
      const down2 = await runCli(['down', 'base', '--url', url], { cwd });
      assert.equal(down2.code, 0, down2.stderr);
    });
  });

  it('the migration lock holds between two runs through the pooler: the second waits, then applies nothing twice', async (t) => {
    const scratch = await freshDatabase();
    try {
      await withPgbouncer(t, { mode: 'session', poolSize: 3 }, async (pb) => {
        // 0002 waits for a table lock the test holds, so the first run holds the migration lock until the test lets go.
        const files = countedMigrations(3);
        files['sql/0002_step_2.up.sql'] = `LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\n${files['sql/0002_step_2.up.sql']}`;
        // A run sends a migration while the one before it commits (the pipeline across migrations), so it would keep the
        // server connection from 0002 through 0004 and the intruder would come after it: nothing to catch. A COPY is
        // never pipelined, so the run sends 0003 only once 0002 has answered, which leaves the gap where the intruder
        // lands. The eight concurrent runs above share one server connection with pipelined runs.
        files['sql/0003_step_3.up.sql'] = 'COPY applications (version) FROM stdin;\n3\n\\.\nCREATE TABLE t_3 (id int);\n';
        const cwd = workdir(files);
        await scratch.sql.unsafe('CREATE TABLE gate ()');
        const gate = postgres(scratch.url, { max: 1, onnotice: () => {} });
        try {
          const url = pb.url(scratch.name);
          const first = await gate.begin(async (tx) => {
            await tx.unsafe('LOCK TABLE gate IN ACCESS EXCLUSIVE MODE');
            const run = startCli(['up', '--migration-lock-timeout', '0', '--log-level', 'debug', '--url', url], { cwd });
            await run.stderrMatches(/0002_step_2 waits for/);
            const second = startCli(['up', '--url', url], { cwd });
            await second.stderrMatches(/waiting for the migration lock on public\.pgpair_history, held by pid \d+ \(pgpair\)/);
            return [run, second] as const;
          });
          const [a, b] = await Promise.all(first.map((r) => r.exited));
          assert.equal(a!.code, 0, a!.stderr);
          assert.equal(b!.code, 0, b!.stderr);
          assert.match(a!.stdout, /now at 0003 \(3 migrations applied/);
          assert.match(b!.stdout, /already at 0003|nothing to (do|apply)|up to date|0 migrations/i);
          assert.equal(await assertConsistent(scratch, 3), 3);
        } finally {
          await gate.end();
        }
      });
    } finally {
      await scratch.drop();
    }
  });
});

describe('PgBouncer restarting, and in statement mode', () => {
  it('a pooler restart in the middle of a migration ends the run with exit 1, rolled back; the next run completes it', async (t) => {
    const scratch = await freshDatabase();
    try {
      await withPgbouncer(t, { mode: 'session', poolSize: 2 }, async (pb) => {
        const files = countedMigrations(3);
        files['sql/0002_step_2.up.sql'] = `LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\n${files['sql/0002_step_2.up.sql']}`;
        // A run sends a migration while the one before it commits (the pipeline across migrations), so it would keep the
        // server connection from 0002 through 0004 and the intruder would come after it: nothing to catch. A COPY is
        // never pipelined, so the run sends 0003 only once 0002 has answered, which leaves the gap where the intruder
        // lands. The eight concurrent runs above share one server connection with pipelined runs.
        files['sql/0003_step_3.up.sql'] = 'COPY applications (version) FROM stdin;\n3\n\\.\nCREATE TABLE t_3 (id int);\n';
        const cwd = workdir(files);
        await scratch.sql.unsafe('CREATE TABLE gate ()');
        const gate = postgres(scratch.url, { max: 1, onnotice: () => {} });
        try {
          const url = pb.url(scratch.name);
          const run = await gate.begin(async (tx) => {
            await tx.unsafe('LOCK TABLE gate IN ACCESS EXCLUSIVE MODE');
            const running = startCli(['up', '--migration-lock-timeout', '0', '--log-level', 'debug', '--url', url], { cwd });
            await running.stderrMatches(/0002_step_2 waits for/);
            await pb.restart();
            return running.exited;
          });
          assert.equal(run.code, 1, run.stderr);
          assert.match(run.stderr, new RegExp(`Lost the connection to [^ ]+@127\\.0\\.0\\.1:${pb.port}/`));
          assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
          assert.equal(await assertConsistent(scratch, 3), 1, '0001 committed, 0002 rolled back');
          const again = await runCli(['up', '--lock-timeout', '5s', '--url', url], { cwd });
          assert.equal(again.code, 0, again.stderr);
          assert.equal(await assertConsistent(scratch, 3), 3);
        } finally {
          await gate.end();
        }
      });
    } finally {
      await scratch.drop();
    }
  });

  it('statement mode: PgBouncer closes the connection at the first BEGIN, before pgpair takes its lock; exit 1, nothing done', async (t) => {
    const scratch = await freshDatabase();
    try {
      await withPgbouncer(t, { mode: 'statement', poolSize: 2 }, async (pb) => {
        const cwd = workdir(countedMigrations(2));
        const up = await runCli(['up', '--url', pb.url(scratch.name)], { cwd });
        assert.equal(up.code, 1, up.stderr);
        assert.match(up.stderr, /Lost the connection to .*\(the connection was closed by the server\)/);
        assert.doesNotMatch(up.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
        const [state] = await scratch.sql.unsafe(`SELECT to_regclass('pgpair_history') AS history,
          (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS locks`);
        assert.deepEqual({ ...state }, { history: null, locks: 0 }, 'nothing created, no lock left on a pooled connection');
        const status = await runCli(['status', '--url', pb.url(scratch.name)], { cwd });
        assert.equal(status.code, 0, status.stderr);
      });
    } finally {
      await scratch.drop();
    }
  });
});

describe('PgBouncer in transaction mode', () => {
  it('one run alone works: its transactions keep landing on the one idle server connection, which the checks confirm', async (t) => {
    const scratch = await freshDatabase();
    try {
      await withPgbouncer(t, { mode: 'transaction', poolSize: 3 }, async (pb) => {
        const cwd = workdir(countedMigrations(4));
        const up = await runCli(['up', '--url', pb.url(scratch.name)], { cwd });
        assert.equal(up.code, 0, up.stderr);
        assert.equal(await assertConsistent(scratch, 4), 4);
        const status = await runCli(['status', '--url', pb.url(scratch.name)], { cwd });
        assert.equal(status.code, 0, status.stderr);
      });
    } finally {
      await scratch.drop();
    }
  });

  for (const poolSize of [2, 1]) {
    it(`eight concurrent up runs (default_pool_size ${poolSize}, three rounds) apply each migration exactly once or refuse with exit 2`, async (t) => {
      await withPgbouncer(t, { mode: 'transaction', poolSize }, async (pb) => {
        const n = 8;
        const cwd = workdir(countedMigrations(n));
        const outcomes: Record<string, number> = {};
        for (let round = 0; round < 3; round++) {
          const scratch = await freshDatabase();
          try {
            const url = pb.url(scratch.name);
            const runs = await Promise.all(Array.from({ length: 8 }, () => runCli(['up', '--lock-timeout', '20s', '--url', url], { cwd, timeoutMs: 60_000 })));
            const summary = runs.map((run, i) => `run ${i}: exit ${run.code}: ${run.stderr.trim().split('\n').filter((l) => !l.startsWith('{')).slice(-1)[0] ?? ''}${run.stderr.includes('stays held') ? ' [lock left on a pooled connection]' : ''}`).join('\n');
            // POOLER_DIAG=DIR keeps every run's stderr of each round, to see what the runs did when a round fails.
            if (process.env.POOLER_DIAG) writeFileSync(`${process.env.POOLER_DIAG}/round-${poolSize}-${round}.txt`, runs.map((r, i) => `=== run ${i} exit ${r.code}\n${r.stderr}`).join('\n'));
            for (const [i, run] of runs.entries()) {
              if (run.code !== 0) assertCleanRefusal(run, `round ${round}, run ${i}; all runs:\n${summary}\n`);
              outcomes[String(run.code)] = (outcomes[String(run.code)] ?? 0) + 1;
            }
            const applied = await assertConsistent(scratch, n);
            const locks = await scratch.sql.unsafe(`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
            assert.deepEqual(locks.map((l) => l.pid), [], `round ${round}: no run left the migration lock behind on a pooled server connection`);
            // What the refused runs left is finished over the direct URL: nothing half-done stands in the way.
            const direct = await runCli(['up', '--lock-timeout', '5s', '--url', scratch.url], { cwd });
            assert.equal(direct.code, 0, direct.stderr);
            assert.equal(await assertConsistent(scratch, n), n, `after ${applied} through the pooler`);
          } finally {
            await scratch.drop();
          }
        }
        t.diagnostic(`exit codes over 24 runs: ${JSON.stringify(outcomes)}`);
      });
    });
  }

  it('a run whose server connection another client marks between two of its migrations stops with exit 2, keeping only what its checks passed', async (t) => {
    const scratch = await freshDatabase();
    try {
      // Pool size 1: every client shares one server connection, so the intruder's statement lands on the run's backend.
      await withPgbouncer(t, { mode: 'transaction', poolSize: 1, admin: true }, async (pb) => {
        if (!needPsql(t)) return;
        const files = countedMigrations(4);
        files['sql/0002_step_2.up.sql'] = `LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\n${files['sql/0002_step_2.up.sql']}`;
        // A run sends a migration while the one before it commits (the pipeline across migrations), so it would keep the
        // server connection from 0002 through 0004 and the intruder would come after it: nothing to catch. A COPY is
        // never pipelined, so the run sends 0003 only once 0002 has answered, which leaves the gap where the intruder
        // lands. The eight concurrent runs above share one server connection with pipelined runs.
        files['sql/0003_step_3.up.sql'] = 'COPY applications (version) FROM stdin;\n3\n\\.\nCREATE TABLE t_3 (id int);\n';
        const cwd = workdir(files);
        await scratch.sql.unsafe('CREATE TABLE gate ()');
        const gate = postgres(scratch.url, { max: 1, onnotice: () => {} });
        const intruder = postgres(pb.url(scratch.name), { max: 1, prepare: false, onnotice: () => {}, connection: { application_name: 'intruder' } });
        try {
          const run = await gate.begin(async (tx) => {
            await tx.unsafe('LOCK TABLE gate IN ACCESS EXCLUSIVE MODE');
            const running = startCli(['up', '--json', '--migration-lock-timeout', '0', '--url', pb.url(scratch.name)], { cwd });
            // The run's 0002 waits for the gate, in its transaction on the one server connection.
            await until('the run waits for the gate', async () => {
              const waiting = await scratch.sql.unsafe(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE gate%'`);
              return waiting.length > 0;
            });
            // Queued behind it at the pooler (its admin console says so): it runs as soon as 0002 commits, before the run's next transaction.
            // postgres.js sends a query only once it is awaited or then'd.
            const marked = intruder.unsafe(`SELECT set_config('pgpair.run', 'another run', false)`).then(() => undefined);
            await until('PgBouncer shows the intruder waiting for a server connection', async () => pb.admin('SHOW CLIENTS').some((line) => line.includes('|intruder|') && line.includes('|waiting|')));
            return { running, marked };
          });
          await run.marked;
          const result = await run.running.exited;
          assert.equal(result.code, 2, result.stderr);
          const doc = JSON.parse(result.stdout);
          assert.equal(doc.error.code, 'E_POOLER');
          assert.equal(doc.error.when, 'during');
          // The pooler decides whether the intruder or the run's next transaction gets the connection first, so the
          // run stops at 0003 or 0004; either way what it reports as applied is exactly what the history holds.
          const applied: string[] = doc.error.applied.map((s: { version: string }) => s.version);
          assert.ok(applied.length === 2 || applied.length === 3, `applied ${applied.join(', ')}`);
          assert.deepEqual(applied, ['0001', '0002', '0003'].slice(0, applied.length));
          const failed = `000${applied.length + 1}`;
          assert.equal(doc.error.failed.version, failed);
          assert.match(doc.error.message, new RegExp(`${failed}_step_${applied.length + 1} \\(up\\) was rolled back: nothing of it was kept\\. ${applied.join(', ')} were done before it`));
          assert.equal(await assertConsistent(scratch, 4), applied.length);
        } finally {
          await intruder.end();
          await gate.end();
        }
      });
    } finally {
      await scratch.drop();
    }
  });

  it('a pooler that resets every server connection after each transaction is refused before anything is done; the password never shows', async (t) => {
    const scratch = await freshDatabase();
    try {
      const password = 'pw-S3cret-through-the-pooler';
      await withPgbouncer(t, { mode: 'transaction', poolSize: 2, clientPassword: password, settings: { server_reset_query_always: '1' } }, async (pb) => {
        const url = pb.url(scratch.name);
        assert.ok(url.includes(password));
        const cwd = workdir(countedMigrations(2));
        const up = await runCli(['up', '--url', url], { cwd });
        assertCleanRefusal(up, 'up');
        assert.match(up.stderr, /Nothing was done/);
        const json = await runCli(['up', '--json', '--url', url], { cwd });
        assert.equal(json.code, 2);
        const doc = JSON.parse(json.stdout);
        assert.equal(doc.error.code, 'E_POOLER');
        assert.equal(doc.error.when, 'start');
        for (const run of [up, json]) {
          assert.ok(!run.stdout.includes(password) && !run.stderr.includes(password), 'the password never appears');
        }
        const [state] = await scratch.sql.unsafe(`SELECT to_regclass('pgpair_history') AS history, to_regclass('applications') AS applications`);
        assert.deepEqual({ ...state }, { history: null, applications: null });
        // Reading works through it, and a --sql script is made from the state read there.
        const status = await runCli(['status', '--url', url], { cwd });
        assert.equal(status.code, 0, status.stderr);
        const script = await runCli(['up', '--sql', '--url', url], { cwd });
        assert.equal(script.code, 0, script.stderr);
        assert.match(script.stdout, /INSERT INTO applications \(version\) VALUES \(2\)/);
      });
    } finally {
      await scratch.drop();
    }
  });
});
