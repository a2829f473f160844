/**
 * Orchestration: read files → connect → lock → read history → plan → execute.
 * These functions are the library API; they return data and throw
 * PgpairErrors, and never print or exit.
 */
import { ConfigError, TargetError, UsageError, VerificationError, type VerifyProblem } from '../core/errors.js';
import { currentStatus, DEFAULT_DIR, DEFAULT_LOCK_TIMEOUT_MS, ensureHistory, readOptions, silent, tableOf, withSession, type BaseOptions, type RunOptions, type RunResult, type Session } from './session.js';
import { executePlan } from './executor.js';
import type { MigrationSet } from '../core/files.js';
import { historyTables, insertLogSql, logValues, type HistoryRow, type HistoryTables } from '../core/history.js';
import { readHistory } from './read-history.js';
import { withLock } from './lock.js';
import { PGPAIR_VERSION } from '../core/meta.js';
import { planDown, planStamp, planUp, parseTarget, type Plan, type Target } from '../core/plan.js';
import { renderScriptParts, type ScriptPart } from '../core/render.js';
import { ensureDirectory, readCopyData, readMigrations, writeNewFile } from '../read/source.js';
import { computeStatus, downFileWarnings, verifyProblems, type StatusReport } from '../core/status.js';
import { shortChecksum } from '../core/checksum.js';
import type { Logger } from 'pino';
import { compareVersions, isVersion, versionKey } from '../core/version.js';

function toTarget(target: string | Target | undefined): Target | undefined {
  return typeof target === 'string' ? parseTarget(target) : target;
}

export { DEFAULT_DIR, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_TABLE } from './session.js';
export type { BaseOptions, RunOptions, RunResult } from './session.js';

/** The down steps of a plan that run a down file other than the one recorded when the version was applied. */
function changedDownFiles(plan: Plan) {
  return plan.steps.flatMap((step) => (step.action === 'down' && step.downFileChanged ? [{ version: step.migration.version, name: step.migration.name, ...step.downFileChanged }] : []));
}

function warnChangedDownFiles(logger: Logger, plan: Plan, verb: string): string[] {
  return changedDownFiles(plan).map((c) => {
    const detail = `${c.file} changed since ${c.version}_${c.name} was applied (recorded ${c.recorded}, file now ${c.actual}): ${verb} the edited down file`;
    logger.warn(
      { version: c.version, file: c.file, recordedChecksum: c.recorded, actualChecksum: c.actual },
      `${c.file} changed since ${c.version}_${c.name} was applied (recorded ${shortChecksum(c.recorded)}, file now ${shortChecksum(c.actual)}): ${verb} the edited down file`,
    );
    return detail;
  });
}

/**
 * Before a down runs edited down files: says so on the log output and appends a `warning` entry
 * per file to the history log (both checksums in its detail), then the down runs as planned.
 */
async function noteChangedDownFiles(session: Session, plan: Plan): Promise<void> {
  const changed = changedDownFiles(plan);
  if (changed.length === 0) return;
  const details = warnChangedDownFiles(session.logger, plan, 'about to run');
  const logSql = insertLogSql(session.tables);
  await session.db.transaction(async (tx) => {
    for (const [index, c] of changed.entries()) {
      await tx.query(logSql, logValues('warning', { version: c.version, name: c.name, checksum: c.actual, how: null, durationMs: null, detail: `down: ${details[index]}` }));
    }
  });
}

/** Lock, make sure the history exists, plan from the freshly read state, execute. */
async function run(options: RunOptions, makePlan: (report: StatusReport) => Plan): Promise<RunResult> {
  return withSession(options, async (session) => {
    const lockOptions = { timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, logger: session.logger, ...(options.signal ? { signal: options.signal } : {}) };
    if (options.statementTimeoutMs !== undefined && !session.db.interruptible) {
      throw new ConfigError(
        `--statement-timeout cannot work on ${session.db.displayUrl}: the embedded database runs each statement to its end in this process, so nothing would ever time out. Leave the option out, or run against a PostgreSQL server.`,
      );
    }
    const onAbort = () => {
      const reason = String(options.signal?.reason ?? 'abort');
      if (session.db.interruptible) {
        // What became of the migration in progress (rolled back, or partly done outside a transaction) is the error that follows.
        session.logger.warn(`${reason}: stopping; cancelling the statement in progress`);
        void session.db.cancel();
      } else {
        session.logger.warn(`${reason}: stopping after the statement in progress (the embedded database cannot interrupt it)`);
      }
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    return withLock(session.db, session.tables, lockOptions, async () => {
      // The files' problems are reported before anything is created, the history table included
      // (the directory reader checks every file; the planner is the last word on what is about to run).
      const history = await readHistory(session.db, session.tables);
      const plan = makePlan(await currentStatus(session, history.rows));
      if (!history.exists) await ensureHistory(session);
      await noteChangedDownFiles(session, plan);
      const steps = await executePlan(session.db, session.tables, plan, {
        logger: session.logger,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
        ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
        onStepStart: (step) => {
          session.running = { version: step.version, name: step.name };
        },
        onStep: (result) => {
          session.running = null;
          options.onStep?.(result);
        },
      });
      return { command: plan.command, from: plan.from, to: plan.to, steps, database: session.db.displayUrl };
    }).finally(() => options.signal?.removeEventListener('abort', onAbort));
  });
}

export interface UpOptions extends RunOptions {
  /** A version, 'head' (default) or 'base'. */
  target?: string | Target;
  steps?: number;
  allowOutOfOrder?: boolean;
}

/** The planner for an up request; `up` and `script` share it so a script plans exactly what a run would. */
function upPlanner(options: Pick<UpOptions, 'target' | 'steps' | 'allowOutOfOrder'>): (report: StatusReport) => Plan {
  const target = toTarget(options.target);
  return (report) =>
    planUp(report, {
      ...(target !== undefined ? { target } : {}),
      ...(options.steps !== undefined ? { steps: options.steps } : {}),
      allowOutOfOrder: options.allowOutOfOrder ?? false,
    });
}

/** Applies pending migrations up to the target. Throws VerificationError (exit 3) when files and history disagree. */
export function up(options: UpOptions): Promise<RunResult> {
  return run(options, upPlanner(options));
}

export interface DownOptions extends RunOptions {
  /** Revert until this version is current; 'base' reverts all. Without target and steps: one step. */
  target?: string | Target;
  steps?: number;
}

function downPlanner(options: Pick<DownOptions, 'target' | 'steps'>): (report: StatusReport) => Plan {
  const target = toTarget(options.target);
  return (report) => planDown(report, { ...(target !== undefined ? { target } : {}), ...(options.steps !== undefined ? { steps: options.steps } : {}) });
}

export function down(options: DownOptions): Promise<RunResult> {
  return run(options, downPlanner(options));
}

export interface StampOptions extends RunOptions {
  target: string | Target;
}

/** Records the database as being at the target without running any migration SQL. */
function stampPlanner(options: Pick<StampOptions, 'target'>): (report: StatusReport) => Plan {
  const target = toTarget(options.target)!;
  return (report) => planStamp(report, target);
}

export function stamp(options: StampOptions): Promise<RunResult> {
  return run(options, stampPlanner(options));
}

export interface ScriptOptions extends Omit<BaseOptions, 'url'> {
  /** Needed unless `from` is given; the database is only read (no lock, no history table, no writes). */
  url?: string;
  command: Plan['command'];
  /** As for up, down and stamp (required for stamp). */
  target?: string | Target;
  steps?: number;
  allowOutOfOrder?: boolean;
  /**
   * 'base' or a version: no database connection is made; the history is
   * assumed to hold exactly the file versions up to this one, with the
   * current files' checksums (the script checks that before it changes anything).
   */
  from?: string;
  /** How long the script waits for the migration lock; default 60 000 ms. */
  lockTimeoutMs?: number;
  /** Create a missing schema of the history table with it (`--create-schema`), as a run would. */
  createSchema?: boolean;
  statementTimeoutMs?: number;
  migrationLockTimeoutMs?: number;
  /** For the header; default now. */
  generatedAt?: Date;
  /** The command line that asked for the script, for its header (never pass one that holds a password). */
  request?: string;
}

export interface ScriptResult {
  /** The psql script: `psql -X -v ON_ERROR_STOP=1 -f FILE` runs it. */
  text: string;
  /** The plan it carries out, as the executor would run it. */
  plan: Plan;
}

interface StartingState {
  files: MigrationSet;
  tables: HistoryTables;
  rows: HistoryRow[];
  tableExists: boolean | null;
  assumed: boolean;
  source: string;
}

/** `--from`: the history that a database at FROM holds, built from the files alone. */
async function assumedState(options: ScriptOptions, from: string): Promise<StartingState> {
  if (from !== 'base' && !isVersion(from)) throw new UsageError(`Invalid --from "${from}": use a version number (e.g. 0003) or base.`);
  const table = tableOf(options);
  const files = await readMigrations(options.dir ?? DEFAULT_DIR, readOptions(options));
  let fromKey: string | null = null;
  if (from !== 'base') {
    fromKey = versionKey(from);
    if (!files.migrations.some((m) => m.key === fromKey)) {
      const versions = files.migrations.map((m) => m.version);
      throw new TargetError(from, `--from ${from}: no migration has that version.${versions.length > 0 ? ` Known versions: ${versions.join(', ')}.` : ' The migration directory is empty.'}`);
    }
  }
  const recorded = files.migrations.filter((m) => fromKey !== null && compareVersions(m.key, fromKey) <= 0);
  const rows: HistoryRow[] = recorded.map((m) => ({
    key: m.key,
    version: m.version,
    name: m.name,
    upChecksum: m.up.checksum,
    downChecksum: m.down?.checksum ?? null,
    how: 'executed',
    state: 'ok',
    transactional: m.up.analysis.mode === 'transaction',
    statementsDone: null,
    statementsTotal: null,
    error: null,
    appliedAt: new Date(0),
    appliedBy: '',
    durationMs: null,
    pgpairVersion: PGPAIR_VERSION,
  }));
  const versions = rows.length <= 6 ? rows.map((r) => r.version).join(', ') : `${rows[0]!.version} … ${rows[rows.length - 1]!.version} (${rows.length} versions)`;
  const described = rows.length === 0 ? 'an empty history' : `a history holding exactly ${versions}, with the checksums of the files`;
  return {
    files,
    tables: historyTables(table, null),
    rows,
    tableExists: from === 'base' ? null : true,
    assumed: true,
    source: `assumed from the files alone (--from ${from}): ${described}; no database was read`,
  };
}

/** Without `--from`: the history as the database holds it, read in a read-only session (no lock, nothing created). */
async function readState(options: ScriptOptions): Promise<StartingState> {
  if (!options.url) throw new ConfigError('A script needs the current state of the database: give a database URL, or --from VERSION|base to work from the files alone.');
  return withSession({ ...options, url: options.url, readOnly: true }, async (session) => {
    // Belt and braces: this session must not change anything, whatever happens below.
    await session.db.exec('SET default_transaction_read_only = on');
    const { exists, rows } = await readHistory(session.db, session.tables);
    return {
      files: session.files,
      tables: session.tables,
      rows,
      tableExists: exists,
      assumed: false,
      source: `read from ${session.db.displayUrl} (${exists ? `${rows.length} version${rows.length === 1 ? '' : 's'} recorded` : 'no history table yet'})`,
    };
  });
}

/**
 * The psql script that takes the database where `up`, `down` or `stamp` with
 * the same options would: same plan, same statements, same history and log
 * rows (how = 'script' for executed steps). Writes nothing; with `from`, makes
 * no connection at all. The text is held whole, the COPY data of large files
 * included: scriptStream gives it in pieces instead.
 */
export async function script(options: ScriptOptions): Promise<ScriptResult> {
  const { plan, pieces } = await scriptStream(options);
  const decoder = new TextDecoder();
  let text = '';
  for await (const piece of pieces()) text += typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true });
  return { text: text + decoder.decode(), plan };
}

export interface ScriptStream {
  /**
   * The script (as ScriptResult.text) in pieces, in order: text, and the COPY
   * data of large files as UTF-8 bytes, read from the files as the pieces are
   * taken, never held whole. Each call reads it afresh.
   */
  pieces: () => AsyncIterable<string | Uint8Array>;
  plan: Plan;
}

async function* scriptPieces(parts: readonly ScriptPart[]): AsyncGenerator<string | Uint8Array> {
  for (const part of parts) {
    if (typeof part === 'string') yield part;
    else yield* readCopyData(part.file, part.copyData);
  }
}

/** `script`, for a script that may be too large to hold: the same script, in pieces. */
export async function scriptStream(options: ScriptOptions): Promise<ScriptStream> {
  if (options.command === 'stamp' && options.target === undefined) throw new UsageError('pgpair stamp needs a TARGET: a version, head or base.');
  const planner = options.command === 'up' ? upPlanner(options) : options.command === 'down' ? downPlanner(options) : stampPlanner({ target: options.target! });
  const state = options.from !== undefined ? await assumedState(options, options.from) : await readState(options);
  const report = computeStatus(state.files.migrations, state.rows);
  const plan = planner(report);
  warnChangedDownFiles(options.logger ?? silent, plan, 'the script runs');
  const parts = renderScriptParts({
    plan,
    tables: state.tables,
    history: { rows: state.rows, assumed: state.assumed, tableExists: state.tableExists },
    generatedAt: options.generatedAt ?? new Date(),
    source: state.source,
    ...(options.request !== undefined ? { request: options.request } : {}),
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    ...(options.createSchema ? { createSchema: true } : {}),
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
  });
  (options.logger ?? silent).info({ command: plan.command, from: plan.from, to: plan.to, steps: plan.steps.length }, `script: ${plan.command} from ${plan.from ?? 'base'} to ${plan.to ?? 'base'}, ${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}; nothing was run`);
  return { pieces: () => scriptPieces(parts), plan };
}

/**
 * Every migration with its state. Read-only: creates nothing, takes no lock. Throws
 * DirectoryError (exit 2) for a bad directory, and for a file that `up` would refuse to run.
 */
export function status(options: BaseOptions): Promise<StatusReport> {
  return withSession({ ...options, readOnly: true }, currentStatus);
}

export interface VerifyResult {
  ok: boolean;
  problems: VerifyProblem[];
  /** Down files of applied versions that changed or are gone: not failures unless `strict` (then they are in `problems`). */
  warnings: VerifyProblem[];
  report: StatusReport;
}

/**
 * Compares files and history; `strict` also counts pending versions and changed or deleted down
 * files. Never throws for disagreement: see `ok`. Throws DirectoryError (exit 2) for a file that
 * `up` would refuse to run, applied or pending, up or down.
 */
export async function verify(options: BaseOptions & { strict?: boolean }): Promise<VerifyResult> {
  const report = await status(options);
  const strict = options.strict ?? false;
  const problems = verifyProblems(report, { strict });
  return { ok: problems.length === 0, problems, warnings: strict ? [] : downFileWarnings(report), report };
}

/** Like verify, but throws VerificationError when there is a problem. */
export async function assertVerified(options: BaseOptions & { strict?: boolean }): Promise<StatusReport> {
  const result = await verify(options);
  if (!result.ok) throw new VerificationError(result.problems);
  return result.report;
}

export interface CreateResult {
  version: string;
  up: string;
  down: string;
}

const SLUG = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Writes the next `<version>_<slug>.up.sql` / `.down.sql` pair: newest version + 1, keeping its zero-padded width. */
export async function create(options: { dir?: string; name: string }): Promise<CreateResult> {
  const dir = options.dir ?? DEFAULT_DIR;
  if (!SLUG.test(options.name) || /\.(up|down)$/.test(options.name) || options.name.endsWith('.sql')) {
    throw new UsageError(`Invalid migration name "${options.name}": use letters, digits, '_', '-' and '.', starting with a letter or digit (e.g. add_users).`);
  }
  await ensureDirectory(dir);
  // Names and versions only: create runs nothing, so what is inside the files is up's business.
  const files = await readMigrations(dir, { checkContents: false });
  const newest = files.migrations[files.migrations.length - 1];
  let version = '0001';
  if (newest) {
    const next = (BigInt(versionKey(newest.version)) + 1n).toString();
    version = next.padStart(newest.version.length, '0');
  }
  const base = `${dir.replace(/\/+$/, '')}/${version}_${options.name}`;
  const upPath = `${base}.up.sql`;
  const downPath = `${base}.down.sql`;
  await writeNewFile(upPath, `-- ${version}_${options.name}: apply.\n-- Runs in one transaction together with its history row.\n\n`);
  await writeNewFile(downPath, `-- ${version}_${options.name}: revert what the up file did.\n-- Delete this file if the migration cannot be reverted.\n\n`);
  return { version, up: upPath, down: downPath };
}

export { repair } from './repair.js';
export type { RepairOptions, RepairResult } from './repair.js';
