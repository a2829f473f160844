/**
 * Fault injection: processes killed at random moments, sessions terminated by
 * the server, signals, racing runs. After each fault the schema and the
 * history must agree exactly, the lock must be free, and a rerun must finish.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli, startCli, workdir, type CliResult } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** N migrations; each creates table t_i (with an index and a row) and records nothing else, so the schema tells what ran. */
function corpus(n: number, options: { idempotent?: boolean } = {}): Record<string, string> {
  const files: Record<string, string> = {};
  const ifNot = options.idempotent ? 'IF NOT EXISTS ' : '';
  for (let i = 1; i <= n; i++) {
    const v = String(i).padStart(4, '0');
    files[`sql/${v}_t${i}.up.sql`] = options.idempotent
      ? `CREATE TABLE ${ifNot}t_${i} (id int PRIMARY KEY, label text);\n`
      : `CREATE TABLE t_${i} (id int PRIMARY KEY, label text);\nCREATE INDEX t_${i}_label ON t_${i} (label);\nINSERT INTO t_${i} VALUES (1, 'x');\n`;
    files[`sql/${v}_t${i}.down.sql`] = `DROP TABLE ${options.idempotent ? 'IF EXISTS ' : ''}t_${i};\n`;
  }
  return files;
}

/** Every recorded version is fully applied and nothing applied is unrecorded; no row is running/failed; returns the recorded count. */
async function assertConsistent(db: Scratch, n: number): Promise<number> {
  const history = await db.sql.unsafe(`SELECT to_regclass('pgpair_history') IS NOT NULL AS present`);
  const recorded = new Set<number>();
  if (history[0]!.present) {
    const rows = await db.sql.unsafe(`SELECT version::int AS v, state FROM pgpair_history`);
    for (const row of rows) {
      assert.equal(row.state, 'ok', `version ${row.v} is ${row.state}`);
      recorded.add(Number(row.v));
    }
  }
  const present = await db.sql.unsafe(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 't\\_%'`);
  const applied = new Set(present.map((r) => Number(String(r.relname).slice(2))));
  for (let i = 1; i <= n; i++) {
    assert.equal(applied.has(i), recorded.has(i), `t_${i}: table ${applied.has(i) ? 'exists' : 'missing'} but version ${recorded.has(i) ? 'recorded' : 'not recorded'}`);
    if (applied.has(i)) {
      const rows = await db.sql.unsafe(`SELECT count(*)::int AS n FROM t_${i}`);
      assert.equal(rows[0]!.n, 1, `t_${i} is half applied`);
    }
  }
  return recorded.size;
}

/** The server ends a killed client's session asynchronously: wait (bounded) until no advisory lock is held. */
async function assertLockFree(db: Scratch): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [row] = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()`);
    if (row!.n === 0) return;
    await sleep(50);
  }
  assert.fail('the migration lock is still held 5 s after the run ended');
}

/** Runs the CLI and sends it `signal` after `delayMs`: a crash at a random moment, not a synchronisation. */
async function killAfter(args: string[], cwd: string, delayMs: number, signal: NodeJS.Signals): Promise<CliResult> {
  const run = startCli(args, { cwd });
  const timer = setTimeout(() => run.child.kill(signal), delayMs);
  try {
    return await run.exited;
  } finally {
    clearTimeout(timer);
  }
}

describe('crash safety (SIGKILL at random moments)', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase();
  });
  after(async () => db.drop());

  it('after every kill of up and of down, schema and history agree, the lock is free, and a rerun completes', async () => {
    const n = 30;
    const cwd = workdir(corpus(n));
    const url = ['--url', db.url];
    // Deterministic pseudo-random delays spread over start-up, connecting, locking and applying.
    let seed = 20261122;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    // Kill delays are drawn from the measured length of a whole run, so the kills land during start-up,
    // connecting, locking and applying whatever the speed of this machine.
    // The shortest of three whole runs: one slow run (a busy machine, a cold cache) would otherwise
    // stretch every delay past the end of most runs.
    const durations: number[] = [];
    for (let i = 0; i < 3; i++) {
      const timed = Date.now();
      const baseline = await runCli(['up', ...url], { cwd });
      assert.equal(baseline.code, 0, baseline.stderr);
      durations.push(Date.now() - timed);
      assert.equal((await runCli(['down', 'base', ...url], { cwd })).code, 0);
    }
    const runMs = Math.min(...durations);
    let kills = 0;
    let killedMidRun = 0;
    let recorded = 0;
    for (let round = 0; killedMidRun < 50 && round < 200; round++) {
      // Mostly up, sometimes down; never a run with nothing to do (all applied: down; none: up).
      const direction = recorded === n ? 'down' : recorded === 0 ? 'up' : round % 3 === 2 ? 'down' : 'up';
      const args = direction === 'up' ? ['up', ...url] : ['down', 'base', ...url];
      const result = await killAfter(args, cwd, Math.floor(50 + random() * runMs), 'SIGKILL');
      kills++;
      if (result.signal === 'SIGKILL') killedMidRun++;
      else assert.equal(result.code, 0, result.stderr);
      await assertLockFree(db);
      recorded = await assertConsistent(db, n);
    }
    const finish = await runCli(['up', ...url], { cwd });
    assert.equal(finish.code, 0, finish.stderr);
    assert.equal(await assertConsistent(db, n), n);
    const back = await runCli(['down', 'base', ...url], { cwd });
    assert.equal(back.code, 0, back.stderr);
    assert.equal(await assertConsistent(db, n), 0);
    assert.ok(killedMidRun >= 50, `only ${killedMidRun} of ${kills} kills landed while a run was in progress`);
    process.stderr.write(`crash safety: ${killedMidRun} kills during a run (of ${kills} attempts, the shortest whole run of 30 took ${runMs} ms), 0 inconsistencies\n`);
  });
});

describe('lost connections', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase();
  });
  after(async () => db.drop());

  /**
   * Terminates pgpair's session once it runs `SELECT pg_sleep(3)`, the last statement of each
   * migration here: the migration has started (for the COPY one, its data was streamed), whatever
   * the load on the machine. Bounded, so a run that never gets there fails the test.
   */
  async function terminateDuringSleep(): Promise<number> {
    for (let i = 0; i < 1200; i++) {
      const rows = await db.sql.unsafe(`SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair' AND state = 'active' AND query ILIKE '%pg_sleep(3)%'`);
      if (rows.length > 0) return rows.length;
      await sleep(25);
    }
    return 0;
  }

  it('terminating the backend mid-migration, mid-COPY and while waiting for the lock ends with exit 1 and a clear message, never a crash', async () => {
    const copyRows = Array.from({ length: 200_000 }, (_, i) => `${i}\trow ${i}`).join('\n');
    const cwd = workdir({
      'sql/0001_slow.up.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(3);\n',
      'sql/0002_copy.up.sql': `CREATE TABLE bulk (id int, label text);\nCOPY bulk FROM stdin;\n${copyRows}\n\\.\nSELECT pg_sleep(3);\n`,
    });
    for (const expectTable of ['slow', 'bulk']) {
      const run = runCli(['up', '--url', db.url], { cwd });
      assert.ok((await terminateDuringSleep()) > 0, 'found the session to terminate');
      const r = await run;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Lost the connection to [^ ]+@127\.0\.0\.1:\d+\/pgpair_t_\w+ .*The server rolled back any transaction in progress and released the migration lock/);
      assert.doesNotMatch(r.stderr, /TypeError|\n\s+at /);
      const exists = await db.sql.unsafe(`SELECT to_regclass($1) IS NOT NULL AS e`, [expectTable]);
      assert.equal(exists[0]!.e, false, `${expectTable} was rolled back`);
      await assertLockFree(db);
      if (expectTable === 'slow') {
        const fix = await runCli(['up', '0001', '--url', db.url], { cwd });
        assert.equal(fix.code, 0, fix.stderr);
      }
    }
    // While waiting for the lock.
    const holder = await scratchHolder(db);
    try {
      const run = runCli(['up', '--url', db.url, '--lock-timeout', '30s'], { cwd });
      // Waiting: its session is ready and has tried the lock (the first try and the polls name pg_try_advisory_lock).
      let waiting: { pid: number }[] = [];
      for (let i = 0; i < 1200 && waiting.length === 0; i++) {
        await sleep(25);
        waiting = (await db.sql.unsafe(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair' AND query ILIKE '%pg_try_advisory_lock%'`)) as unknown as { pid: number }[];
      }
      assert.equal(waiting.length, 1);
      await db.sql.unsafe(`SELECT pg_terminate_backend($1)`, [waiting[0]!.pid]);
      const r = await run;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Lost the connection/);
      assert.doesNotMatch(r.stderr, /TypeError|\n\s+at /);
    } finally {
      await holder.end();
    }
  });

  it('statements queued behind a lost session never run on a new one (postgres.js would reconnect for them)', async () => {
    // More statements than postgres.js pipelines at once (100): the rest wait in its queue, and on the
    // close it used to open a new session for them, where they ran outside the migration's transaction.
    const inserts = Array.from({ length: 300 }, (_, i) => `INSERT INTO probe VALUES (${i});`).join('\n');
    const cwd = workdir({
      'sql/0001_probe.up.sql': 'CREATE TABLE probe (n int);\n',
      'sql/0002_many.up.sql': `SELECT pg_sleep(3);\n${inserts}\n`,
    });
    const table = ['--table', 'queued_history'];
    const run = runCli(['up', '--url', db.url, ...table], { cwd });
    assert.ok((await terminateDuringSleep()) > 0, 'found the session to terminate');
    const r = await run;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Lost the connection to /);
    const [state] = await db.sql.unsafe(`SELECT (SELECT count(*)::int FROM probe) AS inserted, (SELECT count(*)::int FROM queued_history) AS recorded`);
    assert.deepEqual({ ...state }, { inserted: 0, recorded: 1 });
    await assertLockFree(db);
  });

  it('a server that refuses connections gives a clear error at once', async () => {
    const r = await runCli(['up', '--url', 'postgres://u:hunter2@127.0.0.1:1/db'], { cwd: workdir(corpus(1)) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot connect to u@127\.0\.0\.1:1\/db: the server refused the connection/);
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  });
});

/**
 * Replays the append-only log in order: an up or stamp of a version already
 * recorded, or a down/unstamp of one that is not, means two runs interleaved.
 * The replayed set must equal the history.
 */
async function assertLogReplays(db: Scratch): Promise<void> {
  const log = await db.sql.unsafe(`SELECT action, version::int AS v FROM pgpair_history_log ORDER BY id`);
  const recorded = new Set<number>();
  for (const entry of log) {
    const v = Number(entry.v);
    if (entry.action === 'up' || entry.action === 'stamp') {
      assert.ok(!recorded.has(v), `${entry.action} of ${v} while it was recorded: applied twice`);
      recorded.add(v);
    } else if (entry.action === 'down' || entry.action === 'unstamp') {
      assert.ok(recorded.has(v), `${entry.action} of ${v} while it was not recorded`);
      recorded.delete(v);
    }
  }
  const history = (await db.sql.unsafe(`SELECT version::int AS v FROM pgpair_history`)).map((r) => Number(r.v));
  assert.deepEqual([...recorded].sort((a, b) => a - b), history.sort((a, b) => a - b));
}

async function scratchHolder(db: Scratch) {
  const { default: postgres } = await import('postgres');
  const holder = postgres(db.url, { max: 1, onnotice: () => {} });
  await holder.unsafe(`SELECT pg_advisory_lock(hashtextextended('pgpair:' || current_database() || ':' || 'public.pgpair_history', 0))`);
  return holder;
}

describe('signals', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase();
  });
  after(async () => db.drop());

  it('SIGINT or SIGTERM rolls back the migration in progress, releases the lock, exits 130/143 saying where it stopped', async () => {
    const cwd = workdir({
      'sql/0001_fast.up.sql': 'CREATE TABLE fast (id int);\n',
      'sql/0002_slow.up.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(20);\n',
    });
    for (const [signal, exitCode] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const run = startCli(['up', '--url', db.url], { cwd });
      const child = run.child;
      // Signal once the slow statement runs (not after a fixed delay: on a busy machine the run may not have got there).
      let running = false;
      for (let i = 0; i < 1200 && !running && child.exitCode === null; i++) {
        const rows = await db.sql.unsafe(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair' AND state = 'active' AND query ILIKE '%pg_sleep(20)%'`);
        running = rows.length > 0;
        if (!running) await sleep(25);
      }
      assert.ok(running, `the slow statement never ran: ${run.stderr()}`);
      const sent = Date.now();
      child.kill(signal);
      const { code, stderr } = await run.exited;
      assert.ok(Date.now() - sent < 10_000, 'stopped promptly, did not wait for pg_sleep(20)');
      assert.equal(code, exitCode, stderr);
      assert.match(stderr, new RegExp(`Interrupted by ${signal} during up 0002_slow at statement 2 of 2: its transaction was rolled back`));
      const [state] = await db.sql.unsafe(`SELECT (SELECT count(*) FROM pgpair_history)::int AS history, to_regclass('slow') IS NULL AS rolled_back`);
      assert.deepEqual({ ...state }, { history: 1, rolled_back: true });
      await assertLockFree(db);
    }
  });
});

describe('racing runs', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase();
  });
  after(async () => db.drop());

  it('sixteen up processes, and up racing down and stamp, never apply twice or leave the history inconsistent', async () => {
    const n = 20;
    const url = ['--url', db.url, '--lock-timeout', '120s'];
    const cwd = workdir(corpus(n));
    const sixteen = await Promise.all(Array.from({ length: 16 }, () => runCli(['up', '--json', ...url], { cwd, timeoutMs: 180_000 })));
    for (const r of sixteen) assert.equal(r.code, 0, r.stderr);
    assert.equal(sixteen.reduce((sum, r) => sum + JSON.parse(r.stdout).steps.length, 0), n);
    assert.equal(await assertConsistent(db, n), n);
    await assertLogReplays(db);
    // stamp moves the record without running SQL, so the racing corpus is idempotent: every interleaving must succeed.
    const racing = workdir(corpus(n, { idempotent: true }));
    await runCli(['stamp', 'base', ...url], { cwd: racing });
    for (let round = 0; round < 4; round++) {
      const race = await Promise.all([
        runCli(['down', 'base', ...url], { cwd: racing, timeoutMs: 180_000 }),
        runCli(['up', ...url], { cwd: racing, timeoutMs: 180_000 }),
        runCli(['stamp', '0010', ...url], { cwd: racing, timeoutMs: 180_000 }),
        runCli(['up', '0015', ...url], { cwd: racing, timeoutMs: 180_000 }),
        runCli(['down', '--steps', '3', ...url], { cwd: racing, timeoutMs: 180_000 }),
      ]);
      // Each run did its job, or refused cleanly because another moved the database past its target (exit 2).
      for (const r of race) assert.ok(r.code === 0 || (r.code === 2 && /older than the current version/.test(r.stderr)), `exit ${r.code} signal ${r.signal}: ${r.stdout}${r.stderr}`);
      await assertLogReplays(db);
    }
    await assertLockFree(db);
  });
});
