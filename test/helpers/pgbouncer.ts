/**
 * A real PgBouncer in front of the test server (TEST_DATABASE_URL), for the pooler tests.
 * Debian's `pgbouncer` package: installed with apt-get when missing and the tests run as root
 * (CI installs it in .ci/run step 0). It runs on a free port with its config and auth file in a
 * directory of its own under the tests' TMPDIR, as the user postgres when the tests run as root
 * (PgBouncer refuses to run as root), and is stopped and its directory removed by `stop()`.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testServerUrl } from './db.js';

export type PoolMode = 'session' | 'transaction' | 'statement';

export interface PgbouncerOptions {
  mode: PoolMode;
  /** default_pool_size: server connections per database and user. */
  poolSize?: number;
  /** When set, clients must give this password (auth_type md5, checked by PgBouncer itself). */
  clientPassword?: string;
  /** More `[pgbouncer]` settings, e.g. server_reset_query_always. */
  settings?: Record<string, string>;
  /** Let the test's user into the admin console (`admin()`). */
  admin?: boolean;
}

export interface Pgbouncer {
  port: number;
  /** A URL of `database` through the pooler (with the client password when there is one). */
  url(database: string): string;
  /** What PgBouncer printed so far (its log goes to stderr), for failure messages. */
  log(): string;
  /** Runs a command on the admin console with psql (the console speaks only the simple protocol); its rows as `|`-separated lines. */
  admin(command: string): string[];
  /** Stops it and starts it again on the same port and config (a pooler restart mid-run). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];

function findBinary(): string | null {
  for (const path of CANDIDATES) if (existsSync(path)) return path;
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null;
}

let installTried: string | null | undefined;

/**
 * The pgbouncer binary, installing Debian's package when it is missing and this is root with
 * apt-get; or the reason it cannot be had (the tests skip with it).
 */
export function pgbouncerBinary(): { path: string } | { missing: string } {
  const found = findBinary();
  if (found) return { path: found };
  if (installTried === undefined) {
    installTried = null;
    if (process.getuid?.() !== 0) installTried = 'pgbouncer is not installed and the tests do not run as root, so they cannot install it (apt-get install pgbouncer)';
    else if (spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status !== 0) installTried = 'pgbouncer is not installed and there is no apt-get to install it with';
    else {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const update = spawnSync('apt-get', ['update'], { encoding: 'utf8', env });
      const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', 'pgbouncer'], { encoding: 'utf8', env }) : update;
      if (install.status !== 0) installTried = `pgbouncer is not installed and apt-get could not install it: ${(install.stderr || install.stdout).trim().split('\n').slice(-1)[0]}`;
    }
  }
  const after = findBinary();
  if (after) return { path: after };
  return { missing: installTried ?? 'pgbouncer could not be found after installing it' };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port; rejects when `child` exits first. */
function listening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const onExit = (code: number | null) => {
      if (done) return;
      done = true;
      reject(new Error(`pgbouncer exited (${code}) before listening on port ${port}:\n${output()}`));
    };
    child.once('exit', onExit);
    const attempt = () => {
      if (done) return;
      const socket = createConnection(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done = true;
        child.off('exit', onExit);
        resolve();
      });
      // Not listening yet: try again on the next turn of the loop, until it listens or exits.
      socket.once('error', () => setTimeout(attempt, 20));
    };
    attempt();
  });
}

function postgresAccount(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

const quoted = (text: string) => `"${text.replace(/"/g, '""')}"`;

/** Starts a PgBouncer in `mode` in front of the test server. The caller must `stop()` it. */
export async function startPgbouncer(binary: string, options: PgbouncerOptions): Promise<Pgbouncer> {
  const server = new URL(testServerUrl());
  const user = decodeURIComponent(server.username || 'postgres');
  const serverPassword = decodeURIComponent(server.password);
  const dir = mkdtempSync(join(tmpdir(), 'pgpair-pgbouncer-'));
  chmodSync(dir, 0o755);
  const account = postgresAccount();
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  const users = join(dir, 'users.txt');
  const serverLine = [`host=${server.hostname}`, `port=${server.port || '5432'}`, `user=${user}`, ...(serverPassword ? [`password=${serverPassword}`] : [])].join(' ');
  const settings: Record<string, string> = {
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    unix_socket_dir: '',
    auth_type: options.clientPassword !== undefined ? 'md5' : 'trust',
    auth_file: users,
    pool_mode: options.mode,
    default_pool_size: String(options.poolSize ?? 3),
    max_client_conn: '200',
    // postgres.js sends these at connect; PgBouncer refuses unknown startup parameters otherwise.
    ignore_startup_parameters: 'extra_float_digits,options,search_path',
    server_login_retry: '1',
    ...(options.admin ? { admin_users: user } : {}),
    ...options.settings,
  };
  writeFileSync(ini, `[databases]\n* = ${serverLine}\n\n[pgbouncer]\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  writeFileSync(users, `${quoted(user)} ${quoted(options.clientPassword ?? '')}\n`);
  for (const file of [ini, users]) {
    chmodSync(file, 0o600);
    if (account) chownSync(file, account.uid, account.gid);
  }
  let output = '';
  let child: ChildProcess;
  const start = async () => {
    child = spawn(binary, [ini], { stdio: ['ignore', 'pipe', 'pipe'], ...(account ? { uid: account.uid, gid: account.gid } : {}) });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    await listening(port, child, () => output);
  };
  const halt = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url(database: string) {
      const url = new URL(`postgres://127.0.0.1:${port}/${encodeURIComponent(database)}`);
      url.username = encodeURIComponent(user);
      if (options.clientPassword !== undefined) url.password = encodeURIComponent(options.clientPassword);
      return url.toString();
    },
    log: () => output,
    admin(command: string) {
      const run = spawnSync('psql', ['-X', '-A', '-t', '-F', '|', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'pgbouncer', '-c', command], {
        encoding: 'utf8',
        env: { ...process.env, PGPASSWORD: options.clientPassword ?? '', PGCONNECT_TIMEOUT: '5' },
      });
      if (run.status !== 0) throw new Error(`psql on the PgBouncer admin console failed: ${run.stderr}`);
      return run.stdout.split('\n').filter((line) => line !== '').map((line) => `|${line}|`);
    },
    async restart() {
      await halt();
      await start();
    },
    async stop() {
      try {
        await halt();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
