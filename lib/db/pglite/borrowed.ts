/**
 * pgliteConnection: pgpair's Connection over a PGlite instance the application
 * already holds (an app that embeds its database, a test suite's instance).
 * pgpair opens nothing and closes nothing of it: close() gives the session back
 * as it found it — no open transaction, no advisory lock pgpair took, its
 * user, role and settings — and the instance stays open for the application.
 *
 * While pgpair works, the application must not use the instance: PGlite has one
 * session, so its queries would run inside pgpair's transactions (and a PGlite
 * transaction() of its own in progress would make pgpair's queries wait forever).
 */
import type { PGlite } from '@electric-sql/pglite';
import { ConfigError, ConnectionError, PgpairError } from '../../core/errors.js';
import { CAPTURE_SESSION_SQL, restoreSessionSql, sessionStartFromRow, type SessionStart } from '../../core/session-state.js';
import type { Connection, Notice } from '../types.js';
import { PARSERS, PgliteConnection } from './connection.js';

export interface PgliteConnectionOptions {
  /** How messages name the database; default "pglite (the application's instance)". */
  displayUrl?: string;
  /** Receives NOTICE/WARNING/INFO messages. Without it they are dropped, never printed. */
  onNotice?: (notice: Notice) => void;
}

/** What close() puts back: the session's advisory locks, and its users and settings (as a run restores them after each migration). */
interface Found {
  locks: Set<string>;
  session: SessionStart;
}

interface LockRow { classid: string; objid: string; objsubid: number; mode: string }

const LOCKS_SQL = `SELECT classid::bigint AS classid, objid::bigint AS objid, objsubid::int AS objsubid, mode FROM pg_locks
  WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted`;

const lockId = (lock: LockRow): string => `${lock.classid}/${lock.objid}/${lock.objsubid}/${lock.mode}`;

async function capture(db: PGlite): Promise<Found> {
  const locks = (await db.query<LockRow>(LOCKS_SQL, [], { parsers: PARSERS })).rows;
  const [session] = (await db.query<Parameters<typeof sessionStartFromRow>[0]>(CAPTURE_SESSION_SQL)).rows;
  return { locks: new Set(locks.map(lockId)), session: sessionStartFromRow(session!) };
}

/**
 * Releases an advisory lock as often as it is held: one key (objsubid 1) is split by pg_locks into
 * its high and low 32 bits; two int4 keys (objsubid 2) are shown as unsigned oids.
 */
async function unlock(db: PGlite, lock: LockRow): Promise<void> {
  const shared = lock.mode === 'ShareLock' ? '_shared' : '';
  const int4 = (n: number) => `($${n}::bigint - CASE WHEN $${n}::bigint >= 2147483648 THEN 4294967296 ELSE 0 END)::int`;
  const call = lock.objsubid === 1 ? `pg_advisory_unlock${shared}(($1::bigint << 32) | $2::bigint)` : `pg_advisory_unlock${shared}(${int4(1)}, ${int4(2)})`;
  // Each call releases one hold; a lock taken n times is held until the n-th.
  for (let held = true; held; ) {
    const [row] = (await db.query<{ held: boolean }>(`SELECT ${call} AS held`, [lock.classid, lock.objid])).rows;
    held = row?.held === true;
  }
}

/** Puts the session back as `found`; never throws (each part is tried on its own). */
async function giveBack(db: PGlite, found: Found): Promise<void> {
  if (db.closed) return;
  const attempt = async (part: () => Promise<unknown>) => part().catch(() => {});
  await attempt(async () => db.isInTransaction() && db.exec('ROLLBACK'));
  // SET SESSION AUTHORIZATION and SET ROLE back, then every setting as it was (RESET ALL, then the session's own).
  await attempt(() => db.exec(restoreSessionSql(found.session)));
  await attempt(async () => {
    for (const lock of (await db.query<LockRow>(LOCKS_SQL, [], { parsers: PARSERS })).rows) {
      if (!found.locks.has(lockId(lock))) await unlock(db, lock);
    }
  });
}

/**
 * The driver's Connection over `db`, an open PGlite instance the application holds. Its close()
 * leaves `db` open and its session as it was found. Rejects with a ConfigError when `db` is closed
 * or inside a transaction (pgpair runs its own).
 */
export async function pgliteConnection(db: PGlite, options: PgliteConnectionOptions = {}): Promise<Connection> {
  const display = options.displayUrl ?? "pglite (the application's instance)";
  if (db.closed) throw new ConfigError(`The PGlite instance given to pgpair (${display}) is closed: give it an open one.`);
  if (db.isInTransaction()) {
    throw new ConfigError(`The PGlite instance given to pgpair (${display}) is inside a transaction: pgpair runs its own transactions, so hand it over after COMMIT or ROLLBACK.`);
  }
  let found: Found;
  try {
    found = await capture(db);
  } catch (error) {
    throw new ConnectionError(display, `Cannot use the PGlite instance given to pgpair (${display}): ${error instanceof Error ? error.message : String(error)}.`);
  }
  const connection = new PgliteConnection(db, display, options.onNotice, () => giveBack(db, found));
  try {
    await connection.init();
  } catch (error) {
    await connection.close();
    throw error instanceof PgpairError ? error : new ConnectionError(display, `Cannot use the PGlite instance given to pgpair (${display}): ${(error as Error).message}.`);
  }
  return connection;
}
