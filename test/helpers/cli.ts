/** Runs the real CLI (bin/pgpair.js) as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'pgpair.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of a run: nothing from the developer's shell that could pick a database. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(PG|DATABASE_URL|PGPAIR_|CI$|NODE_ENV$|TEST_DATABASE_URL)/.test(key)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value;
  return env;
}

/** The CLI as a child process whose output can be read and waited on while it runs. */
export interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stderr matches; rejects if the process ends first. */
  stderrMatches: (pattern: RegExp) => Promise<void>;
  /** Resolves when the process has ended and its output is closed; rejects if it could not start. */
  exited: Promise<CliResult>;
}

export interface CliOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  /** The guard of last resort: a run that hangs is killed (SIGKILL) after this long, and the test then fails on its exit. */
  timeoutMs?: number;
  /** Called with all of stderr so far each time the process writes to it. */
  onStderr?: (stderr: string, child: ChildProcess) => void;
}

/** Starts bin/pgpair.js with `args` in a clean environment (cleanEnv plus `env`). */
export function startCli(args: string[], options: CliOptions): RunningCli {
  const child = spawn(process.execPath, ['--', BIN, ...args], { cwd: options.cwd, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    options.onStderr?.(stderr, child);
    for (const w of watchers.filter((w) => w.pattern.test(stderr))) w.resolve();
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    stderrMatches: (pattern) =>
      pattern.test(stderr)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => watchers.push({ pattern, resolve })),
            exited.then(() => {
              if (!pattern.test(stderr)) throw new Error(`the run ended before stderr matched ${pattern}:\n${stderr}`);
            }),
          ]),
    exited,
  };
}

/** Runs bin/pgpair.js to its end (see startCli). */
export function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  return startCli(args, options).exited;
}

/** Working directories made by this test process, removed when it exits (set PGPAIR_KEEP_WORKDIRS=1 to look at them). */
const made: string[] = [];
process.on('exit', () => {
  if (process.env.PGPAIR_KEEP_WORKDIRS) return;
  for (const dir of made) rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
});

/** A fresh working directory, removed when the test process exits; `files` maps relative paths to contents. */
export function workdir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgpair-cli-'));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return dir;
}

/** A working directory whose `sql/` is a copy of a fixture directory. */
export function workdirFromFixture(name: string): string {
  const dir = workdir();
  cpSync(join(FIXTURES, name), join(dir, 'sql'), { recursive: true });
  return dir;
}
