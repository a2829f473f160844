/**
 * Runs one command as a child process and measures it: wall time from spawn
 * to exit (measured here), and, when GNU time is installed, the child's user
 * and system CPU and its peak RSS. Every tool goes through the same path, so
 * the small cost of spawning (and of the time wrapper) is the same for all.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
export const haveGnuTime = existsSync(GNU_TIME);

let scratch = null;
async function scratchDir() {
  scratch ??= await mkdtemp(join(tmpdir(), 'pgpair-bench-time-'));
  return scratch;
}

export async function cleanupExec() {
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = null;
}

/** Variables that would point a tool at some other database; children never inherit them. */
const LEAKY_ENV = /^(PG[A-Z]+|DATABASE_URL|PGPAIR_[A-Z_]+|DBMATE_[A-Z_]+|NODE_OPTIONS)$/;

export function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!LEAKY_ENV.test(key)) env[key] = value;
  return { ...env, ...extra };
}

const KEEP = 64 * 1024;
function tail(chunks) {
  const text = Buffer.concat(chunks).toString('utf8');
  return text.length > KEEP ? `…${text.slice(-KEEP)}` : text;
}

/**
 * @typedef {object} Command
 * @property {string} cmd
 * @property {string[]} args
 * @property {Record<string,string>} [env]  added to a cleaned copy of process.env
 * @property {string} [cwd]
 * @property {number} [timeoutMs]          default 10 minutes
 *
 * @typedef {object} Measured
 * @property {number} code
 * @property {number} wallMs
 * @property {number|null} cpuMs      user + system, null without GNU time
 * @property {number|null} maxRssKb   null without GNU time
 * @property {string} stdout          last 64 KiB
 * @property {string} stderr          last 64 KiB
 */

/**
 * Runs `command` to completion; never throws for a non-zero exit (see `code`).
 * @param {Command} command
 * @param {{ measure?: boolean }} [options]
 * @returns {Promise<Measured>}
 */
export async function run(command, { measure = true } = {}) {
  const timeFile = measure && haveGnuTime ? join(await scratchDir(), `t${process.hrtime.bigint()}`) : null;
  const [cmd, args] = timeFile ? [GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, command.cmd, ...command.args]] : [command.cmd, command.args];
  const out = [];
  const err = [];
  const started = process.hrtime.bigint();
  const code = await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: command.cwd, env: cleanEnv(command.env), stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), command.timeoutMs ?? 600_000);
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve(exitCode ?? (signal ? 128 : 1));
    });
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const { cpuMs, maxRssKb } = timeFile ? await readGnuTime(timeFile) : { cpuMs: null, maxRssKb: null };
  return { code, wallMs, cpuMs, maxRssKb, stdout: tail(out), stderr: tail(err) };
}

/**
 * CPU time and peak RSS from a GNU time output file written with -f '%e %U %S %M' (then removed);
 * nulls when it holds no such line.
 */
export async function readGnuTime(timeFile) {
  // GNU time prefixes "Command exited with non-zero status N" on failure; the figures are the last line.
  const lines = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n');
  const fields = (lines[lines.length - 1] ?? '').split(' ').map(Number);
  await rm(timeFile, { force: true });
  const [, user, system, rss] = fields;
  if (fields.length === 4 && fields.every(Number.isFinite) && user !== undefined && system !== undefined && rss !== undefined) return { cpuMs: (user + system) * 1000, maxRssKb: rss };
  return { cpuMs: null, maxRssKb: null };
}

/** Runs commands one after another, adding up times; stops at the first failure. */
export async function runAll(commands, options) {
  /** @type {Measured & { processes: number }} */
  const total = { code: 0, wallMs: 0, cpuMs: haveGnuTime ? 0 : null, maxRssKb: haveGnuTime ? 0 : null, stdout: '', stderr: '', processes: 0 };
  for (const command of commands) {
    const one = await run(command, options);
    total.processes++;
    total.wallMs += one.wallMs;
    if (total.cpuMs !== null) total.cpuMs = one.cpuMs === null ? null : total.cpuMs + one.cpuMs;
    if (total.maxRssKb !== null) total.maxRssKb = one.maxRssKb === null ? null : Math.max(total.maxRssKb, one.maxRssKb);
    total.stdout = one.stdout;
    total.stderr = one.stderr;
    if (one.code !== 0) {
      total.code = one.code;
      break;
    }
  }
  return total;
}
