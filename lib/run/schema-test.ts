/**
 * `pgpair test`: every migration up, down and up again on one scratch database, one step at a
 * time, its schema fingerprinted after each move, so that a down that leaves something behind,
 * drops too much, fails, or an up that cannot run twice is found at the migration that does it
 * (not hidden by a later down's DROP TABLE).
 *
 * For migration i (F0: the fingerprint before it, the last one of the step before):
 *   up i → F1; down i → F2 (must equal F0); up i → F3 (must equal F1).
 * Three fingerprints per step, each one round trip (lib/run/fingerprint.ts).
 */
import type { Logger } from 'pino';
import { compareFingerprints, type Fingerprint, type SchemaDifference } from '../core/fingerprint.js';
import { MigrationFailedError, MigrationStepError, UsageError } from '../core/errors.js';
import type { DirectoryEntry, Migration, MigrationSet } from '../core/files.js';
import { compareVersions, isVersion } from '../core/version.js';
import { takeFingerprint } from './fingerprint.js';
import { migrator as makeMigrator, type Migrator } from './provider.js';
import { withScratchDatabase, type ScratchDatabase } from './scratch.js';
import { silent, tableOf } from './session.js';

/** PostgreSQL cannot remove a value from an enum type: a down cannot undo ALTER TYPE … ADD VALUE. */
export const ENUM_VALUE_EXPLANATION = 'PostgreSQL cannot drop a value from an enum type, so a down cannot undo ALTER TYPE … ADD VALUE; if that is acceptable, put "-- pgpair:test-allow enum-value" at the top of the down file (and write the up as ADD VALUE IF NOT EXISTS so that it runs again)';

export interface SchemaTestOptions {
  /** A PostgreSQL server URL: the scratch database is made there and dropped afterwards. Absent: an embedded PGlite in memory. */
  url?: string | undefined;
  /** Migration directory; default `sql`. */
  dir?: string | undefined;
  /** Instead of `dir`: the migrations, already read, or the directory's entries. */
  files?: MigrationSet | readonly DirectoryEntry[] | undefined;
  /** History table on the scratch database, `[schema.]name`; default pgpair_history. */
  table?: string | undefined;
  /** 'base' or a version: migrations up to it are applied once as setup, only those above it are tested. */
  from?: string | undefined;
  logger?: Logger | undefined;
  connectTimeout?: number | undefined;
  /** Aborting it stops the run; the scratch database is still removed. */
  signal?: AbortSignal | undefined;
  /** Called with each migration's result as soon as it is known (for one line per migration as the run goes). */
  onResult?: ((result: MigrationTestResult) => void) | undefined;
}

/** Where a migration's SQL failed. */
export interface TestFailure {
  direction: 'up' | 'down';
  file: string;
  line: number | null;
  column: number | null;
  sqlstate: string | null;
  /** The migrator's message: FILE:LINE:COL, the server's error, an excerpt of the file. */
  message: string;
}

export type TestProblemKind =
  /** The first up failed: nothing after it can be tested. */
  | 'up-failed'
  /** The down file failed. */
  | 'down-failed'
  /** After down, the schema differs from before up: left behind (missing-in-a) or lost (missing-in-b), or changed. */
  | 'down-differs'
  /** After down, an enum value stays: PostgreSQL cannot drop one (and the down file does not allow it). */
  | 'enum-value'
  /** Up after down failed: the migration cannot run again. */
  | 'not-rerunnable'
  /** Up after down gave another schema than the first up. */
  | 'rerun-differs';

export interface TestProblem {
  kind: TestProblemKind;
  message: string;
  /** For the *-differs and enum-value kinds: A is the expected schema (before up, or after the first up), B what there is. */
  differences: SchemaDifference[];
  failure: TestFailure | null;
}

export interface MigrationTestResult {
  version: string;
  name: string;
  /** ok; failed (see problems); irreversible (no down file: applied, not tested); untested (an earlier failure stopped the run). */
  outcome: 'ok' | 'failed' | 'irreversible' | 'untested';
  problems: TestProblem[];
  /** Differences after down that the down file's `-- pgpair:test-allow` accepts. */
  allowed: SchemaDifference[];
  durationMs: number;
  /** For an untested migration: the version whose failure stopped the run. */
  blockedBy: string | null;
}

export interface SchemaTestResult {
  ok: boolean;
  /** Where it ran: the scratch database (no password), server or embedded. */
  database: string;
  kind: 'server' | 'embedded';
  /** Versions applied once as setup (--from). */
  setup: string[];
  migrations: MigrationTestResult[];
  counts: { ok: number; failed: number; irreversible: number; untested: number };
  /** The version whose failure left the database where no later migration could be tested, else null. */
  stoppedAt: string | null;
}

/** What `-- pgpair:test-allow A, B` at the top of a down file accepts: category names. */
export function allowedCategories(migration: Migration): Set<string> {
  const value = migration.down?.analysis.directives['test-allow'];
  return new Set(value ? value.split(/[\s,]+/).filter(Boolean) : []);
}

function failureOf(error: MigrationStepError): TestFailure {
  const pg = error instanceof MigrationFailedError ? error.pg : null;
  // The migrator's last line says what to do next to a database being migrated; this one is thrown away.
  const message = error instanceof MigrationFailedError ? error.message.split('\n').slice(0, -1).join('\n') : error.message;
  return { direction: error.direction, file: error.file, line: error.line, column: error.column, sqlstate: pg?.sqlstate ?? null, message };
}

function failedStep(kind: TestProblemKind, what: string, error: MigrationStepError): TestProblem {
  const failure = failureOf(error);
  return { kind, message: `${what}: ${failure.message}`, differences: [], failure };
}

function listed(differences: SchemaDifference[]): string {
  return differences.map((d) => d.message).join('; ');
}

/** Runs one step on the migrator; a migration's SQL failing is a finding (returned), anything else (connection, signal) is thrown. */
async function attempt(run: () => Promise<unknown>): Promise<MigrationStepError | null> {
  try {
    await run();
    return null;
  } catch (error) {
    if (error instanceof MigrationStepError) return error;
    throw error;
  }
}

interface StepContext {
  migrator: Migrator;
  fingerprint: () => Promise<Fingerprint>;
  signal: AbortSignal | undefined;
}

/** Tests one migration from `before` (F0). Returns its result, the fingerprint the next one starts from, and whether the run can go on. */
async function testOne(ctx: StepContext, migration: Migration, before: Fingerprint): Promise<{ result: MigrationTestResult; after: Fingerprint | null }> {
  const started = performance.now();
  const { migrator, fingerprint, signal } = ctx;
  const problems: TestProblem[] = [];
  let allowed: SchemaDifference[] = [];
  const done = (outcome: MigrationTestResult['outcome'], after: Fingerprint | null) => ({
    result: { version: migration.version, name: migration.name, outcome, problems, allowed, durationMs: Math.round(performance.now() - started), blockedBy: null },
    after,
  });
  const target = { version: migration.version };
  const upFailed = await attempt(() => migrator.up({ target, signal, createSchema: true }));
  if (upFailed) {
    problems.push(failedStep('up-failed', 'up failed', upFailed));
    return done('failed', null);
  }
  const applied = await fingerprint();
  if (!migration.down) return done('irreversible', applied);
  const downFailed = await attempt(() => migrator.down({ steps: 1, signal, createSchema: true }));
  if (downFailed) {
    problems.push(failedStep('down-failed', 'down failed', downFailed));
    // A transactional down rolled back: the migration is still applied and the next one can be tested on top of it.
    return done('failed', downFailed.rolledBack ? applied : null);
  }
  const reverted = await fingerprint();
  const differences = compareFingerprints(before, reverted, { a: 'the schema before up', b: 'the schema after down' });
  const allow = allowedCategories(migration);
  allowed = differences.filter((d) => allow.has(d.category));
  const enumValues = differences.filter((d) => d.category === 'enum-value' && !allow.has(d.category));
  const others = differences.filter((d) => d.category !== 'enum-value' && !allow.has(d.category));
  if (others.length > 0) problems.push({ kind: 'down-differs', message: `down does not undo up: ${listed(others)}`, differences: others, failure: null });
  if (enumValues.length > 0) problems.push({ kind: 'enum-value', message: `down leaves enum values behind: ${listed(enumValues)}. ${ENUM_VALUE_EXPLANATION}`, differences: enumValues, failure: null });
  const reupFailed = await attempt(() => migrator.up({ target, signal, createSchema: true }));
  if (reupFailed) {
    problems.push(failedStep('not-rerunnable', 'up after down failed', reupFailed));
    return done('failed', null);
  }
  const reapplied = await fingerprint();
  const rerun = compareFingerprints(applied, reapplied, { a: "the first up's schema", b: 'the schema after up again' });
  if (rerun.length > 0) problems.push({ kind: 'rerun-differs', message: `up after down gives another schema: ${listed(rerun)}`, differences: rerun, failure: null });
  return done(problems.length > 0 ? 'failed' : 'ok', reapplied);
}

/** The migrator's own progress on the scratch database (history created, each step) is not news: warnings and up, unless debugging. */
function quieter(logger: Logger): Logger {
  return logger.levelVal >= 40 || logger.levelVal <= 20 ? logger : logger.child({}, { level: 'warn' });
}

function checkFrom(from: string | undefined): void {
  if (from !== undefined && from !== 'base' && !isVersion(from)) {
    throw new UsageError(`--from ${JSON.stringify(from)} is not a version: give a version (digits, e.g. 0012), or base to test every migration.`);
  }
}

/** The test on a scratch database made for it (see withScratchDatabase). */
async function testOn(scratch: ScratchDatabase, files: MigrationSet, options: SchemaTestOptions): Promise<SchemaTestResult> {
  const logger = options.logger ?? silent;
  const signal = options.signal;
  const historyTable = tableOf(options);
  const migrator = await makeMigrator({ ...scratch.target, files, ...(options.table !== undefined ? { table: options.table } : {}), logger: quieter(logger) });
  try {
    const from = options.from;
    const setup = from === undefined || from === 'base' ? [] : files.migrations.filter((m) => compareVersions(m.version, from) <= 0);
    const tested = files.migrations.slice(setup.length);
    if (setup.length > 0) {
      logger.info(`applying ${setup.length} migration${setup.length === 1 ? '' : 's'} up to ${setup.at(-1)!.version} as setup (--from ${from})`);
      await migrator.up({ target: { version: setup.at(-1)!.version }, signal, createSchema: true });
    } else {
      // Creates the history tables, so that the first fingerprint is taken with them as every later one is.
      await migrator.stamp({ target: 'base', signal, createSchema: true });
    }
    const ctx: StepContext = { migrator, fingerprint: () => takeFingerprint(scratch.db, { historyTable }), signal };
    const results: MigrationTestResult[] = [];
    let before: Fingerprint | null = await ctx.fingerprint();
    let stoppedAt: string | null = null;
    for (const migration of tested) {
      if (before === null) {
        const result: MigrationTestResult = { version: migration.version, name: migration.name, outcome: 'untested', problems: [], allowed: [], durationMs: 0, blockedBy: stoppedAt };
        results.push(result);
        options.onResult?.(result);
        continue;
      }
      const { result, after } = await testOne(ctx, migration, before);
      if (after === null) stoppedAt = migration.version;
      before = after;
      results.push(result);
      options.onResult?.(result);
    }
    const count = (outcome: MigrationTestResult['outcome']) => results.filter((r) => r.outcome === outcome).length;
    const counts = { ok: count('ok'), failed: count('failed'), irreversible: count('irreversible'), untested: count('untested') };
    return { ok: counts.failed === 0 && counts.untested === 0, database: scratch.displayUrl, kind: scratch.kind, setup: setup.map((m) => m.version), migrations: results, counts, stoppedAt };
  } finally {
    await migrator.close();
  }
}

/**
 * Tests every migration (above `from`) on a new scratch database, removed afterwards. Returns
 * the findings as data (`ok` false when any migration failed the test); throws what the run
 * itself cannot get past: a directory with problems (DirectoryError), a bad `from`
 * (UsageError), the server (ConnectionError, DatabaseError) or the signal (InterruptedError).
 */
export async function testMigrations(options: SchemaTestOptions): Promise<SchemaTestResult> {
  checkFrom(options.from);
  tableOf(options);
  // The files are read and checked before any database is made.
  const probe = await makeMigrator({ ...(options.dir !== undefined ? { dir: options.dir } : {}), ...(options.files !== undefined ? { files: options.files } : {}) });
  const files = probe.files;
  await probe.close();
  return withScratchDatabase({ serverUrl: options.url, logger: options.logger, connectTimeout: options.connectTimeout, signal: options.signal }, (scratch) => testOn(scratch, files, options));
}
