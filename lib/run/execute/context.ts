/**
 * What every part of the executor shares: its options and results, the run's
 * session context, and the small pieces that send the program's records.
 */
import type { Logger } from 'pino';
import type { Connection, Queryable } from '../../db/types.js';
import type { Migration } from '../../core/files.js';
import type { AppliedStep } from '../../core/errors.js';
import type { Step } from '../../core/plan.js';
import { bindElapsed, type Elapsed, type Record } from '../../core/program.js';
import { describeLockWait } from '../../db/lock-wait.js';
import type { LockWait } from '../../db/types.js';
import { migrationLockTimeout } from '../../core/guards.js';
import type { SessionClaim } from '../../core/session-state.js';

export interface ExecuteOptions {
  logger: Logger;
  /** PostgreSQL statement_timeout for migration SQL, in ms (undefined: server default). */
  statementTimeoutMs?: number;
  /** PostgreSQL lock_timeout for migration SQL, in ms; default 5 000 (core/guards.ts), 0 = none. */
  migrationLockTimeoutMs?: number;
  /**
   * How often a migration that failed on a lock timeout (55P03) or a deadlock (40P01) is tried
   * again: a transactional one as a whole, a statement of a non-transactional one on its own
   * (execute/retry.ts). Default 5; 0 = never.
   */
  lockRetries?: number;
  /** The first pause before a retry, ms (then doubling, capped at 30 s, with jitter); default 1 000. Tests set it low. */
  lockRetryBaseMs?: number;
  /** How often a statement that waits for a lock is logged with who holds it, ms; default 5 000. */
  lockWaitLogMs?: number;
  /** Aborting stops the run: the statement in progress is cancelled by the caller, the transaction rolls back, no further step starts. */
  signal?: AbortSignal;
  /** Called before each step starts. */
  onStepStart?: (step: { action: Step['action']; version: string; name: string }) => void;
  /** Called after each step completes. */
  onStep?: (result: StepResult) => void;
  /** false: no second session looks at what a statement waits for (RunCallOptions.watchLockWaits). */
  watchLockWaits?: boolean;
  /** The run's claim on its backend (lib/run/pooler.ts): the checks pass only there. */
  claim?: SessionClaim;
}

/** A step the run carried out: what onStep reports, and what a failed run's error lists as `applied`. */
export type StepResult = AppliedStep;

/**
 * What a run needs to keep migrations from changing what it relies on (lib/session-state.ts): the
 * SQL that restores the session state the run started with, and the migration lock's key.
 */
export interface RunContext {
  restoreSql: string;
  lockKeySql: string;
  /**
   * DDL may run the user's code: an event trigger is enabled, or the plan creates or alters one.
   * The pipeline across migrations then checks after every statement (execute/pipeline.ts).
   */
  userCodeOnDdl?: boolean;
}

/**
 * Lets pending signal handlers run before deciding whether to start more work. An in-process
 * database (PGlite) answers without returning to the event loop, so a SIGINT that arrived during
 * a statement would otherwise be seen only after the next one had run too.
 */
export const signalsDelivered = (signal: AbortSignal | undefined): Promise<void> | undefined =>
  signal && !signal.aborted ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined;

export const elapsed = (started: number) => Math.round(performance.now() - started);

export const caught = <T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> => p.then((value) => ({ value }), (error: unknown) => ({ error }));

/** What a migration's statements were last seen waiting for (watchLockWaits), as data and in words. */
export interface WaitSeen {
  wait: LockWait;
  text: string;
}

export interface LockWaitWatch {
  /** The last wait seen, in words (null: none seen). */
  last: () => string | null;
  /** The last wait seen, as data. */
  lastWait: () => WaitSeen | null;
  /** Forgets what was seen: a retried statement starts afresh. */
  forget: () => void;
  stop: () => void;
}

/**
 * While a migration's statements run, looks from a second session (Connection.lockWait) at what
 * they wait for: first after a second (or half the lock timeout, if shorter), then every
 * `lockWaitLogMs` (default five seconds). Each wait is logged with the sessions in the way (a
 * CREATE INDEX CONCURRENTLY waiting for older transactions waits on their virtualxid); the last
 * one seen names them when a lock timeout ends the migration.
 */
export function watchLockWaits(db: Connection, migration: Migration, options: ExecuteOptions): LockWaitWatch {
  let last: WaitSeen | null = null;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const lockTimeoutMs = migrationLockTimeout(options);
  const every = options.lockWaitLogMs ?? 5000;
  const first = Math.min(every, lockTimeoutMs ? Math.max(50, Math.min(1000, Math.floor(lockTimeoutMs / 2))) : 1000);
  const label = `${migration.version}_${migration.name}`;
  const look = async () => {
    const wait = await db.lockWait();
    if (stopped) return;
    if (wait) {
      last = { wait, text: describeLockWait(wait) };
      options.logger.info({ migration: label, wait }, `${label} waits for ${last.text}`);
    }
    timer = setTimeout(look, every);
    timer.unref();
  };
  if (db.interruptible && options.watchLockWaits !== false) {
    timer = setTimeout(look, first);
    timer.unref();
  }
  return {
    last: () => last?.text ?? null,
    lastWait: () => last,
    forget: () => {
      last = null;
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Sends one of the program's records on `q`, its Elapsed bound to `durationMs`. A record that must
 * change one row (a down's history row) is sent with RETURNING and fails when it changed none.
 */
export function sendRecord(q: Queryable, record: Record, durationMs: number | null): Promise<unknown> {
  return sendRecordBound(q, record, () => durationMs);
}

/** sendRecord with each Elapsed bound to `bind(elapsed)`: the pipeline binds the server-side expression it carries. */
export function sendRecordBound(q: Queryable, record: Record, bind: (elapsed: Elapsed) => unknown): Promise<unknown> {
  const params = bindElapsed(record.params, bind);
  const message = record.mustChangeOneRow;
  if (message === undefined) return q.query(record.sql, params);
  return q.query(`${record.sql} RETURNING 1 AS changed`, params).then((rows) => {
    if (rows.length !== 1) throw new Error(message);
  });
}
