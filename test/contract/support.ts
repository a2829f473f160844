/** Helpers of the driver contract suite (test/contract/drivers.test.ts). */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * Waits for a state: checks `condition` until it holds, a bounded number of times, then fails
 * with `message`. The pause between checks only spaces them out; nothing waits for a time.
 */
export async function untilTrue(condition: () => Promise<boolean>, message: string, tries = 500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${message} (checked ${tries} times)`);
}

export interface NoticeRun {
  /** `SEVERITY: message` of each notice the child's onNotice received. */
  received: string[];
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Runs notice-child.ts in a process of its own against `url` (passed in the environment: it may
 * hold a password): notices raised with and without an onNotice handler. What the driver printed
 * is then exactly what that process wrote to stdout and stderr.
 */
export function collectNotices(url: string): Promise<NoticeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'notice-child.ts')], {
      env: { ...process.env, CONTRACT_URL: url },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stdout = '';
    let stderr = '';
    let received: string[] = [];
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('message', (message) => (received = message as string[]));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ received, stdout, stderr, code });
    });
  });
}

export interface HiddenCopyRun {
  /** What exec did: null when it had not settled `boundMs` after the connection was ready (a hang). */
  outcome: { resolved: boolean; sqlstate: string | null } | null;
  /** The session answered a query afterwards. */
  usable: boolean;
}

/**
 * Runs hidden-copy-child.ts against `url`: exec of a `COPY … FROM STDIN` hidden behind a non-ASCII
 * dollar tag. A hang cannot be awaited, so it is bounded: the child is killed when exec has not
 * settled `boundMs` after the child said it was connected (starting PGlite is not counted).
 */
export function runHiddenCopy(url: string, boundMs = 15_000): Promise<HiddenCopyRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'hidden-copy-child.ts')], {
      env: { ...process.env, CONTRACT_URL: url },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const run: HiddenCopyRun = { outcome: null, usable: false };
    let timer: NodeJS.Timeout | undefined;
    const startup = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('message', (message: { step: string; resolved?: boolean; sqlstate?: string | null; one?: number }) => {
      if (message.step === 'ready') timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
      if (message.step === 'done') {
        clearTimeout(timer);
        run.outcome = { resolved: message.resolved!, sqlstate: message.sqlstate ?? null };
      }
      if (message.step === 'usable') run.usable = message.one === 1;
    });
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      clearTimeout(startup);
      resolve(run);
    });
  });
}
