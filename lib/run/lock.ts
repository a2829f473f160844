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

import { LOCK_KEY_SQL, lockKeySql, ownSessionSql, type SessionClaim } from '../core/session-state.js';
import { claimSession, poolerAtStart, poolerDuring, sessionMoved } from './pooler.js';
import { pauseUnlessAborted } from './pause.js';

/** SQL expression for the lock key; $1 is the history table's display name (schema.table). Defined in session-state.ts, shared with the guard. */
export { LOCK_KEY_SQL };

/** Computes the key and tries the lock in one round trip; `own`: on the run's own backend (lib/run/pooler.ts). */
async function firstAttempt(db: Connection, tables: HistoryTables, claim: SessionClaim): Promise<{ key: string; locked: boolean; own: boolean }> {
  const [row] = await db.query<{ key: string; locked: boolean; own: boolean; pid: number }>(
    // The key is null off the run's own backend, and pg_try_advisory_lock(null) takes nothing.
    `SELECT k::text AS key, pg_try_advisory_lock(k) AS locked, own, pg_backend_pid() AS pid FROM (SELECT CASE WHEN ${ownSessionSql(claim)} THEN ${LOCK_KEY_SQL} END AS k, ${ownSessionSql(claim)} AS own) AS lock_key`,
    [tables.display],
  );
  if (!row!.own) throw poolerAtStart(db.displayUrl, [claim.pid, Number(row!.pid)]);
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


function interruptedWaiting(signal: AbortSignal, tables: HistoryTables, waited = true): InterruptedError {
  const reason = String(signal.reason ?? 'an abort signal');
  return new InterruptedError(reason, null, `Interrupted by ${reason} while ${waited ? 'waiting for' : 'taking'} the migration lock on ${tables.display}; nothing was done.`);
}

/**
 * Runs `fn` while holding the migration lock; always releases it. Waits by
 * polling pg_try_advisory_lock (a blocking pg_advisory_lock could not be given
 * up after a timeout without cancelling it from a second connection).
 * First claims the session (lib/run/pooler.ts): behind a pooler in transaction mode it refuses
 * (PoolerError) before taking the lock, and `fn` gets the claim for the run's checks; a failure
 * of `fn` after the session moved to another server connection becomes the PoolerError too.
 */
export async function withLock<T>(db: Connection, tables: HistoryTables, options: LockOptions, fn: (claim: SessionClaim) => Promise<T>): Promise<T> {
  const started = Date.now();
  const signal = options.signal;
  let key: string;
  let claim: SessionClaim;
  let waited = false;
  try {
    claim = await claimSession(db);
    const first = await firstAttempt(db, tables, claim);
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
      await pauseUnlessAborted(Math.min(pollMs * (0.5 + Math.random()), Math.max(0, options.timeoutMs - waitedMs)), signal);
      if (signal?.aborted) throw interruptedWaiting(signal, tables);
      const [row] = await db.query<{ locked: boolean; own: boolean; pid: number }>(`SELECT pg_try_advisory_lock(k) AS locked, own, pg_backend_pid() AS pid FROM (SELECT CASE WHEN ${ownSessionSql(claim)} THEN $1::bigint END AS k, ${ownSessionSql(claim)} AS own) AS lock_key`, [key]);
      if (!row?.own) throw poolerAtStart(db.displayUrl, [claim.pid, Number(row?.pid)]);
      locked = Boolean(row.locked);
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
    return await fn(claim);
  } catch (error) {
    if (db.lost || signal?.aborted) throw error;
    const moved = await sessionMoved(db, claim, lockKeySql(tables.display), error).catch(() => null);
    throw moved ? poolerDuring(db.displayUrl, moved, error) : error;
  } finally {
    if (!db.lost) {
      try {
        await release(db, key, claim, options.logger);
      } catch (error) {
        options.logger.warn({ err: error }, 'could not release the migration lock; it is released when the session ends');
      }
    }
  }
}

/** How often a run tries to reach its own backend to release the lock there (behind a transaction pooler only). */
const RELEASE_ATTEMPTS = 10;

/**
 * Releases the lock on the backend the run took it on (pid only: another run sharing that
 * backend through a pooler holds its own count of the same lock). Directly, that is the first
 * and only statement. Behind a transaction pooler the statement may land elsewhere, where it
 * releases nothing (and PgBouncer hands an idle client the connection it used last, so it keeps
 * landing there); after a few tries the run ends its own backend, if that backend is idle (no
 * client's transaction on it) and still holds the lock, so that no later run, direct or pooled,
 * waits for a lock nobody holds any more. Otherwise the backend is named.
 */
async function release(db: Connection, key: string, claim: SessionClaim, logger: Logger): Promise<void> {
  const pid = Math.trunc(claim.pid);
  for (let attempt = 0; attempt < RELEASE_ATTEMPTS; attempt++) {
    const [row] = await db.query<{ here: boolean }>(`SELECT pg_backend_pid() = ${pid} AS here, CASE WHEN pg_backend_pid() = ${pid} THEN pg_advisory_unlock($1::bigint) END AS released`, [key]);
    if (row?.here) return;
    await pauseUnlessAborted(25, undefined);
  }
  const heldThere = `EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = ${pid} AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                     AND l.classid = ((($1::bigint) >> 32) & 4294967295)::oid AND l.objid = (($1::bigint) & 4294967295)::oid)`;
  const [ended] = await db.query<{ held: boolean; ended: boolean | null }>(
    `SELECT ${heldThere} AS held,
            (SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE a.pid = ${pid} AND a.pid <> pg_backend_pid() AND a.state = 'idle' AND ${heldThere}) AS ended`,
    [key],
  );
  // Another run sharing that backend ended it already, or released its count: nothing of this run's is left.
  if (!ended?.held) return;
  if (ended.ended) {
    logger.info({ backend: claim.pid }, `released the migration lock by ending server connection pid ${claim.pid}, which the pooler did not give this session back (it was idle, holding pgpair's lock)`);
    return;
  }
  logger.warn(
    { backend: claim.pid },
    `the migration lock stays held by server connection pid ${claim.pid}, which the pooler did not give this session back; it is freed when the pooler closes that connection, or by SELECT pg_terminate_backend(${claim.pid}) over the direct URL once nothing runs there`,
  );
}
