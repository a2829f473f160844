/**
 * Issue 12: no hangs, signals that work in every phase, the real target named.
 *
 * Every connection attempt ends within --connect-timeout whatever the peer
 * does (tiny node:net / node:tls peers that count the sockets they accept),
 * the first SIGINT/SIGTERM ends any phase promptly with exit 130/143, and
 * messages name user@host:port/db even when the URL comes from PG* variables.
 * Tests wait for states (a socket accepted, a line on stderr, a statement in
 * pg_stat_activity), never for a time.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { runCli, startCli, workdir, type CliOptions, type RunningCli } from '../helpers/cli.js';
import { scratchDatabase, testServerUrl, type Scratch } from '../helpers/db.js';

/** A peer on 127.0.0.1 that counts the sockets it accepts and treats each as `behaviour` says. */
interface Peer {
  port: number;
  accepted: number;
  /** Resolves once `n` sockets have been accepted. */
  acceptedAtLeast: (n: number) => Promise<void>;
  close: () => Promise<void>;
}

async function peer(behaviour: (socket: Socket) => void, make: (onSocket: (socket: Socket) => void) => Server = (onSocket) => createServer(onSocket)): Promise<Peer> {
  const sockets = new Set<Socket>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const state = { accepted: 0 };
  const server = make((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    behaviour(socket);
  });
  // Counted on the TCP connection, also for a TLS server (whose own callback comes only after a handshake).
  server.on('connection', () => {
    state.accepted++;
    for (const waiter of waiters.filter((w) => state.accepted >= w.n)) waiter.resolve();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return state.accepted;
    },
    acceptedAtLeast: (n) => (state.accepted >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The CLI started, with a guard long enough for the slowest case here (a 60 s connect timeout). */
const start = (args: string[], options: CliOptions): RunningCli => startCli(args, { timeoutMs: 90_000, ...options });

/** Polls until `probe` returns a truthy value (bounded, so a broken test fails instead of hanging). */
async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, run?: RunningCli): Promise<T> {
  for (let i = 0; i < 1200; i++) {
    const value = await probe();
    if (value) return value;
    if (run && run.child.exitCode !== null) assert.fail(`the run ended before ${what}:\n${run.stderr()}`);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const noStack = (text: string) => assert.doesNotMatch(text, /\n\s+at |TypeError|unexpected failure/);
const oneMigration = () => workdir({ 'sql/0001_a.up.sql': 'CREATE TABLE a (id int);\n' });

describe('a connection attempt always ends, within --connect-timeout, after one attempt', () => {
  const cases: { name: string; behaviour: (socket: Socket) => void; tls?: boolean; expect: RegExp; timeout?: boolean }[] = [
    { name: 'an HTTP server that answers 400 and closes', behaviour: (s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'), expect: /the server answered in HTTP \("HTTP\/1\.1 400 Bad Request"\), not the PostgreSQL protocol/ },
    { name: 'an HTTP server that answers 400 and keeps the socket open', behaviour: (s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'), expect: /the server answered in HTTP/ },
    { name: 'a peer that accepts and closes at once, saying nothing', behaviour: (s) => s.end(), expect: /the server closed the connection before answering/ },
    { name: 'a peer that accepts and resets the connection', behaviour: (s) => s.resetAndDestroy(), expect: /the connection was reset|closed the connection/ },
    { name: 'a peer that greets in another protocol', behaviour: (s) => s.write('SSH-2.0-OpenSSH_9.6\r\n'), expect: /the server's answer \("SSH-2\.0-OpenSSH_9\.6"\) is not the PostgreSQL protocol/ },
    { name: 'a peer that accepts and never answers', behaviour: () => {}, expect: /the server accepted the connection but sent nothing within the connect timeout of 2 s/, timeout: true },
    {
      name: 'a TLS-only peer',
      behaviour: () => {},
      tls: true,
      expect: /the server closed the connection before answering|answered in TLS/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 1 naming the target and the reason, one socket accepted`, async () => {
      const p = await peer(c.behaviour, c.tls ? (onSocket) => createTlsServer({ pskCallback: () => Buffer.from('00'), ciphers: 'PSK-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }, onSocket) : undefined);
      try {
        const started = Date.now();
        const r = await runCli(['status', '--url', `postgres://app:s3cret-pw@127.0.0.1:${p.port}/appdb`, '--connect-timeout', '2s'], { cwd: oneMigration(), timeoutMs: 60_000 });
        const took = Date.now() - started;
        assert.equal(r.signal, null, `the run was killed: it hung\n${r.stderr}`);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^error: Cannot connect to app@127\\.0\\.0\\.1:${p.port}/appdb: `), r.stderr);
        assert.match(r.stderr, c.expect);
        assert.match(r.stderr, /\(after \d+\.\d s\)/);
        assert.equal(r.stdout, '');
        assert.doesNotMatch(r.stderr, /s3cret-pw/);
        noStack(r.stderr);
        assert.equal(p.accepted, 1, `one connection attempt, not ${p.accepted}`);
        // The timeout is honoured: a peer that answers garbage fails at once, one that says nothing after 2 s.
        if (!c.timeout) assert.ok(took < 2000 + 8000, `took ${took} ms`);
        else assert.ok(took >= 1900, `gave up after ${took} ms, before the timeout`);
      } finally {
        await p.close();
      }
    });
  }

  it('a refused connection, a host that does not resolve, and several hosts: each tried once, each named', async () => {
    const port = await closedPort();
    const cwd = oneMigration();
    const refused = await runCli(['up', '--url', `postgres://u:hunter2@127.0.0.1:${port}/db`], { cwd });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`^error: Cannot connect to u@127\\.0\\.0\\.1:${port}/db: the server refused the connection \\(after \\d+\\.\\d s\\); is PostgreSQL running, and on that host and port\\?\\n$`));
    assert.doesNotMatch(refused.stderr + refused.stdout, /hunter2/);
    const unresolved = await runCli(['status', '--url', 'postgres://u@no-such-host.invalid/db'], { cwd });
    assert.equal(unresolved.code, 1, unresolved.stderr);
    assert.match(unresolved.stderr, /Cannot connect to u@no-such-host\.invalid:5432\/db: the host name could not be resolved/);
    const closing = await peer((s) => s.end());
    try {
      const both = await runCli(['status', '--url', `postgres://u@127.0.0.1:${port},127.0.0.1:${closing.port}/db`, '--connect-timeout', '2'], { cwd });
      assert.equal(both.code, 1, both.stderr);
      assert.match(both.stderr, new RegExp(`Cannot connect to u@127\\.0\\.0\\.1:${port},127\\.0\\.0\\.1:${closing.port}/db: 127\\.0\\.0\\.1:${port}: the server refused the connection; 127\\.0\\.0\\.1:${closing.port}: the server closed the connection before answering`));
      assert.equal(closing.accepted, 1);
    } finally {
      await closing.close();
    }
  });

  it('a multi-host URL whose first host refuses reaches the second, and names both', async () => {
    const db = await scratchDatabase('pgpair_hangs_signals');
    try {
      const server = new URL(db.url);
      const port = await closedPort();
      const url = `postgres://${server.username}${server.password ? `:${server.password}` : ''}@127.0.0.1:${port},${server.hostname}:${server.port || 5432}${server.pathname}`;
      const r = await runCli(['up', '--json', '--url', url], { cwd: oneMigration() });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).database, `${server.username}@127.0.0.1:${port},${server.hostname}:${server.port || 5432}${server.pathname}`);
      const [row] = await db.sql.unsafe(`SELECT to_regclass('a') IS NOT NULL AS applied`);
      assert.equal(row!.applied, true);
    } finally {
      await db.drop();
    }
  });
});

describe('the first SIGINT or SIGTERM ends every phase, with exit 130 or 143', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('pgpair_hangs_signals');
  });
  after(async () => db.drop());

  async function lockFree(): Promise<void> {
    await until('the migration lock to be free', async () => {
      const [row] = await db.sql.unsafe(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()`);
      return row!.n === 0;
    });
  }

  /** pgpair's session, once it runs a statement matching `pattern`. */
  function statementRunning(pattern: string, run: RunningCli): Promise<number> {
    return until(
      `a pgpair session running ${pattern}`,
      async () => {
        const rows = await db.sql.unsafe(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair' AND state = 'active' AND query ILIKE $1`, [pattern]);
        return rows.length > 0 ? Number(rows[0]!.pid) : null;
      },
      run,
    );
  }

  it('SIGINT while connecting to a peer that never answers: exit 130 at once, nothing done', async () => {
    const silent = await peer(() => {});
    try {
      const run = start(['up', '--url', `postgres://u@127.0.0.1:${silent.port}/db`, '--connect-timeout', '60s'], { cwd: oneMigration() });
      await Promise.race([silent.acceptedAtLeast(1), run.exited]);
      const sent = Date.now();
      run.child.kill('SIGINT');
      const { code, signal } = await run.exited;
      assert.equal(signal, null, run.stderr());
      assert.equal(code, 130, run.stderr());
      assert.ok(Date.now() - sent < 10_000, `took ${Date.now() - sent} ms after the signal`);
      assert.match(run.stderr(), new RegExp(`error: Interrupted by SIGINT while connecting to u@127\\.0\\.0\\.1:${silent.port}/db; nothing was done\\.`));
      noStack(run.stderr());
      assert.equal(silent.accepted, 1);
    } finally {
      await silent.close();
    }
  });

  it('--connect-timeout 0 is no limit: only the signal ends the wait; one too long for a timer (which Node fires at once) is a usage error', async () => {
    const tooLong = await runCli(['status', '--url', 'postgres://u@127.0.0.1:1/db', '--connect-timeout', '100000000000'], { cwd: oneMigration() });
    assert.equal(tooLong.code, 2, tooLong.stderr);
    assert.match(tooLong.stderr, /--connect-timeout 100000000000 is too long: the most it takes is 1h/);
    const silent = await peer(() => {});
    try {
      for (const timeout of ['0']) {
        const run = start(['status', '--url', `postgres://u@127.0.0.1:${silent.port}/db`, '--connect-timeout', timeout], { cwd: oneMigration() });
        const before = silent.accepted;
        const ended = await Promise.race([silent.acceptedAtLeast(before + 1).then(() => false), run.exited.then(() => true)]);
        assert.equal(ended || run.child.exitCode !== null, false, `--connect-timeout ${timeout} gave up by itself: ${run.stderr()}`);
        run.child.kill('SIGTERM');
        const { code } = await run.exited;
        assert.equal(code, 143, `--connect-timeout ${timeout}: ${run.stderr()}`);
        assert.match(run.stderr(), /^error: Interrupted by SIGTERM while connecting to u@127\.0\.0\.1:\d+\/db; nothing was done\.\n$/);
      }
    } finally {
      await silent.close();
    }
  });

  it('SIGTERM while waiting for the migration lock: exit 143, nothing created, the holder keeps the lock', async () => {
    const { default: postgres } = await import('postgres');
    const holder = postgres(db.url, { max: 1, onnotice: () => {}, connection: { application_name: 'dba-console' } });
    try {
      await holder.unsafe(`SELECT pg_advisory_lock(hashtextextended('pgpair:' || current_database() || ':' || 'public.pgpair_history', 0))`);
      const run = start(['up', '--url', db.url, '--lock-timeout', '60s'], { cwd: oneMigration() });
      await run.stderrMatches(/waiting for the migration lock on public\.pgpair_history, held by pid \d+ \(dba-console\)/);
      const sent = Date.now();
      run.child.kill('SIGTERM');
      const { code } = await run.exited;
      assert.equal(code, 143, run.stderr());
      assert.ok(Date.now() - sent < 10_000, `took ${Date.now() - sent} ms after the signal`);
      assert.match(run.stderr(), /error: Interrupted by SIGTERM while waiting for the migration lock on public\.pgpair_history; nothing was done\./);
      noStack(run.stderr());
      const [state] = await db.sql.unsafe(`SELECT to_regclass('pgpair_history') IS NULL AS no_history, to_regclass('a') IS NULL AS no_table,
        (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair') AS pgpair_sessions`);
      assert.deepEqual({ ...state }, { no_history: true, no_table: true, pgpair_sessions: 0 });
    } finally {
      await holder.end();
    }
    await lockFree();
  });

  it('SIGINT during a long statement: it is cancelled on the server, rolled back, the lock released, exit 130', async () => {
    const cwd = workdir({ 'sql/0001_slow.up.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(30);\n' });
    const run = start(['up', '--url', db.url], { cwd });
    await statementRunning('%pg_sleep(30)%', run);
    const sent = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130, run.stderr());
    assert.ok(Date.now() - sent < 10_000, `took ${Date.now() - sent} ms after the signal`);
    assert.match(run.stderr(), /error: Interrupted by SIGINT during up 0001_slow at statement 2 of 2: its transaction was rolled back, so nothing of it was applied/);
    assert.doesNotMatch(run.stderr(), /transaction rolled back.*\n.*transaction rolled back/);
    noStack(run.stderr());
    const [state] = await db.sql.unsafe(`SELECT to_regclass('slow') IS NULL AS rolled_back, (SELECT count(*)::int FROM pgpair_history) AS recorded`);
    assert.deepEqual({ ...state }, { rolled_back: true, recorded: 0 });
    await lockFree();
  });

  it('SIGTERM during a migration outside a transaction: exit 143; says which statements stay done and that it is marked failed, never "rolled back"', async () => {
    const cwd = workdir({ 'sql/0001_outside.up.sql': '-- pgpair:no-transaction\nCREATE TABLE kept (id int);\nSELECT pg_sleep(30);\nCREATE TABLE never (id int);\n' });
    const table = ['--table', 'outside_history'];
    const run = start(['up', '--url', db.url, ...table], { cwd });
    await statementRunning('%pg_sleep(30)%', run);
    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    assert.equal(code, 143, run.stderr());
    assert.match(run.stderr(), /error: Interrupted by SIGTERM during up 0001_outside at statement 2 of 3; it runs outside a transaction, so the statements before that stay done and it is marked failed/);
    assert.doesNotMatch(run.stderr(), /rolled back/);
    const [state] = await db.sql.unsafe(`SELECT to_regclass('kept') IS NOT NULL AS kept, to_regclass('never') IS NULL AS not_run, (SELECT state FROM outside_history WHERE version::int = 1) AS state`);
    assert.deepEqual({ ...state }, { kept: true, not_run: true, state: 'failed' });
    await db.sql.unsafe(`DROP TABLE kept`);
    await lockFree();
  });

  it('SIGINT while status waits on a locked history table: the read is cancelled, exit 130', async () => {
    const cwd = oneMigration();
    const setup = await runCli(['up', '--url', db.url, '--table', 'status_history'], { cwd });
    assert.equal(setup.code, 0, setup.stderr);
    const { default: postgres } = await import('postgres');
    const locker = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await locker.begin(async (tx) => {
        await tx.unsafe('LOCK TABLE status_history IN ACCESS EXCLUSIVE MODE');
        const run = start(['status', '--url', db.url, '--table', 'status_history'], { cwd });
        await until('status to wait for the lock', async () => {
          const rows = await db.sql.unsafe(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgpair' AND wait_event_type = 'Lock'`);
          return rows.length > 0;
        }, run);
        run.child.kill('SIGINT');
        const { code } = await run.exited;
        assert.equal(code, 130, run.stderr());
        assert.match(run.stderr(), /error: Interrupted by SIGINT \((?:Cannot read the history table \S+: )?canceling statement due to user request(?: \[57014\])?\); the statement in progress was cancelled/);
        assert.equal(run.stdout(), '');
        noStack(run.stderr());
      });
    } finally {
      await locker.end();
    }
  });

  it('a second signal, while the first one waits for a statement that ignores the cancel, exits at once saying what is left behind', async () => {
    // PL/pgSQL that swallows the cancel: the first SIGINT cannot stop it, so pgpair is still cleaning up.
    const cwd = workdir({
      'sql/0001_stubborn.up.sql': `CREATE TABLE stubborn (id int);\nDO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(30); EXCEPTION WHEN query_canceled THEN RAISE NOTICE 'cancel ignored'; END; END LOOP; END $$;\n`,
    });
    const run = start(['up', '--url', db.url, '--table', 'stubborn_history'], { cwd });
    const pid = await statementRunning('%pg_sleep(30)%', run);
    run.child.kill('SIGINT');
    await run.stderrMatches(/cancel ignored/);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130, run.stderr());
    assert.match(run.stderr(), /pgpair: second SIGINT, exiting at once without cleaning up; the server rolls back an open transaction and releases the migration lock when it notices the session is gone/);
    await db.sql.unsafe(`SELECT pg_terminate_backend($1)`, [pid]);
    await lockFree();
    const [state] = await db.sql.unsafe(`SELECT to_regclass('stubborn') IS NULL AS rolled_back, (SELECT count(*)::int FROM stubborn_history) AS recorded`);
    assert.deepEqual({ ...state }, { rolled_back: true, recorded: 0 });
  });

  it('an AbortSignal aborted before the run starts: the library rejects before connecting', async () => {
    const lib = await import('../../lib/index.js');
    const silent = await peer(() => {});
    try {
      const controller = new AbortController();
      controller.abort('SIGINT');
      await assert.rejects(lib.up({ url: `postgres://u@127.0.0.1:${silent.port}/db`, dir: `${oneMigration()}/sql`, signal: controller.signal }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'E_INTERRUPTED');
        assert.match(error.message, /^Interrupted by SIGINT before connecting; nothing was done\.$/);
        return true;
      });
      assert.equal(silent.accepted, 0);
    } finally {
      await silent.close();
    }
  });
});

describe('printing a script to a reader that stops reading', () => {
  /** 4 MB of script: far more than a pipe and Node's stream buffers hold. */
  const bigProject = () => {
    const files: Record<string, string> = {};
    for (let i = 1; i <= 200; i++) files[`sql/${String(i).padStart(4, '0')}_t${i}.up.sql`] = `CREATE TABLE t${i} (id int, note text DEFAULT '${'x'.repeat(20_000)}');\n`;
    return workdir(files);
  };

  it('SIGINT while the reader has stopped reading (a pager left open): exit 130 at once, saying the script is incomplete', async () => {
    const run = start(['up', '--sql', '--from', 'base'], { cwd: bigProject() });
    run.child.stdout!.pause();
    // The script is being written once the plan is logged; the unread pipe then fills and the writer waits.
    await run.stderrMatches(/script: up from base to 0200, 200 steps/);
    await until('the pipe to fill', async () => run.child.stdout!.readableLength >= run.child.stdout!.readableHighWaterMark, run);
    run.child.kill('SIGINT');
    const { code, signal } = await run.exited;
    assert.equal(signal, null, run.stderr());
    assert.equal(code, 130, run.stderr());
    assert.match(run.stderr(), /error: Interrupted by SIGINT while printing the script; what was printed is incomplete, and nothing was run\./);
    noStack(run.stderr());
  });

  it('a reader that goes away (pgpair up --sql | head): exit 1 saying so, never an EPIPE crash', async () => {
    const run = start(['up', '--sql', '--from', 'base'], { cwd: bigProject() });
    await new Promise((resolve) => run.child.stdout!.once('data', resolve));
    run.child.stdout!.destroy();
    const { code } = await run.exited;
    assert.equal(code, 1, run.stderr());
    assert.match(run.stderr(), /error: stdout was closed \(EPIPE\) before the script was written whole, so what was printed is incomplete; nothing was run\./);
    noStack(run.stderr());
  });
});

describe('the real target, when the URL comes from PG* variables', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('pgpair_hangs_signals');
  });
  after(async () => db.drop());

  it('status, up --json and a refused connection name user@host:port/db, never postgres:// and never the password', async () => {
    const server = new URL(testServerUrl());
    const user = decodeURIComponent(server.username) || 'postgres';
    const host = server.hostname;
    const port = server.port || '5432';
    const env = { PGHOST: host, PGPORT: port, PGUSER: user, PGDATABASE: db.name, PGPASSWORD: decodeURIComponent(server.password) || 'pgvars-secret' };
    const cwd = oneMigration();
    const target = `${user}@${host}:${port}/${db.name}`;
    const status = await runCli(['status'], { cwd, env });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^database: ${target.replace(/\./g, '\\.')}( \\(from the PG\\* variables\\))?\\n`));
    const up = await runCli(['up', '--json'], { cwd, env });
    assert.equal(up.code, 0, up.stderr);
    assert.equal(JSON.parse(up.stdout).database, target);
    // A bare postgres:// URL is the same thing.
    const bare = await runCli(['status', '--json', '--url', 'postgres://'], { cwd, env });
    assert.equal(bare.code, 0, bare.stderr);
    const refusedPort = await closedPort();
    const refused = await runCli(['status'], { cwd, env: { ...env, PGPORT: String(refusedPort), PGPASSWORD: 'pgvars-secret' } });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`^error: Cannot connect to ${user}@${host.replace(/\./g, '\\.')}:${refusedPort}/${db.name}: the server refused the connection`));
    for (const r of [status, up, bare, refused]) {
      assert.doesNotMatch(r.stdout + r.stderr, /postgres:\/\/[^a-z]|database: postgres:\/\/$/m);
      assert.doesNotMatch(r.stdout + r.stderr, /pgvars-secret/);
    }
  });
});
