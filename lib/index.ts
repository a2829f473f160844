/**
 * pgpair's library API: the same operations as the CLI, as typed functions
 * that return data and throw typed errors (see errors.ts). They never print
 * and never exit; pass a pino logger to see progress.
 */
export { up, down, stamp, script, scriptStream, status, verify, assertVerified, create, repair, DEFAULT_DIR, DEFAULT_TABLE, DEFAULT_LOCK_TIMEOUT_MS } from './run/migrator.js';
export type { BaseOptions, RunOptions, UpOptions, DownOptions, StampOptions, ScriptOptions, ScriptResult, ScriptStream, RunResult, VerifyResult, CreateResult, RepairOptions, RepairResult } from './run/migrator.js';
export type { StepResult } from './run/executor.js';
export { load } from './run/load.js';
export type { LoadOptions, LoadResult } from './run/load.js';
export { readMigrations } from './read/source.js';
export type { ReadOptions } from './read/source.js';
export { parseMigrationDirectory, parseFileName } from './core/files.js';
export type { Migration, MigrationFile, TextMigrationFile, LargeMigrationFile, LargeFileSource, MigrationSet, DirectoryEntry } from './core/files.js';
export { computeStatus, verifyProblems } from './core/status.js';
export type { StatusReport, MigrationStatus, MigrationState } from './core/status.js';
export { planUp, planDown, planStamp, parseTarget } from './core/plan.js';
export type { Plan, Step, Target } from './core/plan.js';
export type { HistoryRow } from './core/history.js';
export { renderScript, renderScriptParts } from './core/render.js';
export type { RenderInput, ScriptPart } from './core/render.js';
export { checksum, normaliseSql } from './core/checksum.js';
export { compareVersions, versionKey } from './core/version.js';
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
