/**
 * Lock timeouts and deadlocks are about other sessions, not about the file: a migration that
 * failed on one (55P03, 40P01) is tried again after a pause, every attempt with the same
 * lock_timeout (never a last one without it). A transactional migration is retried as a whole
 * (its transaction was rolled back: nothing of it stayed); a statement of a non-transactional
 * one on its own, after dropping the INVALID index a failed CREATE INDEX CONCURRENTLY left
 * (cic.ts). Each retry is logged (warn) with the table and the sessions in the way, and appended
 * to the history log as a `retry` entry; a migration given up on a lock gets a `failed` entry
 * saying how many attempts it had.
 *
 * The seam for the executor: withTransactionRetries(attempt) and runStatementWithRetries(run)
 * call back into the block's runner; they know nothing of how a block runs.
 */
import { MigrationFailedError, PgpairError } from '../../core/errors.js';
import { migrationLockTimeout } from '../../core/guards.js';
import type { HistoryTables } from '../../core/history.js';
import type { SqlStatement } from '../../core/lexer.js';
import type { MigrationBlock } from '../../core/program.js';
import { AS_LOGIN_USER_SQL } from '../../core/session-state.js';
import { pgErrorFields } from '../../db/errors.js';
import type { Connection } from '../../db/types.js';
import { concurrentIndexOf, dropIndexSql, indexesBefore, indexLabel, leftoverIndexes, type IndexName } from './cic.js';
import { elapsed, type ExecuteOptions, type LockWaitWatch, type WaitSeen } from './context.js';
import { interrupted, log, StatementFailure, wrapDatabaseError } from './failures.js';
import { pauseUnlessAborted } from '../pause.js';

export const DEFAULT_LOCK_RETRIES = 5;
export const DEFAULT_LOCK_RETRY_BASE_MS = 1_000;
/** No pause between attempts is longer than this. */
export const LOCK_RETRY_CAP_MS = 30_000;

const LOCK_FAILURES = { '55P03': 'lock timeout', '40P01': 'deadlock' } as const;
export type LockFailure = keyof typeof LOCK_FAILURES;

/** How a block's attempts went so far: what the failure message of the last one says. */
export interface Attempts {
  /** Attempts made (1 for the first). */
  made: number;
  /** Retries allowed (--lock-retries). */
  retries: number;
  /** Retries made, over the whole block (a non-transactional block's statements add up). */
  used: number;
  /** lock_timeout of every attempt, ms (0: none). */
  lockTimeoutMs: number;
  /** What became of an INVALID index a failed CREATE INDEX CONCURRENTLY left, when one did. */
  note: string | null;
}

export function attemptsOf(options: ExecuteOptions): Attempts {
  return { made: 0, used: 0, retries: options.lockRetries ?? DEFAULT_LOCK_RETRIES, lockTimeoutMs: migrationLockTimeout(options), note: null };
}

/** The pause before retry `n` (1-based): base·2^(n−1), capped, its upper half at random so that runs that met do not meet again. */
export function backoffMs(n: number, baseMs: number, random: () => number = Math.random): number {
  const full = Math.min(LOCK_RETRY_CAP_MS, baseMs * 2 ** Math.min(n - 1, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

/** The SQLSTATE when `error` (pgpair's, a StatementFailure's cause, a driver's) is a lock timeout or a deadlock. */
export function lockFailureOf(error: unknown): LockFailure | null {
  const cause = error instanceof MigrationFailedError ? error.pg : pgErrorFields(error instanceof StatementFailure ? error.cause : error);
  const sqlstate = cause?.sqlstate;
  return sqlstate === '55P03' || sqlstate === '40P01' ? sqlstate : null;
}


/** "lock timeout (55P03) waiting for AccessExclusiveLock on t, held by pid 42 (…)" */
function failedAttempt(sqlstate: LockFailure, seen: WaitSeen | null): string {
  return `${LOCK_FAILURES[sqlstate]} (${sqlstate})${seen ? ` waiting for ${seen.text}` : ''}`;
}

/** A history-log entry, written as the login user whatever role the file set (a non-transactional file's SET ROLE outlives its statement). */
async function record(db: Connection, tables: HistoryTables, block: MigrationBlock, action: 'retry' | 'failed', durationMs: number, detail: string): Promise<void> {
  const m = block.step.migration;
  await db.transaction(async (tx) => {
    await tx.exec(AS_LOGIN_USER_SQL);
    await log(tx, tables, action, { version: m.version, name: m.name, checksum: block.file.checksum, how: 'executed', durationMs, detail });
  });
}

interface Retry {
  sqlstate: LockFailure;
  seen: WaitSeen | null;
  attempt: number;
  startedMs: number;
  /** "statement 2 of 3 (sql/0002_x.up.sql:4)" for a non-transactional migration's statement. */
  statement?: string;
}

/** Logs a retry and appends its log entry; then pauses. False when a signal came during the pause. */
async function retryAfterPause(db: Connection, tables: HistoryTables, block: MigrationBlock, options: ExecuteOptions, attempts: Attempts, retry: Retry): Promise<boolean> {
  const m = block.step.migration;
  const label = `${m.version}_${m.name}`;
  const delayMs = backoffMs(retry.attempt, options.lockRetryBaseMs ?? DEFAULT_LOCK_RETRY_BASE_MS);
  const what = `${retry.statement ? `${retry.statement} of ` : ''}${label} (${block.step.action}) failed on a ${failedAttempt(retry.sqlstate, retry.seen)}`;
  const detail = `attempt ${retry.attempt} of ${attempts.retries + 1}: ${what}; retrying in ${delayMs} ms`;
  options.logger.warn(
    { migration: label, attempt: retry.attempt, attempts: attempts.retries + 1, sqlstate: retry.sqlstate, delayMs, table: retry.seen?.wait.relation ?? null, blockers: retry.seen?.wait.blockers ?? [] },
    `${what}; attempt ${retry.attempt} of ${attempts.retries + 1}, ${block.mode === 'transaction' ? 'rolled back, ' : ''}retrying in ${delayMs} ms`,
  );
  try {
    await record(db, tables, block, 'retry', elapsed(retry.startedMs), detail);
  } catch (error) {
    // The retry goes on: a log entry that cannot be written must not end a migration that may still succeed.
    options.logger.warn({ err: error }, 'could not append the retry to the history log');
  }
  attempts.used++;
  const resumed = await pauseUnlessAborted(delayMs, options.signal);
  // A signal during the pause: the run's cancel of "the statement in progress" may still be on its way, and would land
  // on what pgpair runs next (dropping a left-over index, marking the migration failed; seen in CI as "current
  // transaction is aborted" there). Waiting for it while the session is idle makes it harmless: a cancel that finds
  // no statement is ignored. cancel() shares one that is on its way, or sends one now, to an idle session.
  if (!resumed) await db.cancel();
  return resumed;
}

/** The last attempt failed on a lock too: its `failed` log entry. A failure to write it must not hide the migration's own error. */
async function recordGiveUp(db: Connection, tables: HistoryTables, block: MigrationBlock, options: ExecuteOptions, attempts: Attempts, retry: Retry): Promise<void> {
  const what = `${retry.statement ? `${retry.statement}: ` : ''}${failedAttempt(retry.sqlstate, retry.seen)}`;
  const detail = `${block.step.action} gave up after ${attempts.made} attempt${attempts.made === 1 ? '' : 's'} (--lock-retries ${attempts.retries}), the last one on a ${what}`;
  try {
    await record(db, tables, block, 'failed', elapsed(retry.startedMs), detail);
  } catch (error) {
    options.logger.warn({ err: error }, 'could not append the failed attempt to the history log');
  }
}

/**
 * Runs a transactional block until it succeeds, fails for another reason than a lock, or has
 * used its retries. `attempt` runs it once and returns its duration; the watch it used tells
 * what it waited for.
 */
export async function withTransactionRetries(
  db: Connection,
  tables: HistoryTables,
  block: MigrationBlock,
  options: ExecuteOptions,
  attempts: Attempts,
  attempt: (watched: { watch?: LockWaitWatch }) => Promise<number>,
): Promise<number> {
  for (let n = 1; ; n++) {
    attempts.made = n;
    const watched: { watch?: LockWaitWatch } = {};
    const startedMs = performance.now();
    try {
      return await attempt(watched);
    } catch (error) {
      const sqlstate = lockFailureOf(error);
      if (sqlstate === null || !(error instanceof MigrationFailedError) || !error.rolledBack || db.lost || options.signal?.aborted) throw error;
      const retry: Retry = { sqlstate, seen: watched.watch?.lastWait() ?? null, attempt: n, startedMs };
      if (n > attempts.retries) {
        await recordGiveUp(db, tables, block, options, attempts, retry);
        throw error;
      }
      if (!(await retryAfterPause(db, tables, block, options, attempts, retry))) {
        throw interrupted(options.signal!, block.step.migration, block.step.action, block.analysis);
      }
    }
  }
}

/**
 * Runs one statement of a non-transactional (`no-transaction`) block until it succeeds, fails
 * for another reason than a lock, or has used its retries (each statement may be retried
 * --lock-retries times; `attempts.used` adds them up for the block). A failed CREATE INDEX CONCURRENTLY's INVALID index
 * is dropped before the statement runs again, and when pgpair gives up. Throws what `run` threw
 * (the caller marks the migration failed), or a DatabaseError when a left-over index could not
 * be dropped.
 */
export async function runStatementWithRetries(
  db: Connection,
  tables: HistoryTables,
  block: MigrationBlock,
  options: ExecuteOptions,
  attempts: Attempts,
  watch: LockWaitWatch,
  at: { index: number; statement: SqlStatement },
  run: () => Promise<void>,
): Promise<void> {
  const index = concurrentIndexOf(at.statement);
  const place = `statement ${at.index + 1} of ${block.analysis.statements.length} (${block.file.path}:${at.statement.line})`;
  let leftovers: IndexName[] = [];
  // A CIC whose left-over index pgpair cannot look for is not retried: a retry would fail on it, or skip it (IF NOT EXISTS).
  let retriable = true;
  for (let tried = 1; ; tried++) {
    attempts.made = tried;
    watch.forget();
    const startedMs = performance.now();
    try {
      if (leftovers.length > 0) leftovers = await dropLeftovers(db, leftovers, options, place);
      // pgpair's own look at the table's indexes; when it cannot look, a CIC is not retried (its INVALID index would stay).
      const before = index ? await indexesBefore(db, index).catch(() => null) : null;
      try {
        await run();
        return;
      } catch (error) {
        if (index && lockFailureOf(error)) {
          const left = before === null ? null : await leftoverIndexes(db, index, before).catch(() => null);
          // null: pgpair cannot tell its own left-over index from another session's build, so it neither drops nor retries.
          if (left === null) retriable = false;
          else leftovers = left;
        }
        throw error;
      }
    } catch (error) {
      const sqlstate = lockFailureOf(error);
      if (sqlstate === null || db.lost || options.signal?.aborted) throw error;
      const retry: Retry = { sqlstate, seen: watch.lastWait(), attempt: tried, startedMs, statement: place };
      if (tried > attempts.retries || !retriable) {
        if (leftovers.length > 0) await giveUpLeftovers(db, leftovers, options, place, attempts);
        if (!retriable) {
          attempts.note = `pgpair could not tell whether the failed CREATE INDEX CONCURRENTLY left an INVALID index on ${index?.table} (another session may be building one there), so it did not try it again: look for one (SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid) and drop it (DROP INDEX CONCURRENTLY) before running pgpair again.`;
        }
        await recordGiveUp(db, tables, block, options, attempts, retry);
        throw error instanceof StatementFailure || error instanceof PgpairError ? error : wrapDatabaseError(error, `Dropping the INVALID index that the failed ${place} left failed`);
      }
      // A signal during the pause: the caller's catch sees the aborted signal and reports the interruption.
      if (!(await retryAfterPause(db, tables, block, options, attempts, retry))) {
        if (leftovers.length > 0) await giveUpLeftovers(db, leftovers, options, place, attempts);
        throw error;
      }
    }
  }
}

/** Drops the INVALID indexes a failed attempt left; a lock failure of the drop is thrown as is (the next attempt drops them again). */
async function dropLeftovers(db: Connection, leftovers: IndexName[], options: ExecuteOptions, place: string): Promise<IndexName[]> {
  for (const index of leftovers) {
    try {
      await db.exec(dropIndexSql(index));
    } catch (error) {
      if (lockFailureOf(error)) throw error;
      throw wrapDatabaseError(error, `Dropping the INVALID index ${indexLabel(index)} that the failed CREATE INDEX CONCURRENTLY (${place}) left failed; drop it by hand (${dropIndexSql(index)})`);
    }
    options.logger.warn({ index: `${index.schema}.${index.name}` }, `dropped the INVALID index ${indexLabel(index)} that the failed CREATE INDEX CONCURRENTLY (${place}) left, before trying it again`);
  }
  return [];
}

/** When pgpair gives up: drops what the last attempt left if it can, and says in the failure's message what became of it. */
async function giveUpLeftovers(db: Connection, leftovers: IndexName[], options: ExecuteOptions, place: string, attempts: Attempts): Promise<void> {
  const names = leftovers.map(indexLabel).join(', ');
  try {
    await dropLeftovers(db, leftovers, options, place);
    attempts.note = `pgpair dropped the INVALID index ${names} that the failed CREATE INDEX CONCURRENTLY left.`;
  } catch (error) {
    const reason = pgErrorFields(error)?.message ?? (error as Error).message;
    attempts.note = `The failed CREATE INDEX CONCURRENTLY left the INVALID index ${names}, which pgpair could not drop (${reason}): drop it (${leftovers.map(dropIndexSql).join('; ')}) before running pgpair again.`;
    options.logger.warn({ indexes: leftovers }, attempts.note);
  }
}
