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
// Lint (lib/core/lint, lib/run/lint.ts): the pure engine over migration files, and the offline entry point; up({ lint }) lints before a run.
export { lintMigrations, RULES as LINT_RULES } from './core/lint/engine.js';
export type { Finding as LintFinding, LintFacts, LintMigration, LintReport, Severity as LintSeverity } from './core/lint/engine.js';
export { lintOffline, parseServerVersion } from './run/lint.js';
export type { LintSettings } from './run/lint.js';
// Test databases cloned from a template built once per migration set (lib/run/test-database.ts, template.ts, template-pglite.ts).
export { testDatabase } from './run/test-database.js';
export type { TestDatabase, TestDatabaseOptions, ServerTestDatabase, PgliteTestDatabase } from './run/test-database.js';
export { templateDatabase, dropTemplates } from './run/template.js';
export type { TemplateOptions, TemplateResult } from './run/template.js';
export type { CloneOptions } from './run/template-clone.js';

// Fleets: one migrator per target (databases, or schemas via postgres://…/db?schema=NAME), at most `parallel` at a time.
export { fleet, targetLabel, DEFAULT_PARALLEL } from './run/fleet.js';
export type { FleetOptions, FleetTarget, FleetResult, FleetStop, TargetResult, TargetOutcome } from './run/fleet.js';
export { parseTargetsFile, parseTargetsList, readTargetsFile, schemaTargets, globToLike } from './run/targets.js';
export { splitSchema, withSchema } from './db/url.js';
// Schema fingerprints (issue 14): take one of a database, compare two.
export { compareFingerprints } from './core/fingerprint.js';
export type { Fingerprint, FingerprintObject, FingerprintCategory, DifferenceCategory, DifferenceChange, SchemaDifference, SideLabels } from './core/fingerprint.js';
export { takeFingerprint } from './run/fingerprint.js';
export type { FingerprintOptions } from './run/fingerprint.js';
// pgpair test and verify --schema (issue 14): every down proven on a scratch database; the live schema against its migrations.
export { testMigrations, ENUM_VALUE_EXPLANATION } from './run/schema-test.js';
export type { SchemaTestOptions, SchemaTestResult, MigrationTestResult, TestProblem, TestProblemKind, TestFailure } from './run/schema-test.js';
export { verifySchema } from './run/schema-verify.js';
export type { SchemaVerifyOptions, SchemaVerifyResult } from './run/schema-verify.js';
export { withScratchDatabase } from './run/scratch.js';
export type { ScratchDatabase, ScratchOptions, ScratchExtension } from './run/scratch.js';
// Lock timeouts and retries (issue 15): the defaults of migrationLockTimeoutMs and lockRetries.
export { DEFAULT_MIGRATION_LOCK_TIMEOUT_MS } from './core/guards.js';
export { DEFAULT_LOCK_RETRIES } from './run/execute/retry.js';
