/**
 * What each call of a migrator does on a session it is given (lib/run/provider.ts opens and
 * lends the sessions): lock, read history, plan, execute; or read and render a script. They
 * return data and throw PgpairErrors, and never print or exit.
 */
import type { Logger } from 'pino';
import { shortChecksum } from '../core/checksum.js';
import { ConfigError, TargetError, UsageError } from '../core/errors.js';
import type { MigrationSet } from '../core/files.js';
import { historyTables, insertLogSql, logValues, type HistoryRow, type HistoryTables } from '../core/history.js';
import type { TableName } from '../core/ident.js';
import { PGPAIR_VERSION } from '../core/meta.js';
import { parseTarget, planDown, planStamp, planUp, type Plan, type Target } from '../core/plan.js';
import type { ScriptPart } from '../core/render.js';
import { computeStatus, type StatusReport } from '../core/status.js';
import { compareVersions, isVersion, versionKey } from '../core/version.js';
import { readCopyData } from '../read/source.js';
import { withLock } from './lock.js';
import { readHistory } from './read-history.js';
import { currentStatus, DEFAULT_LOCK_TIMEOUT_MS, ensureHistory, type RunCallOptions, type RunResult, type Session } from './session.js';

export type { RunCallOptions } from './session.js';

export interface UpRequest {
  /** A version, 'head' (default) or 'base'. */
  target?: string | Target;
  steps?: number;
  allowOutOfOrder?: boolean;
}

export interface DownRequest {
  /** Revert until this version is current; 'base' reverts all. Without target and steps: one step. */
  target?: string | Target;
  steps?: number;
}

export interface StampRequest {
  target: string | Target;
}

/** What to plan: the command and its request, as for up, down and stamp. */
export type PlanRequest = ({ command: 'up' } & UpRequest) | ({ command: 'down' } & DownRequest) | ({ command: 'stamp' } & StampRequest);

function toTarget(target: string | Target | undefined): Target | undefined {
  return typeof target === 'string' ? parseTarget(target) : target;
}

/** The planner for a request; a run and a script share it so a script plans exactly what a run would. */
export function plannerFor(request: { command: Plan['command']; target?: string | Target | undefined; steps?: number | undefined; allowOutOfOrder?: boolean | undefined }): (report: StatusReport) => Plan {
  const target = toTarget(request.target);
  const steps = request.steps !== undefined ? { steps: request.steps } : {};
  if (request.command === 'up') {
    return (report) => planUp(report, { ...(target !== undefined ? { target } : {}), ...steps, allowOutOfOrder: request.allowOutOfOrder ?? false });
  }
  if (request.command === 'down') return (report) => planDown(report, { ...(target !== undefined ? { target } : {}), ...steps });
  if (target === undefined) throw new UsageError('pgpair stamp needs a TARGET: a version, head or base.');
  return (report) => planStamp(report, target);
}

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
export async function runPlan(session: Session, options: RunCallOptions, makePlan: (report: StatusReport) => Plan): Promise<RunResult> {
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
  return withLock(session.db, session.tables, lockOptions, async (claim) => {
    // The files' problems are reported before anything is created, the history table included
    // (the directory reader checks every file; the planner is the last word on what is about to run).
    const history = await readHistory(session.db, session.tables);
    const plan = makePlan(await currentStatus(session, history.rows));
    // Lint judges the migrations about to run: with none (a no-op up), there is nothing to lint or to size.
    if (options.lint && plan.command === 'up' && plan.steps.length > 0) await (await import('./lint.js')).lintBeforeRun(session, history.rows, plan, options.lint);
    if (!history.exists) await ensureHistory(session);
    await noteChangedDownFiles(session, plan);
    // The executor (and the modules only running migrations needs: execute/*, program, guards) is
    // loaded when there is a step to run. With none, executePlan does nothing and returns no
    // result (its program is empty), so a no-op run does not load it.
    if (plan.steps.length === 0) return { command: plan.command, from: plan.from, to: plan.to, steps: [], database: session.db.displayUrl };
    const { executePlan } = await import('./executor.js');
    const steps = await executePlan(session.db, session.tables, plan, {
      logger: session.logger,
      claim,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
      ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
      ...(options.lockRetries !== undefined ? { lockRetries: options.lockRetries } : {}),
      ...(options.lockRetryBaseMs !== undefined ? { lockRetryBaseMs: options.lockRetryBaseMs } : {}),
      ...(options.lockWaitLogMs !== undefined ? { lockWaitLogMs: options.lockWaitLogMs } : {}),
      ...(options.watchLockWaits === false ? { watchLockWaits: false } : {}),
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
}

/** What a script starts from: the history as read from a database, or as assumed from the files. */
export interface StartingState {
  files: MigrationSet;
  tables: HistoryTables;
  rows: HistoryRow[];
  tableExists: boolean | null;
  assumed: boolean;
  source: string;
}

/** `--from`: the history that a database at FROM holds, built from the files alone. */
export function assumedState(files: MigrationSet, table: TableName, from: string): StartingState {
  if (from !== 'base' && !isVersion(from)) throw new UsageError(`Invalid --from "${from}": use a version number (e.g. 0003) or base.`);
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

/** The history as the database holds it, read with the session read-only for the time (no lock, nothing created). */
export async function readState(session: Session): Promise<StartingState> {
  // Belt and braces: nothing below may change anything; the setting is put back afterwards (the session may be kept or lent).
  const [before] = await session.db.query<{ before: string }>(`SELECT current_setting('default_transaction_read_only') AS before, set_config('default_transaction_read_only', 'on', false)`);
  try {
    const { exists, rows } = await readHistory(session.db, session.tables);
    return {
      files: session.files,
      tables: session.tables,
      rows,
      tableExists: exists,
      assumed: false,
      source: `read from ${session.db.displayUrl} (${exists ? `${rows.length} version${rows.length === 1 ? '' : 's'} recorded` : 'no history table yet'})`,
    };
  } finally {
    if (!session.db.lost) await session.db.query(`SELECT set_config('default_transaction_read_only', $1, false)`, [before!.before]);
  }
}

/** What a script may set for itself, besides the plan's request. */
export interface ScriptSettings {
  lockTimeoutMs?: number | undefined;
  createSchema?: boolean | undefined;
  statementTimeoutMs?: number | undefined;
  migrationLockTimeoutMs?: number | undefined;
  generatedAt?: Date | undefined;
  request?: string | undefined;
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

/**
 * The script that takes a database in `state` where `planner` says, in pieces. Pure but for the
 * logger. The renderer (render.ts and the script-* modules) is loaded here, by the runs that write
 * a script, not by every run.
 */
export async function scriptFrom(state: StartingState, planner: (report: StatusReport) => Plan, settings: ScriptSettings, logger: Logger): Promise<ScriptStream> {
  const report = computeStatus(state.files.migrations, state.rows);
  const plan = planner(report);
  warnChangedDownFiles(logger, plan, 'the script runs');
  const { renderScriptParts } = await import('../core/render.js');
  const parts = renderScriptParts({
    plan,
    tables: state.tables,
    history: { rows: state.rows, assumed: state.assumed, tableExists: state.tableExists },
    generatedAt: settings.generatedAt ?? new Date(),
    source: state.source,
    ...(settings.request !== undefined ? { request: settings.request } : {}),
    lockTimeoutMs: settings.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    ...(settings.createSchema ? { createSchema: true } : {}),
    ...(settings.statementTimeoutMs !== undefined ? { statementTimeoutMs: settings.statementTimeoutMs } : {}),
    ...(settings.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: settings.migrationLockTimeoutMs } : {}),
  });
  logger.info({ command: plan.command, from: plan.from, to: plan.to, steps: plan.steps.length }, `script: ${plan.command} from ${plan.from ?? 'base'} to ${plan.to ?? 'base'}, ${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}; nothing was run`);
  return { pieces: () => scriptPieces(parts), plan };
}

/** A whole script's text, from its pieces. */
export async function scriptText(stream: ScriptStream): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const piece of stream.pieces()) text += typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true });
  return text + decoder.decode();
}
