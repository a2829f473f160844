/**
 * Connection poolers in transaction (or statement) mode, such as PgBouncer with
 * `pool_mode = transaction`: each transaction of a run may go to another server connection, so a
 * session advisory lock and session settings hold nothing. pgpair refuses to migrate there (exit 2),
 * naming transaction pooling and asking for the direct URL:
 *
 * - at the start (claimSession): the run marks its backend with a random session setting and
 *   remembers its pid, then asks a few times, in separate statements, which backend it is on; a
 *   different pid or a marker gone means a pooler, and nothing is done;
 * - during the run: every check before a commit passes only on that backend with that marker
 *   (ownedLockKeySql in lib/core/session-state.ts). A failure of the run is then looked at again
 *   (sessionMoved): when the session has moved, the run ends with the pooler error.
 *
 * Why this is sound: only one backend can hold the migration lock, and a backend holds one marker,
 * the last one set; a check passes only on the backend that holds the lock and carries the run's
 * marker. So two runs can never both pass, whichever backends their transactions land on; a run
 * whose backend another run has marked since fails its next check.
 */
import { randomBytes } from 'node:crypto';
import type { Connection, Queryable } from '../db/types.js';
import { MigrationIntegrityError, MigrationStepError, PoolerError, type AppliedStep } from '../core/errors.js';
import { lockHeldSql, ownSessionSql, RUN_MARKER, GUARD_SESSION_MOVED, type SessionClaim } from '../core/session-state.js';
import { pgErrorFields } from '../db/errors.js';
import { quoteLiteral } from '../core/ident.js';

export type { SessionClaim } from '../core/session-state.js';

/**
 * How many separate statements ask which backend the run is on, at the start (the lock's first
 * attempt, which checks the same, is one more) and after a failure.
 */
const PROBES = 2;

const ADVICE =
  'A session advisory lock and session settings do not hold there. Point pgpair at the database directly (the direct URL, not the pooled one) or at a pool in session mode; read-only commands (status, verify, current, history) and --sql scripts are not affected.';

interface Probe {
  pid: number;
  marker: string | null;
}

const PROBE_SQL = `SELECT pg_backend_pid() AS pid, current_setting(${quoteLiteral(RUN_MARKER)}, true) AS marker`;

async function probe(db: Queryable): Promise<Probe> {
  const [row] = await db.query<{ pid: number; marker: string | null }>(PROBE_SQL);
  return { pid: Number(row!.pid), marker: row!.marker ?? null };
}

function backendsText(pids: number[]): string {
  const distinct = [...new Set(pids)];
  return distinct.length > 1 ? `backend pids ${distinct.join(', ')}` : `backend pid ${distinct[0]}, whose session another client changed`;
}

/** The pooler error before any work: `pids` are the backends seen, the run's first. */
export function poolerAtStart(displayUrl: string, pids: number[]): PoolerError {
  return new PoolerError(
    'start',
    [...new Set(pids)],
    `${displayUrl} goes through a connection pooler in transaction or statement mode (such as PgBouncer with pool_mode = transaction): separate statements of one pgpair session ran on different server connections (${backendsText(pids)}). Nothing was done. ${ADVICE}`,
  );
}

/**
 * Marks the session's backend and checks, in PROBES separate statements, that the session stays
 * on it. Throws the pooler error (nothing done yet) when it does not. The mark is set in a
 * transaction of its own: PgBouncer in statement mode closes the connection at a BEGIN, and so
 * the run ends there, before it has taken a lock that would stay behind on a pooled connection.
 * Costs PROBES + 2 round trips (the claim's BEGIN travels with its statement).
 */
export async function claimSession(db: Connection): Promise<SessionClaim> {
  const marker = randomBytes(12).toString('hex');
  const [row] = await db.transaction((tx) => tx.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid, set_config(${quoteLiteral(RUN_MARKER)}, $1, false) AS marker`, [marker]));
  const claim = { marker, pid: Number(row!.pid) };
  const seen = [claim.pid];
  for (let i = 0; i < PROBES; i++) {
    const now = await probe(db);
    seen.push(now.pid);
    if (now.pid !== claim.pid || now.marker !== marker) throw poolerAtStart(db.displayUrl, seen);
  }
  return claim;
}

/** Whether the error says a check failed: the lock seemed gone, or the session moved (GUARD_SESSION_MOVED). */
function failedCheck(error: unknown): boolean {
  if (error instanceof MigrationIntegrityError && error.problem === 'lock-released') return true;
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const sqlstate = pgErrorFields(e)?.sqlstate ?? (e as { pg?: { sqlstate?: unknown } }).pg?.sqlstate;
    if (sqlstate === GUARD_SESSION_MOVED) return true;
  }
  return false;
}

/**
 * After a run failed while holding the lock: the backends seen when the session is found to have
 * moved (a probe off the run's backend or marker, or a failed lock check although the run's own
 * backend still holds the lock, so the check ran elsewhere), else null (a real failure).
 */
export async function sessionMoved(db: Queryable, claim: SessionClaim, lockKeySql: string, error: unknown): Promise<number[] | null> {
  const seen = [claim.pid];
  let heldOnOwn = false;
  for (let i = 0; i < PROBES; i++) {
    const [row] = await db.query<{ pid: number; own: boolean; held: boolean }>(`SELECT pg_backend_pid() AS pid, ${ownSessionSql(claim)} AS own, ${lockHeldSql(lockKeySql)} AS held`);
    seen.push(Number(row!.pid));
    if (!row!.own) return seen;
    heldOnOwn ||= Boolean(row!.held);
  }
  return heldOnOwn && failedCheck(error) ? seen : null;
}

/** The pooler error for a run that found it had moved while it held the lock; `error` is how the run failed. */
export function poolerDuring(displayUrl: string, pids: number[], error: unknown): PoolerError {
  const applied: AppliedStep[] = error instanceof MigrationStepError ? error.applied : [];
  let what = 'Nothing was applied by this run.';
  if (error instanceof MigrationStepError) {
    const step = `${error.version}_${error.failed.name} (${error.direction})`;
    const before = applied.length > 0 ? ` ${applied.map((s) => s.version).join(', ')} ${applied.length === 1 ? 'was' : 'were'} done before it, each checked on the run's own server connection.` : '';
    what = error.rolledBack
      ? `${step} was rolled back: nothing of it was kept.${before}`
      : `${step} runs outside a transaction, so what of it ran stays done and it is marked failed: check it, then run pgpair repair --applied ${error.version} or --reverted ${error.version} over the direct URL.${before}`;
  }
  const moved = new PoolerError(
    'during',
    [...new Set(pids)],
    `${displayUrl} goes through a connection pooler in transaction or statement mode (such as PgBouncer with pool_mode = transaction): during the run, pgpair's statements ran on another server connection than the one holding its migration lock (${backendsText(pids)}), so the run stopped. ${what} ${ADVICE}`,
    error,
  );
  moved.applied = [...applied];
  if (error instanceof MigrationStepError) moved.failed = error.failed;
  return moved;
}
