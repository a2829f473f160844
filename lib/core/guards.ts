/**
 * The session settings that guard migration SQL: `--statement-timeout` and
 * `--migration-lock-timeout` (PostgreSQL's lock_timeout, so DDL waiting on a
 * busy table fails fast). A run (executor.ts) and a `--sql` script
 * (render.ts) set exactly these, with the same statement.
 */
export interface GuardOptions {
  /** statement_timeout for migration SQL, ms. */
  statementTimeoutMs?: number;
  /** lock_timeout for migration SQL, ms. */
  migrationLockTimeoutMs?: number;
}

/** Sets one guard: $1 name, $2 value, $3 true for the current transaction only. */
export const SET_GUARD_SQL = 'SELECT set_config($1, $2, $3)';

/** The guards asked for, as [setting, value] pairs. */
export function guardSettings(options: GuardOptions): [string, string][] {
  const settings: [string, string][] = [];
  if (options.statementTimeoutMs !== undefined) settings.push(['statement_timeout', `${options.statementTimeoutMs}ms`]);
  if (options.migrationLockTimeoutMs !== undefined) settings.push(['lock_timeout', `${options.migrationLockTimeoutMs}ms`]);
  return settings;
}
