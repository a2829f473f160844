/**
 * Where a migrator's sessions come from, one per call (lib/run/provider.ts):
 *
 * - a URL: pgpair's own connection, opened on the first call and kept until close(); a call that
 *   finds it lost opens a new one (the call that lost it has already failed with a ConnectionError);
 * - the application's postgres.js pool: one session reserved for the call and given back after it;
 * - the application's PGlite instance: the instance's one session, for the call.
 *
 * A session the application lent is given back as it was lent: no transaction open (pgpair's
 * migration lock is released by withLock), its settings, role and session user as before the call.
 * pgpair never ends the application's pool nor closes its instance.
 */
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import type postgres from 'postgres';
import { ConfigError, ConnectionError } from '../core/errors.js';
import { CAPTURE_SESSION_SQL, restoreSessionSql, sessionStartFromRow, type SessionStart } from '../core/session-state.js';
import { connect } from '../db/index.js';
import type { Connection, Notice } from '../db/types.js';
import { urlScheme } from '../db/url.js';
import { interruptedBefore } from './session.js';

/** A postgres.js `Sql` (what `postgres(url, options)` returns) or a PGlite instance, opened and owned by the application. */
/**
 * An application's postgres.js pool, whatever custom types it declares (pgpair uses none of them,
 * and refuses a pool that changes how the values it reads are parsed: checkPoolOptions).
 */
// biome-ignore lint/suspicious/noExplicitAny: postgres.Sql's type map is invariant; any map an application declares must be accepted
export type ApplicationSql = postgres.Sql<any>;
export type ApplicationConnection = ApplicationSql | PGlite;

export interface Lender {
  /** A session for one call; `readOnly`: the call only reads (an embedded database that does not exist yet is then not created). */
  acquire(readOnly: boolean, signal: AbortSignal | undefined): Promise<Connection>;
  /** After the call, whatever its outcome: puts the session back as it was lent. Never throws. */
  giveBack(db: Connection): Promise<void>;
  /** Releases what pgpair opened itself, and nothing of the application's. Never throws. */
  close(): Promise<void>;
}

/** pgpair's own connection to `url`, kept from the first call until close(). */
export function urlLender(url: string, connectTimeout: number, onNotice: (notice: Notice) => void): Lender {
  let current: { db: Connection; readOnly: boolean } | null = null;
  // Only the embedded driver opens another database for a read-only command (an absent directory reads as empty).
  const readOnlyMatters = urlScheme(url) === 'pglite';
  return {
    async acquire(readOnly, signal) {
      if (current && (current.db.lost || (readOnlyMatters && current.readOnly && !readOnly))) {
        await current.db.close();
        current = null;
      }
      if (!current) current = { db: await connect({ url, onNotice, connectTimeout, readOnly, ...(signal ? { signal } : {}) }), readOnly };
      return current.db;
    },
    async giveBack() {},
    async close() {
      await current?.db.close();
      current = null;
    },
  };
}

function isPostgresJs(value: unknown): value is ApplicationSql {
  return typeof value === 'function' && typeof (value as { reserve?: unknown }).reserve === 'function' && typeof (value as { unsafe?: unknown }).unsafe === 'function';
}

function isPglite(value: unknown): value is PGlite {
  const v = value as { query?: unknown; exec?: unknown; isInTransaction?: unknown } | null;
  return typeof v === 'object' && v !== null && typeof v.query === 'function' && typeof v.exec === 'function' && typeof v.isInTransaction === 'function';
}

/** Refuses a pool whose options would change what pgpair reads back (column names, int8 and numeric as text). */
function checkPoolOptions(sql: ApplicationSql): void {
  const o = sql.options as unknown as { transform?: { column?: { from?: unknown }; value?: { from?: unknown }; row?: { from?: unknown } }; parsers?: Record<string, unknown> };
  const t = o.transform;
  if (typeof t?.column?.from === 'function' || typeof t?.value?.from === 'function' || typeof t?.row?.from === 'function') {
    throw new ConfigError('The postgres.js Sql given to pgpair transforms the rows it reads (its transform option), and pgpair reads its own rows from it. Give pgpair a postgres() without transform, or its URL.');
  }
  if (o.parsers?.['20'] || o.parsers?.['1700']) {
    throw new ConfigError('The postgres.js Sql given to pgpair parses bigint or numeric values itself (its types option), and pgpair reads them as text. Give pgpair a postgres() without those types, or its URL.');
  }
}

/** What the session held before the call, and how to put it back. */
async function capture(db: Connection): Promise<SessionStart> {
  const [row] = await db.query<{ session_user: unknown; current_user: unknown; login_user: unknown; settings: unknown }>(CAPTURE_SESSION_SQL);
  return sessionStartFromRow(row!);
}

/**
 * Puts a lent session back as `start` describes it: out of any transaction (a failed call may
 * have left one open only if the session broke; then it is rolled back), settings, role and
 * session user as they were. False when that could not be done.
 */
async function restore(db: Connection, start: SessionStart, logger: Logger, knownInTransaction?: () => boolean): Promise<boolean> {
  if (db.lost) return false;
  try {
    let inTransaction: boolean;
    if (knownInTransaction) {
      inTransaction = knownInTransaction();
    } else {
      try {
        // Outside a transaction block each statement is its own transaction, which starts with it.
        const [row] = await db.query<{ outside: boolean }>('SELECT transaction_timestamp() = statement_timestamp() AS outside');
        inTransaction = !row?.outside;
      } catch {
        inTransaction = true; // an aborted transaction refuses every statement
      }
    }
    if (inTransaction) {
      logger.warn('the lent session was still in a transaction after the call; rolled it back');
      await db.exec('ROLLBACK');
    }
    await db.exec(restoreSessionSql(start));
    return true;
  } catch (error) {
    if (!db.lost) logger.warn({ err: error }, 'could not put the lent session back as it was');
    return false;
  }
}

/**
 * Waits for a session from the application's pool, or until `signal` is aborted (a pool whose
 * connections are all busy makes reserve() wait). A session that arrives after the abort is given back.
 */
async function untilAborted(borrowing: Promise<Connection>, signal: AbortSignal | undefined): Promise<Connection> {
  if (!signal) return borrowing;
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(interruptedBefore(signal, "while waiting for a free connection of the application's postgres.js pool"));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([borrowing, aborted]);
  } catch (error) {
    void borrowing.then((db) => db.close(), () => {});
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Sessions reserved from the application's postgres.js pool, one per call. */
function poolLender(sql: ApplicationSql, logger: Logger): Lender {
  checkPoolOptions(sql);
  const starts = new WeakMap<Connection, SessionStart>();
  return {
    async acquire(_readOnly, signal) {
      const { borrowConnection } = await import('../db/postgres/borrowed.js');
      logger.debug("reserving a session from the application's postgres.js pool");
      const db = await untilAborted(borrowConnection(sql), signal);
      try {
        starts.set(db, await capture(db));
      } catch (error) {
        await db.close();
        throw error;
      }
      return db;
    },
    async giveBack(db) {
      const start = starts.get(db);
      if (start && !(await restore(db, start, logger)) && !db.lost) {
        // A session that cannot be put back must not serve the application as if it were: end it, and the pool opens a fresh one.
        await db.query('SELECT pg_terminate_backend(pg_backend_pid())').catch(() => {});
      }
      await db.close();
    },
    async close() {},
  };
}

/** The application's PGlite instance: its one session, for each call. */
function instanceLender(instance: PGlite, displayUrl: string, onNotice: (notice: Notice) => void, logger: Logger): Lender {
  let connection: Connection | null = null;
  let start: SessionStart | null = null;
  return {
    async acquire() {
      if (instance.closed) throw new ConnectionError(displayUrl, `The PGlite instance given to pgpair (${displayUrl}) was closed; give the migrator an open one.`);
      if (instance.isInTransaction()) {
        throw new ConfigError(`The PGlite instance given to pgpair (${displayUrl}) is inside a transaction, and pgpair runs its own: finish that transaction before the call.`);
      }
      if (!connection || connection.lost) {
        const { pgliteConnection } = await import('../db/pglite/index.js');
        connection = await pgliteConnection(instance, { displayUrl, onNotice });
      }
      start = await capture(connection);
      return connection;
    },
    async giveBack(db) {
      // PGlite knows whether its session is in a transaction; the timestamp probe misfires there
      // after a failed BEGIN … ROLLBACK (the two timestamps differ by a millisecond outside one).
      if (start) await restore(db, start, logger, () => instance.isInTransaction());
      start = null;
    },
    async close() {
      await connection?.close();
      connection = null;
    },
  };
}

/** The lender for an application's connection; a ConfigError for anything else. */
export function applicationLender(value: unknown, options: { displayUrl?: string | undefined; onNotice: (notice: Notice) => void; logger: Logger }): Lender {
  if (isPostgresJs(value)) return poolLender(value, options.logger);
  if (isPglite(value)) return instanceLender(value, options.displayUrl ?? 'pglite:instance', options.onNotice, options.logger);
  throw new ConfigError('The connection given to pgpair is neither a postgres.js Sql (what postgres(url) returns) nor a PGlite instance. Pass one of those, or a url.');
}
