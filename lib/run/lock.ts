/**
 * The migration lock: a session-level advisory lock whose key is derived, on
 * the server, from the database name and the history table's qualified name,
 * so that runs against the same history serialise and runs against different
 * histories do not. `--sql` scripts compute the same key the same way.
 */
import type { Logger } from 'pino';
import type { Connection, Queryable } from '../db/types.js';
import { InterruptedError, LockTimeoutError, type LockHolder } from '../core/errors.js';
import type { HistoryTables } from '../core/history.js';

import { LOCK_KEY_SQL } from '../core/session-state.js';

/** SQL expression for the lock key; $1 is the history table's display name (schema.table). Defined in session-state.ts, shared with the guard. */
export { LOCK_KEY_SQL };

/** Computes the key and tries the lock in one round trip. */
async function firstAttempt(db: Queryable, tables: HistoryTables): Promise<{ key: string; locked: boolean }> {
  const [row] = await db.query<{ key: string; locked: boolean }>(
    `SELECT k::text AS key, pg_try_advisory_lock(k) AS locked FROM (SELECT ${LOCK_KEY_SQL} AS k) AS lock_key`,
    [tables.display],
  );
  return row!;
}

/** Who holds the advisory lock with this key, if anyone (pg_locks splits the 64-bit key into classid/objid). */
export async function lockHolder(db: Queryable, key: string): Promise<LockHolder | null> {
  const value = BigInt.asUintN(64, BigInt(key));
  const classid = (value >> 32n).toString();
  const objid = (value & 0xffffffffn).toString();
  const rows = await db.query<{ pid: number; application_name: string | null; usename: string | null; client_addr: string | null; backend_start: Date | null; state: string | null }>(
    `SELECT a.pid, a.application_name, a.usename::text AS usename, host(a.client_addr) AS client_addr, a.backend_start, a.state
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      LIMIT 1`,
    [classid, objid],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    pid: Number(row.pid),
    applicationName: row.application_name || null,
    user: row.usename,
    clientAddr: row.client_addr,
    since: row.backend_start ? new Date(row.backend_start).toISOString() : null,
    state: row.state,
  };
}

export interface LockOptions {
  timeoutMs: number;
  logger: Logger;
  /** Between attempts; jittered so that many waiting runs do not poll in step. */
  pollMs?: number;
  /** Stops waiting when aborted. */
  signal?: AbortSignal;
}

/** Waits `ms`, or less when `signal` is aborted meanwhile. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function interruptedWaiting(signal: AbortSignal, tables: HistoryTables, waited = true): InterruptedError {
  const reason = String(signal.reason ?? 'an abort signal');
  return new InterruptedError(reason, null, `Interrupted by ${reason} while ${waited ? 'waiting for' : 'taking'} the migration lock on ${tables.display}; nothing was done.`);
}

/**
 * Runs `fn` while holding the migration lock; always releases it. Waits by
 * polling pg_try_advisory_lock (a blocking pg_advisory_lock could not be given
 * up after a timeout without cancelling it from a second connection).
 */
export async function withLock<T>(db: Connection, tables: HistoryTables, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const signal = options.signal;
  let key: string;
  let waited = false;
  try {
    const first = await firstAttempt(db, tables);
    key = first.key;
    const pollMs = options.pollMs ?? 200;
    let announced = false;
    let locked = Boolean(first.locked);
    while (!locked) {
      waited = true;
      if (signal?.aborted) throw interruptedWaiting(signal, tables);
      const waitedMs = Date.now() - started;
      if (waitedMs >= options.timeoutMs) {
        throw new LockTimeoutError(await lockHolder(db, key), waitedMs);
      }
      if (!announced) {
        announced = true;
        const holder = await lockHolder(db, key);
        options.logger.info({ holder, lock: tables.display }, `waiting for the migration lock on ${tables.display}${holder ? `, held by pid ${holder.pid} (${holder.applicationName ?? 'unknown'})` : ''}`);
      }
      await pause(Math.min(pollMs * (0.5 + Math.random()), Math.max(0, options.timeoutMs - waitedMs)), signal);
      if (signal?.aborted) throw interruptedWaiting(signal, tables);
      const [row] = await db.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS locked`, [key]);
      locked = Boolean(row?.locked);
    }
  } catch (error) {
    // The abort may also have cancelled the query in flight (the session cancels what runs).
    if (signal?.aborted && !(error instanceof InterruptedError) && !db.lost) throw interruptedWaiting(signal, tables, waited);
    throw error;
  }
  if (signal?.aborted) {
    // Taken in the same moment as the signal came: give it back, and do nothing.
    await db.query(`SELECT pg_advisory_unlock($1::bigint)`, [key]).catch(() => {});
    throw interruptedWaiting(signal, tables, waited);
  }
  options.logger.debug({ lock: tables.display, waitedMs: Date.now() - started }, 'migration lock acquired');
  try {
    return await fn();
  } finally {
    if (!db.lost) {
      try {
        await db.query(`SELECT pg_advisory_unlock($1::bigint)`, [key]);
      } catch (error) {
        options.logger.warn({ err: error }, 'could not release the migration lock; it is released when the session ends');
      }
    }
  }
}
