/**
 * The real psql, run on a `--sql` script as the README tells a DBA to:
 * `psql -X -v ON_ERROR_STOP=1 -f FILE`, with a working directory of its own
 * so that a shell command the script should never run (`\! touch pwned`) is
 * seen as a file appearing there.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { cleanEnv } from './cli.js';

const probe = spawnSync('psql', ['--version'], { encoding: 'utf8' });
export const psqlMissing =
  probe.error || probe.status !== 0
    ? `psql not installed: "psql --version" failed (${probe.error?.message ?? probe.stderr.trim()}); install the PostgreSQL client (e.g. apt-get install postgresql-client) to run the --sql script tests`
    : null;

/**
 * true when psql can be used. Without psql the test fails when CI is set (a CI run must not pass
 * by skipping its psql tests), and is skipped with the reason otherwise.
 */
export function needPsql(t: TestContext): boolean {
  if (!psqlMissing) return true;
  if (process.env.CI || process.env.CI_REQUIRE_PSQL) assert.fail(`${psqlMissing} (CI is set, so this is a failure, not a skip)`);
  t.skip(psqlMissing);
  return false;
}

export interface PsqlRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Files that appeared in psql's working directory: anything there was made by a shell command or \o / \w. */
  appeared: string[];
}

/**
 * Runs `text` with psql against `url`, in an empty working directory of its own (the script
 * file lives elsewhere; both are removed afterwards). `env` adds to a clean environment
 * (PGOPTIONS, PGCLIENTENCODING…).
 */
export function runPsql(url: string, text: string | Buffer, env: Record<string, string> = {}): Promise<PsqlRun> {
  const file = join(mkdtempSync(join(tmpdir(), 'pgpair-script-safety-file-')), 'script.sql');
  writeFileSync(file, text);
  const cwd = mkdtempSync(join(tmpdir(), 'pgpair-script-safety-cwd-'));
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-f', file, url], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const appeared = readdirSync(cwd);
      for (const dir of [dirname(file), cwd]) rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr, appeared });
    });
  });
}
