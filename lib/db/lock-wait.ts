/** Reading, from a second session, what a session's statement waits for (Connection.lockWait). */
import type { LockWait } from './types.js';

/** $1: the waiting backend's pid. One row, or none when that backend is gone. */
export const LOCK_WAIT_SQL = `SELECT w.locktype, w.mode, CASE WHEN w.relation IS NOT NULL THEN w.relation::regclass::text END AS relation,
  (SELECT json_agg(json_build_object('pid', b.pid, 'application_name', b.application_name, 'user', b.usename, 'state', b.state,
                                     'since', to_char(b.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) ORDER BY b.pid)::text
     FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids($1::int))) AS blockers
  FROM (SELECT $1::int AS pid) AS me
  LEFT JOIN LATERAL (SELECT locktype, mode, relation FROM pg_locks WHERE pid = me.pid AND NOT granted LIMIT 1) AS w ON true`;

export function lockWaitFromRow(row: Record<string, unknown> | undefined): LockWait | null {
  if (!row || row.locktype == null) return null;
  const raw: unknown = typeof row.blockers === 'string' ? JSON.parse(row.blockers) : [];
  const blockers = (Array.isArray(raw) ? raw : []).map((b: Record<string, unknown>) => ({
    pid: Number(b.pid),
    applicationName: b.application_name ? String(b.application_name) : null,
    user: b.user ? String(b.user) : null,
    state: b.state ? String(b.state) : null,
    since: b.since ? String(b.since) : null,
  }));
  return { relation: row.relation == null ? null : String(row.relation), mode: row.mode == null ? null : String(row.mode), locktype: String(row.locktype), blockers };
}

/** "an AccessExclusiveLock on public.orders, held by pid 4242 (psql, user alice, idle in transaction since …)" */
export function describeLockWait(wait: LockWait): string {
  // A virtualxid or transactionid wait is a wait for another transaction to end (CREATE INDEX CONCURRENTLY waits so for older transactions).
  const ofTransaction = wait.locktype === 'virtualxid' || wait.locktype === 'transactionid';
  const what = ofTransaction ? `the end of another transaction (${wait.mode ?? 'a lock'} on its ${wait.locktype})` : `${wait.mode ?? 'a lock'} on ${wait.relation ?? `a ${wait.locktype ?? 'lock'}`}`;
  if (wait.blockers.length === 0) return what;
  const who = wait.blockers
    .map((b) => `pid ${b.pid} (${[b.applicationName || 'no application_name', b.user ? `user ${b.user}` : null, b.state, b.since ? `in a transaction since ${b.since}` : null].filter(Boolean).join(', ')})`)
    .join(', ');
  return `${what}, held by ${who}`;
}
