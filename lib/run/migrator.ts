/**
 * The one-shot library API: each function makes a migrator (lib/run/provider.ts), runs one call
 * on it and closes it. They return data and throw PgpairErrors, and never print or exit.
 */
import { ConfigError, UsageError } from '../core/errors.js';
import type { StatusReport } from '../core/status.js';
import { isVersion, versionKey } from '../core/version.js';
import { ensureDirectory, readMigrations, writeNewFile } from '../read/source.js';
import type { DownRequest, ScriptSettings, ScriptStream, StampRequest, UpRequest } from './operations.js';
import { migrator, type Migrator, type ScriptRequest, type ScriptResult, type VerifyResult } from './provider.js';
import { DEFAULT_DIR, type BaseOptions, type RunOptions, type RunResult } from './session.js';

export { DEFAULT_DIR, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_TABLE } from './session.js';
export type { BaseOptions, RunOptions, RunResult } from './session.js';
export type { ScriptResult, ScriptStream, VerifyResult };

/** A migrator for one call, closed after it. */
async function once<T>(options: Omit<BaseOptions, 'url'> & { url?: string | undefined }, fn: (m: Migrator) => Promise<T>): Promise<T> {
  const m = await migrator({
    ...(options.url !== undefined ? { url: options.url } : {}),
    ...(options.dir !== undefined ? { dir: options.dir } : {}),
    ...(options.table !== undefined ? { table: options.table } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
    ...(options.largeFileBytes !== undefined ? { largeFileBytes: options.largeFileBytes } : {}),
  });
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

export interface UpOptions extends RunOptions, UpRequest {}

/** Applies pending migrations up to the target. Throws VerificationError (exit 3) when files and history disagree. */
export function up(options: UpOptions): Promise<RunResult> {
  return once(options, (m) => m.up(options));
}

export interface DownOptions extends RunOptions, DownRequest {}

export function down(options: DownOptions): Promise<RunResult> {
  return once(options, (m) => m.down(options));
}

export interface StampOptions extends RunOptions, StampRequest {}

/** Records the database as being at the target without running any migration SQL. */
export function stamp(options: StampOptions): Promise<RunResult> {
  return once(options, (m) => m.stamp(options));
}

export interface ScriptOptions extends Omit<BaseOptions, 'url'>, ScriptSettings, Omit<ScriptRequest, keyof ScriptSettings> {
  /** Needed unless `from` is given; the database is only read (no lock, no history table, no writes). */
  url?: string;
  /** How long the script waits for the migration lock; default 60 000 ms. */
  lockTimeoutMs?: number;
}

/**
 * The psql script that takes the database where `up`, `down` or `stamp` with
 * the same options would: same plan, same statements, same history and log
 * rows (how = 'script' for executed steps). Writes nothing; with `from`, makes
 * no connection at all. The text is held whole, the COPY data of large files
 * included: scriptStream gives it in pieces instead.
 */
export async function script(options: ScriptOptions): Promise<ScriptResult> {
  return once(scriptBase(options), (m) => m.script(options));
}

/** `script`, for a script that may be too large to hold: the same script, in pieces. */
export async function scriptStream(options: ScriptOptions): Promise<ScriptStream> {
  return once(scriptBase(options), (m) => m.scriptStream(options));
}

/** The request's own mistakes come before the directory's, and a script from the files alone connects to nothing. */
function scriptBase(options: ScriptOptions): ScriptOptions {
  if (options.command === 'stamp' && options.target === undefined) throw new UsageError('pgpair stamp needs a TARGET: a version, head or base.');
  if (options.from !== undefined) {
    if (options.from !== 'base' && !isVersion(options.from)) throw new UsageError(`Invalid --from "${options.from}": use a version number (e.g. 0003) or base.`);
    const { url: _url, ...rest } = options;
    return rest;
  }
  if (!options.url) throw new ConfigError('A script needs the current state of the database: give a database URL, or --from VERSION|base to work from the files alone.');
  return options;
}

/**
 * Every migration with its state. Read-only: creates nothing, takes no lock. Throws
 * DirectoryError (exit 2) for a bad directory, and for a file that `up` would refuse to run.
 */
export function status(options: BaseOptions): Promise<StatusReport> {
  return once(options, (m) => m.status(options));
}

/**
 * Compares files and history; `strict` also counts pending versions and changed or deleted down
 * files. Never throws for disagreement: see `ok`. Throws DirectoryError (exit 2) for a file that
 * `up` would refuse to run, applied or pending, up or down.
 */
export function verify(options: BaseOptions & { strict?: boolean }): Promise<VerifyResult> {
  return once(options, (m) => m.verify(options));
}

/** Like verify, but throws VerificationError when there is a problem. */
export function assertVerified(options: BaseOptions & { strict?: boolean }): Promise<StatusReport> {
  return once(options, (m) => m.assertVerified(options));
}

export interface CreateResult {
  version: string;
  up: string;
  down: string;
}

const SLUG = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Writes the next `<version>_<slug>.up.sql` / `.down.sql` pair: newest version + 1, keeping its zero-padded width. */
export async function create(options: { dir?: string; name: string }): Promise<CreateResult> {
  const dir = options.dir ?? DEFAULT_DIR;
  if (!SLUG.test(options.name) || /\.(up|down)$/.test(options.name) || options.name.endsWith('.sql')) {
    throw new UsageError(`Invalid migration name "${options.name}": use letters, digits, '_', '-' and '.', starting with a letter or digit (e.g. add_users).`);
  }
  await ensureDirectory(dir);
  // Names and versions only: create runs nothing, so what is inside the files is up's business.
  const files = await readMigrations(dir, { checkContents: false });
  const newest = files.migrations[files.migrations.length - 1];
  let version = '0001';
  if (newest) {
    const next = (BigInt(versionKey(newest.version)) + 1n).toString();
    version = next.padStart(newest.version.length, '0');
  }
  const base = `${dir.replace(/\/+$/, '')}/${version}_${options.name}`;
  const upPath = `${base}.up.sql`;
  const downPath = `${base}.down.sql`;
  await writeNewFile(upPath, `-- ${version}_${options.name}: apply.\n-- Runs in one transaction together with its history row.\n\n`);
  await writeNewFile(downPath, `-- ${version}_${options.name}: revert what the up file did.\n-- Delete this file if the migration cannot be reverted.\n\n`);
  return { version, up: upPath, down: downPath };
}

export { repair } from './repair.js';
export type { RepairOptions, RepairResult } from './repair.js';
