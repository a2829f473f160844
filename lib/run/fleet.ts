/**
 * A fleet: the same work on many databases or schemas (one per tenant, shard or region). One
 * migrator (lib/run/provider.ts) per target, each with its own connection, migration lock and
 * history; the migration files are read once for all of them. Returns what happened to each
 * target as data and never prints.
 */
import type { Logger } from 'pino';
import { ConfigError, InterruptedError, UsageError } from '../core/errors.js';
import type { MigrationSet } from '../core/files.js';
import { describeTarget } from '../db/target.js';
import { splitSchema } from '../db/url.js';
import { readMigrations } from '../read/source.js';
import { migrator, type Migrator } from './provider.js';
import { DEFAULT_DIR, readOptions, silent, tableOf } from './session.js';

export const DEFAULT_PARALLEL = 4;

export interface FleetOptions<T> {
  /** Connection strings, one per target; a postgres:// URL may name a schema (`?schema=tenant_42`). */
  targets: readonly string[];
  /** Migration directory, read once for every target; default `sql`. */
  dir?: string;
  /** Instead of `dir`: the migrations, already read. */
  files?: MigrationSet;
  /** History table, `[schema.]name`; default `pgpair_history` in each target's current schema (the schema a `schema=` target names). */
  table?: string;
  /** Each target logs through a child of it, bound to `{ target }` (no password); default: silent. */
  logger?: Logger;
  /** Seconds to wait for each target's connection; default 10. */
  connectTimeout?: number;
  largeFileBytes?: number;
  /** How many targets run at a time, each on its own connection (so at most this many are open); default 4. */
  parallel?: number;
  /** Run this many targets first, one at a time; when one fails, nothing else starts. Default 0. */
  canary?: number;
  /** Go on starting targets after one failed. Default: after a failure no new target starts (the running ones finish). */
  keepGoing?: boolean;
  /** Aborting it starts no new target and interrupts the running ones, as a single run is interrupted. */
  signal?: AbortSignal;
  /** Called as each target finishes (in the order they finish), e.g. for a progress line. */
  onResult?: (result: TargetResult<T>) => void;
}

/** What one target's task gets besides its migrator. */
export interface FleetTarget {
  /** Position in `targets`. */
  index: number;
  /** The connection string as given. */
  url: string;
  /** What to call it: user@host:port/db[?schema=NAME], never a password. */
  label: string;
  /** The fleet's signal: pass it to the migrator's calls. */
  signal: AbortSignal | undefined;
}

/** ok: the task returned; failed: it threw; interrupted: a signal ended it; skipped: it never started (the fleet stopped). */
export type TargetOutcome = 'ok' | 'failed' | 'interrupted' | 'skipped';

export interface TargetResult<T> {
  index: number;
  label: string;
  outcome: TargetOutcome;
  /** The task's result, when outcome is ok. */
  value?: T;
  /** What the task threw, when it failed or was interrupted. */
  error?: unknown;
  /** Whether it ran as one of the canaries. */
  canary: boolean;
  /** From its start to its end; null when skipped. */
  durationMs: number | null;
}

/** Why targets were skipped: a canary failed, a target failed (without keepGoing), or the signal was aborted; null when all ran. */
export type FleetStop = 'canary' | 'failure' | 'signal' | null;

export interface FleetResult<T> {
  /** One per target, in the order of `targets`. */
  results: TargetResult<T>[];
  stopped: FleetStop;
  durationMs: number;
}

/** What to call a target: the server and database (PG* gaps filled), and its schema; never the password. */
export function targetLabel(url: string, env: Record<string, string | undefined> = process.env): string {
  const { url: bare, schema } = splitSchema(url);
  return `${describeTarget(bare, env)}${schema !== null ? `?schema=${schema}` : ''}`;
}

function checkCount(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) throw new UsageError(`${name} must be a whole number of at least ${min} (got ${value}).`);
}

/**
 * Runs `task` once per target, on a migrator of its own that is closed when the task ends, at
 * most `parallel` at a time: first the canaries one by one, then the rest. Every target's
 * connection string is checked (and duplicates refused) before any is connected. Throws only for
 * bad options (UsageError, ConfigError) or an unreadable directory; a target's failure is in its
 * result.
 */
export async function fleet<T>(options: FleetOptions<NoInfer<T>>, task: (m: Migrator, target: FleetTarget) => Promise<T>): Promise<FleetResult<T>> {
  const started = performance.now();
  const { targets, signal } = options;
  checkCount('parallel', options.parallel, 1);
  checkCount('canary', options.canary, 0);
  if (targets.length === 0) throw new UsageError('A fleet needs at least one target.');
  const labels = targets.map((url) => targetLabel(url));
  const seen = new Map<string, number>();
  const duplicates: string[] = [];
  // By where it goes (user@host:port/db?schema=NAME), not by spelling: `127.0.0.1/app` and `127.0.0.1:5432/app`,
  // `schema=tenant_1` and `schema=tenant%5F1` are one target, which two runs at once would each take for their own.
  labels.forEach((key, index) => {
    const first = seen.get(key);
    if (first !== undefined) duplicates.push(`${labels[index]} (targets ${first + 1} and ${index + 1})`);
    else seen.set(key, index);
  });
  if (duplicates.length > 0) throw new ConfigError(`The fleet names a target twice: ${duplicates.join(', ')}. Give each database or schema once.`);
  // Schema targets keep their history in their schema; one schema-qualified table would be one history for every tenant of a database.
  const table = tableOf(options);
  const schemaTarget = targets.findIndex((url) => splitSchema(url).schema !== null);
  if (table.schema !== null && schemaTarget !== -1) {
    throw new UsageError(`--table ${options.table} names a schema, but ${labels[schemaTarget]} is a schema target: each tenant keeps its history in its own schema, so give the table without a schema (e.g. --table ${table.name}).`);
  }
  const files = options.files ?? (await readMigrations(options.dir ?? DEFAULT_DIR, readOptions(options)));
  const parallel = options.parallel ?? DEFAULT_PARALLEL;
  const canaries = Math.min(options.canary ?? 0, targets.length);
  const logger = options.logger ?? silent;
  const results: (TargetResult<T> | undefined)[] = new Array(targets.length);
  let stopped: FleetStop = null;

  const runOne = async (index: number, canary: boolean): Promise<TargetResult<T>> => {
    const url = targets[index]!;
    const label = labels[index]!;
    const begun = performance.now();
    let m: Migrator | null = null;
    let result: TargetResult<T>;
    try {
      m = await migrator({
        url,
        files,
        ...(options.table !== undefined ? { table: options.table } : {}),
        logger: logger.child({ target: label }),
        ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
        ...(options.largeFileBytes !== undefined ? { largeFileBytes: options.largeFileBytes } : {}),
      });
      const value = await task(m, { index, url, label, signal });
      result = { index, label, outcome: 'ok', value, canary, durationMs: Math.round(performance.now() - begun) };
    } catch (error) {
      const outcome = error instanceof InterruptedError || signal?.aborted ? 'interrupted' : 'failed';
      result = { index, label, outcome, error, canary, durationMs: Math.round(performance.now() - begun) };
    } finally {
      await m?.close();
    }
    results[index] = result;
    options.onResult?.(result);
    return result;
  };

  for (let index = 0; index < canaries && stopped === null; index++) {
    if (signal?.aborted) break;
    const result = await runOne(index, true);
    if (result.outcome !== 'ok') stopped = result.outcome === 'interrupted' ? 'signal' : 'canary';
  }
  let next = canaries;
  const worker = async () => {
    while (stopped === null && !signal?.aborted && next < targets.length) {
      const result = await runOne(next++, false);
      if (result.outcome === 'failed' && !options.keepGoing) stopped ??= 'failure';
    }
  };
  if (stopped === null) await Promise.all(Array.from({ length: Math.min(parallel, targets.length - canaries) }, worker));
  if (signal?.aborted && stopped !== 'canary') stopped = 'signal';
  // Array.from, not map: a target that never started is a hole in `results`, which map would skip.
  const all = Array.from(results, (result, index) => result ?? { index, label: labels[index]!, outcome: 'skipped' as const, canary: index < canaries, durationMs: null });
  return { results: all, stopped, durationMs: Math.round(performance.now() - started) };
}
