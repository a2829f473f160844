/**
 * Pure: the two pieces of SQL that keep a migration from changing what pgpair relies on, shared
 * by a run (executor.ts) and a `--sql` script (render.ts) so that both do the same thing.
 *
 * 1. Session state. Every migration starts from the session state the run started with, as if
 *    psql ran each file in a fresh session (SPEC §4), and pgpair's bookkeeping never runs under
 *    what a migration left behind (`SET ROLE`, `SET search_path`, `SET SESSION AUTHORIZATION`,
 *    `set_config(..., false)` in a pg_dump file). After each migration's SQL, before its history
 *    row is written, `restoreSessionSql` puts the session back.
 * 2. The migration's transaction and the migration lock. A statement that slips past the
 *    splitter could hold a COMMIT or ROLLBACK and end pgpair's transaction; a migration could run
 *    `pg_advisory_unlock_all()`. In a script, the transaction's id is read into a psql variable
 *    at BEGIN and set as a transaction-local marker right before `beforeCommitGuardSql`, which
 *    fails unless the marker is the id of the transaction it runs in (so the transaction is still
 *    the one pgpair began) and the session still holds the migration lock.
 *    It runs after the migration's statements and before its history row, so neither problem
 *    goes unrecorded. A run checks the same after every statement with `statementCheckSql`,
 *    comparing transaction ids instead of a marker (which a migration's RESET ALL would clear).
 *
 * Order after a migration's statements: guard first, then restore (RESET ALL also clears the
 * transaction-local marker), then the history and log rows, then COMMIT.
 */
import { quoteIdent, quoteLiteral } from './ident.js';
import { dollarQuote } from './literal.js';

/** Reads what `restoreSessionSql` needs, once, when a run starts (before pgpair sets anything). */
export const CAPTURE_SESSION_SQL = `SELECT session_user::text AS session_user, current_user::text AS current_user,
  (SELECT usename::text FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS login_user,
  COALESCE((SELECT json_agg(json_build_array(name, setting) ORDER BY name)::text FROM pg_settings
             WHERE source = 'session' AND name NOT IN ('role', 'session_authorization', 'transaction_isolation',
                   'transaction_read_only', 'transaction_deferrable')), '[]') AS settings`;

/** The session state a run started with. */
export interface SessionStart {
  /** session_user at the start. */
  sessionUser: string;
  /** current_user at the start (differs from sessionUser after SET ROLE). */
  currentUser: string;
  /** The user who logged in (pg_stat_activity.usename), when known. */
  loginUser: string | null;
  /** Settings the session had SET before the run started, as [name, value]. */
  settings: [string, string][];
}

/** Turns the row of CAPTURE_SESSION_SQL into a SessionStart. */
export function sessionStartFromRow(row: { session_user: unknown; current_user: unknown; login_user: unknown; settings: unknown }): SessionStart {
  const parsed: unknown = typeof row.settings === 'string' ? JSON.parse(row.settings) : row.settings;
  const settings = Array.isArray(parsed) ? parsed.filter((p): p is [string, string] => Array.isArray(p) && p.length === 2).map(([n, v]) => [String(n), String(v)] as [string, string]) : [];
  return {
    sessionUser: String(row.session_user),
    currentUser: String(row.current_user),
    loginUser: row.login_user == null ? null : String(row.login_user),
    settings,
  };
}

/**
 * SQL (several statements, one message) that restores the session state a run started with,
 * followed by pgpair's own session settings (`own`, e.g. synchronous_commit). With `start`
 * null (a `--sql --from` script, made without a connection), the session goes back to its
 * defaults: the logged-in user, no role, every setting as the connection began.
 */
export function restoreSessionSql(start: SessionStart | null, own: [string, string][] = []): string {
  const parts: string[] = [];
  if (start && start.loginUser !== null && start.loginUser !== start.sessionUser) {
    parts.push(`SET SESSION AUTHORIZATION ${quoteIdent(start.sessionUser)}`);
  } else {
    parts.push('SET SESSION AUTHORIZATION DEFAULT');
  }
  parts.push('RESET ALL');
  const settings = [...(start?.settings ?? []), ...own];
  if (settings.length > 0) {
    parts.push(`SELECT ${settings.map(([name, value]) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`).join(', ')}`);
  }
  parts.push(start && start.currentUser !== start.sessionUser ? `SET ROLE ${quoteIdent(start.currentUser)}` : 'RESET ROLE');
  return `${parts.join('; ')};`;
}

/**
 * The migration lock's key as SQL (bigint): derived on the server from the database and the
 * history table's display name (schema.table), so that runs against one history serialise. A run
 * (lib/run/lock.ts) and a `--sql` script compute it with this same expression.
 */
export const LOCK_KEY_SQL = `hashtextextended('pgpair:' || current_database() || ':' || $1, 0)`;

/** LOCK_KEY_SQL for one history table, its name written in as a literal. */
export function lockKeySql(display: string): string {
  // A function, not a replacement string: `$'` or `$&` in a table name must stay text.
  return LOCK_KEY_SQL.replace('$1', () => quoteLiteral(display));
}

/** The transaction-local setting that marks pgpair's migration transaction. */
export const TRANSACTION_MARKER = 'pgpair.transaction';

/**
 * Scripts only: reads the id of the migration's transaction right after its BEGIN (the renderer
 * adds psql's `\gset`, so the id lands in the psql variable TRANSACTION_ID_VARIABLE).
 */
export const TRANSACTION_ID_VARIABLE = 'pgpair_xid';
export const CAPTURE_TRANSACTION_ID_SQL = `SELECT txid_current() AS ${TRANSACTION_ID_VARIABLE}`;

/**
 * Scripts only: right before the guard, sets the marker to `valueSql` (the psql variable holding the
 * id read at BEGIN, `:'pgpair_xid'`). Set there, not at BEGIN, a migration's RESET ALL cannot clear it;
 * and outside pgpair's transaction (it was ended) a transaction-local setting is gone again before
 * the guard runs.
 */
export function markTransactionSql(valueSql: string): string {
  return `SELECT set_config(${quoteLiteral(TRANSACTION_MARKER)}, ${valueSql}, true);`;
}

/** SQL boolean: whether this session holds the advisory lock whose key is `lockKeySql` (a bigint expression). */
export function lockHeldSql(lockKeySql: string): string {
  return `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 1
    AND classid = (((${lockKeySql}) >> 32) & 4294967295)::oid AND objid = ((${lockKeySql}) & 4294967295)::oid)`;
}

/**
 * Executor only: after a statement of a migration, one row: `xid`, the id of the transaction the
 * session is in (null outside one; the run compares it with the id its migration transaction got
 * at BEGIN, so no setting a migration can RESET is involved), and `locked`, whether the session
 * still holds the migration lock. It never raises, so that outside a transaction, too, the run
 * learns which statement did what.
 */
export function statementCheckSql(lockKeySql: string): string {
  return `SELECT txid_current_if_assigned()::text AS xid, ${lockHeldSql(lockKeySql)} AS locked;`;
}

/** SQLSTATEs raised by the guard (class PP: pgpair's own). */
export const GUARD_TRANSACTION_ENDED = 'PP001';
export const GUARD_LOCK_LOST = 'PP002';

/**
 * A statement that raises GUARD_TRANSACTION_ENDED unless the marker holds the id of the
 * transaction it runs in (markTransactionSql just before it), and GUARD_LOCK_LOST
 * unless this session holds the advisory lock whose key is `lockKeySql` (a SQL expression of
 * type bigint). Raising inside pgpair's transaction aborts it, so the history row that follows
 * is never written; raising outside one (the transaction was ended) commits nothing either.
 */
export function beforeCommitGuardSql(lockKeySql: string): string {
  const body = `BEGIN
  IF COALESCE(current_setting(${quoteLiteral(TRANSACTION_MARKER)}, true), '') IS DISTINCT FROM COALESCE(txid_current_if_assigned()::text, 'none') THEN
    RAISE EXCEPTION USING ERRCODE = ${quoteLiteral(GUARD_TRANSACTION_ENDED)}, MESSAGE = 'pgpair: a statement of the migration ended pgpair''s transaction (COMMIT or ROLLBACK)';
  END IF;
${unlessLockHeld(lockKeySql)}END`;
  return `DO ${dollarQuote(body)};`;
}

/**
 * A statement that raises GUARD_LOCK_LOST unless this session holds the advisory lock whose key is
 * `lockKeySql`: the lock half of the guard, for what runs outside pgpair's transaction.
 */
export function lockGuardSql(lockKeySql: string): string {
  return `DO ${dollarQuote(`BEGIN
${unlessLockHeld(lockKeySql)}END`)};`;
}

/** The PL/pgSQL lines of every guard that raise GUARD_LOCK_LOST unless this session holds the lock. */
function unlessLockHeld(lockKeySql: string, indent = '  '): string {
  return `${indent}IF NOT ${lockHeldSql(lockKeySql)} THEN
${indent}  RAISE EXCEPTION USING ERRCODE = ${quoteLiteral(GUARD_LOCK_LOST)}, MESSAGE = 'pgpair: the migration released pgpair''s migration lock';
${indent}END IF;
`;
}

/**
 * Before pgpair's own statement in the middle of a migration that runs outside its transaction
 * (progress after each statement): in the implicit transaction of one message, the role and the
 * session authorization go back to the login user's for that message only, whatever the migration
 * SET, and come back as the migration left them when it ends.
 */
export const AS_LOGIN_USER_SQL = 'SET LOCAL SESSION AUTHORIZATION DEFAULT; SET LOCAL ROLE NONE;';

/**
 * 3. The run's own server connection. Behind a pooler in transaction mode, each transaction of a
 *    run may land on another server connection (backend), and another run's statements on the
 *    one this run started on; a session advisory lock then guards nothing. A run sets a random
 *    marker (RUN_MARKER) as a session setting on its backend when it starts and remembers the
 *    backend's pid (lib/run/pooler.ts); its checks pass only on that backend while the marker is
 *    still its own. A backend holds one marker, and only one backend holds the migration lock, so
 *    two runs can never both pass. A `--sql` script (one psql session) needs none of this.
 */
export const RUN_MARKER = 'pgpair.run';

/** What a run claimed at its start: its marker and the pid of the backend it set it on. */
export interface SessionClaim {
  marker: string;
  pid: number;
}

/**
 * SQL boolean: this statement runs on the run's own backend, and no other run has marked it since.
 * An empty marker passes: a migration's RESET ALL clears it until the restore after the migration
 * sets it again, and only another run's marker (never empty) means another run was here.
 */
export function ownSessionSql(claim: SessionClaim): string {
  return `(pg_backend_pid() = ${Math.trunc(claim.pid)} AND COALESCE(current_setting(${quoteLiteral(RUN_MARKER)}, true), '') IN ('', ${quoteLiteral(claim.marker)}))`;
}

/**
 * The lock key as the run's checks use it (a bigint SQL expression): the key on the run's own
 * backend, null anywhere else, so that lockHeldSql, statementCheckSql and lockGuardSql are false
 * on a backend that is not the run's, or that another run has marked since.
 */
export function ownedLockKeySql(keySql: string, claim: SessionClaim): string {
  return `(CASE WHEN ${ownSessionSql(claim)} THEN ${keySql} END)`;
}

/** SQLSTATE raised when pgpair's statement is not on the run's own backend (class PP: pgpair's own; PP003 is taken by lib/db/postgres/copy.ts). */
export const GUARD_SESSION_MOVED = 'PPM01';

/**
 * A statement that raises GUARD_SESSION_MOVED unless it runs on the run's own backend: put in
 * front of the restore after a migration, so that restoring (which sets the marker again after
 * RESET ALL) never marks a backend that is not the run's.
 */
export function ownSessionGuardSql(claim: SessionClaim): string {
  return `DO ${dollarQuote(`BEGIN
${unlessOwnSession(claim)}END`)};`;
}

/** The PL/pgSQL lines that raise GUARD_SESSION_MOVED unless this runs on the run's own backend. */
function unlessOwnSession(claim: SessionClaim): string {
  return `  IF NOT ${ownSessionSql(claim)} THEN
    RAISE EXCEPTION USING ERRCODE = ${quoteLiteral(GUARD_SESSION_MOVED)}, MESSAGE = 'pgpair: this statement ran on another server connection than the run started on (a pooler in transaction mode)';
  END IF;
`;
}

/**
 * 4. Migrations in one pipeline (lib/run/execute/pipeline.ts). A run sends migration i+1 while
 *    migration i is still running or committing. Migration i sets PIPELINE_MARKER to its token as
 *    a session setting in its transaction, right before its history row. A session setting set in a
 *    transaction lasts only if the transaction commits. Migration i+1's transaction begins with
 *    previousCommittedGuardSql, which aborts it unless the marker is i's token. So when i fails,
 *    nothing sent after it can commit.
 */
export const PIPELINE_MARKER = 'pgpair.committed';

/** SQLSTATE raised when the migration before this one in the pipeline did not commit. */
export const GUARD_PREVIOUS_FAILED = 'PP004';

/** Sets PIPELINE_MARKER to `token` for the session, once the transaction it runs in commits. */
export function markCommittedSql(token: string): string {
  return `SELECT set_config(${quoteLiteral(PIPELINE_MARKER)}, ${quoteLiteral(token)}, false);`;
}

/**
 * The first statement of a pipelined migration's transaction, right after BEGIN. It raises
 * GUARD_PREVIOUS_FAILED unless the migration sent before it committed (its token is in
 * PIPELINE_MARKER). With the run's claim it first raises GUARD_SESSION_MOVED when it runs on
 * another backend.
 */
export function previousCommittedGuardSql(token: string, claim?: SessionClaim): string {
  return `DO ${dollarQuote(`BEGIN
${claim ? unlessOwnSession(claim) : ''}  IF COALESCE(current_setting(${quoteLiteral(PIPELINE_MARKER)}, true), '') IS DISTINCT FROM ${quoteLiteral(token)} THEN
    RAISE EXCEPTION USING ERRCODE = ${quoteLiteral(GUARD_PREVIOUS_FAILED)}, MESSAGE = 'pgpair: the migration before this one did not commit, so this one does not run';
  END IF;
END`)};`;
}

/**
 * A pipelined migration's guard before its history row: the history row and COMMIT are already on
 * their way, so the check must abort the transaction on the server, not just tell the client.
 * It raises GUARD_TRANSACTION_ENDED when the session is not in pgpair's transaction (it read
 * txid_current() at BEGIN, so pgpair's transaction always has an id, and a transaction begun
 * since has none yet). It raises GUARD_LOCK_LOST when the session no longer holds the lock.
 */
export function pipelinedCommitGuardSql(lockKeySql: string): string {
  return `DO ${dollarQuote(`BEGIN
  IF txid_current_if_assigned() IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = ${quoteLiteral(GUARD_TRANSACTION_ENDED)}, MESSAGE = 'pgpair: a statement of the migration ended pgpair''s transaction (COMMIT or ROLLBACK)';
  END IF;
${unlessLockHeld(lockKeySql)}END`)};`;
}

/**
 * The lock half of the guard, for a pipelined migration of plain DDL (lib/core/classify.ts
 * inertStatements), which runs no code of the user's unless an event trigger fires: the lock is
 * read (pg_locks, the costly part) only while an event trigger is enabled, and GUARD_LOCK_LOST is
 * raised unless this session holds it.
 */
export function lockGuardUnderEventTriggersSql(lockKeySql: string): string {
  return `DO ${dollarQuote(`BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D') THEN
${unlessLockHeld(lockKeySql, '    ')}  END IF;
END`)};`;
}
