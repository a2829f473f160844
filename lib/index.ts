/**
 * pgpair's library API: the same operations as the CLI, as typed functions
 * that return data and throw typed errors (see core/errors.ts). They never print
 * and never exit; pass a pino logger to see progress.
 *
 * `migrator()` reads the migrations once and serves many calls on one database (a URL, or a
 * postgres.js Sql or PGlite instance the application holds); the one-shot functions (`up`,
 * `status`, …) each make one, run once and close it.
 */
export { migrator } from './run/provider.js';
export type { Migrator, MigratorOptions, CallOptions, ScriptRequest, ScriptResult, VerifyResult } from './run/provider.js';
export type { ApplicationConnection } from './run/lend.js';
export type { RunCallOptions, UpRequest, DownRequest, StampRequest, PlanRequest, ScriptSettings, ScriptStream } from './run/operations.js';
export { up, down, stamp, script, scriptStream, status, verify, assertVerified, create, repair, DEFAULT_DIR, DEFAULT_TABLE, DEFAULT_LOCK_TIMEOUT_MS } from './run/migrator.js';
export type { BaseOptions, RunOptions, UpOptions, DownOptions, StampOptions, ScriptOptions, RunResult, CreateResult, RepairOptions, RepairResult } from './run/migrator.js';
export type { StepResult } from './run/executor.js';
export { load } from './run/load.js';
export type { LoadOptions, LoadResult } from './run/load.js';
export { readMigrations } from './read/source.js';
export type { ReadOptions } from './read/source.js';
export type { Migration, MigrationFile, MigrationSet, DirectoryEntry } from './core/files.js';
export type { StatusReport, MigrationStatus, MigrationState } from './core/status.js';
export type { Plan, Step, Target } from './core/plan.js';
export type { HistoryRow } from './core/history.js';
export { resolveDatabaseUrl, DEFAULT_DEV_URL } from './run/config.js';
export { maskUrl } from './db/url.js';
export * from './core/errors.js';
export { PGPAIR_VERSION } from './core/meta.js';
export { currentVersion, readLog } from './run/history-log.js';
export type { CurrentResult, LogRow, LogResult } from './run/history-log.js';
export { waitForDatabase } from './run/wait.js';
export type { WaitOptions, WaitResult } from './run/wait.js';
export { createMigration } from './read/create.js';
export type { CreateMigrationOptions, CreatedMigration, VersionStyle } from './read/create.js';
// Lock timeouts and retries (issue 15): the defaults of migrationLockTimeoutMs and lockRetries.
export { DEFAULT_MIGRATION_LOCK_TIMEOUT_MS } from './core/guards.js';
export { DEFAULT_LOCK_RETRIES } from './run/execute/retry.js';
