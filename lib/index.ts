/**
 * pgpair's library API: the same operations as the CLI, as typed functions
 * that return data and throw typed errors (see errors.ts). They never print
 * and never exit; pass a pino logger to see progress.
 */
export { up, down, stamp, script, scriptStream, status, verify, assertVerified, create, repair, DEFAULT_DIR, DEFAULT_TABLE, DEFAULT_LOCK_TIMEOUT_MS } from './migrator.js';
export type { BaseOptions, RunOptions, UpOptions, DownOptions, StampOptions, ScriptOptions, ScriptResult, ScriptStream, RunResult, VerifyResult, CreateResult, RepairOptions, RepairResult } from './migrator.js';
export type { StepResult } from './executor.js';
export { load } from './load.js';
export type { LoadOptions, LoadResult } from './load.js';
export { readMigrations } from './source.js';
export type { ReadOptions } from './source.js';
export { parseMigrationDirectory, parseFileName } from './files.js';
export type { Migration, MigrationFile, TextMigrationFile, LargeMigrationFile, LargeFileSource, MigrationSet, DirectoryEntry } from './files.js';
export { computeStatus, verifyProblems } from './status.js';
export type { StatusReport, MigrationStatus, MigrationState } from './status.js';
export { planUp, planDown, planStamp, parseTarget } from './plan.js';
export type { Plan, Step, Target } from './plan.js';
export type { HistoryRow } from './history.js';
export { renderScript, renderScriptParts } from './render.js';
export type { RenderInput, ScriptPart } from './render.js';
export { checksum, normaliseSql } from './checksum.js';
export { compareVersions, versionKey } from './version.js';
export { resolveDatabaseUrl, DEFAULT_DEV_URL } from './config.js';
export { maskUrl } from './db/url.js';
export * from './errors.js';
export { PGPAIR_VERSION } from './meta.js';
export { currentVersion, readLog } from './history-log.js';
export type { CurrentResult, LogRow, LogResult } from './history-log.js';
export { waitForDatabase } from './wait.js';
export type { WaitOptions, WaitResult } from './wait.js';
export { createMigration } from './create.js';
export type { CreateMigrationOptions, CreatedMigration, VersionStyle } from './create.js';
