/**
 * The session settings that guard migration SQL: `--statement-timeout` and
 * `--migration-lock-timeout` (PostgreSQL's lock_timeout, so DDL waiting on a
 * busy table fails fast: 5 s unless told otherwise, 0 turns it off). A run
 * (executor.ts) and a `--sql` script (render.ts) set exactly these, with the
 * same statement. pgpair's own statements (history, lock checks) run outside
 * them or before them.
 */
export interface GuardOptions {
  /** statement_timeout for migration SQL, ms. */
  statementTimeoutMs?: number;
  /** lock_timeout for migration SQL, ms; default DEFAULT_MIGRATION_LOCK_TIMEOUT_MS, 0 = no limit. */
  migrationLockTimeoutMs?: number;
}

/** lock_timeout of migration SQL when none is asked for: a DDL statement queues traffic behind it for at most this long. */
export const DEFAULT_MIGRATION_LOCK_TIMEOUT_MS = 5_000;

/** Sets one guard: $1 name, $2 value, $3 true for the current transaction only. */
export const SET_GUARD_SQL = 'SELECT set_config($1, $2, $3)';

/** The lock_timeout migration SQL runs with, ms (0: none). */
export function migrationLockTimeout(options: GuardOptions): number {
  return options.migrationLockTimeoutMs ?? DEFAULT_MIGRATION_LOCK_TIMEOUT_MS;
}

/** The guards to set, as [setting, value] pairs: lock_timeout always (its default when not asked for). */
export function guardSettings(options: GuardOptions): [string, string][] {
  const settings: [string, string][] = [];
  if (options.statementTimeoutMs !== undefined) settings.push(['statement_timeout', `${options.statementTimeoutMs}ms`]);
  settings.push(['lock_timeout', `${migrationLockTimeout(options)}ms`]);
  return settings;
}
