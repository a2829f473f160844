/**
 * Carries out a Plan on a connection.
 * - A transactional migration runs statement by statement inside one
 *   transaction together with its history row and log entry.
 * - A non-transactional one (or one with its own BEGIN/COMMIT) runs outside
 *   any pgpair transaction; its history row is written first as `running`,
 *   its progress recorded after each statement, and it ends `ok` or `failed`.
 * - A stamp records rows only, in one transaction.
 * Errors from migration SQL are mapped back to FILE:LINE:COLUMN.
 */
import type { Logger } from 'pino';
import { analyzeFile, runsInTransaction, type FileAnalysis } from './analyze.js';
import { pgErrorFields } from './db/errors.js';
import type { Connection, Queryable } from './db/types.js';
import { DatabaseError, DirectoryError, InterruptedError, MigrationFailedError, PgpairError, type FileProblem } from './errors.js';
import type { Migration, MigrationFile } from './files.js';
import {
  deleteHistoryRowsSql,
  deleteHistorySql,
  historyValues,
  insertHistoryRowsSql,
  insertHistorySql,
  insertLogRowsSql,
  insertLogSql,
  logValues,
  markFailedSql,
  markOkSql,
  markRunningSql,
  progressSql,
  type HistoryTables,
} from './history.js';
import { guardSettings, SET_GUARD_SQL } from './guards.js';
import type { SqlStatement } from './lexer.js';
import type { Plan, Step } from './plan.js';
import { codePointPositionToIndex, excerpt, excerptWindow, formatExcerpt, lineColumnInStatement } from './position.js';
import { readCopyData, readLines } from './source.js';

export interface ExecuteOptions {
  logger: Logger;
  serverVersionNum: number;
  /** PostgreSQL statement_timeout for migration SQL, in ms (undefined: server default). */
  statementTimeoutMs?: number;
  /** PostgreSQL lock_timeout for migration SQL, in ms. */
  migrationLockTimeoutMs?: number;
  /** Aborting stops the run: the statement in progress is cancelled by the caller, the transaction rolls back, no further step starts. */
  signal?: AbortSignal;
  /** Called before each step starts. */
  onStepStart?: (step: { action: Step['action']; version: string; name: string }) => void;
  /** Called after each step completes. */
  onStep?: (result: StepResult) => void;
}

export interface StepResult {
  action: Step['action'];
  version: string;
  name: string;
  durationMs: number;
  /** How the SQL ran: in pgpair's transaction, statement by statement outside one, or as written with its own BEGIN/COMMIT. */
  mode?: FileAnalysis['mode'];
}

function nameOf(step: Step): { version: string; name: string } {
  return step.action === 'unstamp' ? { version: step.row.version, name: step.row.name } : { version: step.migration.version, name: step.migration.slug };
}

/** A statement failed; carries what is needed to point at it in the file. */
class StatementFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly index: number,
    readonly statement: SqlStatement,
  ) {
    super('statement failed');
  }
}

/** Where in the file a server error points: its position, a function body's internal position, a COPY data line, or the statement itself. */
function locate(statement: SqlStatement, error: unknown): { line: number; column: number } {
  const pg = pgErrorFields(error);
  if (pg?.position != null) return lineColumnInStatement(statement, codePointPositionToIndex(statement.text, pg.position));
  if (pg?.internalPosition != null && pg.internalQuery) {
    const at = statement.text.indexOf(pg.internalQuery);
    if (at !== -1) return lineColumnInStatement(statement, at + codePointPositionToIndex(pg.internalQuery, pg.internalPosition));
  }
  const copyLine = statement.copyData && pg?.where ? /\bCOPY [^,]+, line (\d+)/.exec(pg.where) : null;
  if (copyLine && statement.copyData) return { line: statement.copyData.line + Number(copyLine[1]) - 1, column: 1 };
  return { line: statement.line, column: statement.column };
}

/** The lines around a spot, with a caret under it; a large file's lines are read from it (null if that fails). */
async function excerptOf(file: MigrationFile, line: number, column: number): Promise<string | null> {
  if (!file.large) return excerpt(file.text, line, column);
  const window = excerptWindow(file.large.lineCount, line);
  try {
    return formatExcerpt(await readLines(file, window.first, window.last), window, column);
  } catch {
    return null;
  }
}

async function failure(
  error: unknown,
  ctx: { migration: Migration; direction: 'up' | 'down'; file: MigrationFile; analysis: FileAnalysis; rolledBack: boolean; next: () => string },
): Promise<unknown> {
  if (!(error instanceof StatementFailure)) return error;
  const pg = pgErrorFields(error.cause);
  if (!pg) return error.cause;
  const where = locate(error.statement, error.cause);
  const numbered = ctx.analysis.mode !== 'transaction' || ctx.analysis.statements.length > 1;
  return new MigrationFailedError({
    version: ctx.migration.version,
    name: ctx.migration.slug,
    direction: ctx.direction,
    file: ctx.file.path,
    line: where.line,
    column: where.column,
    statement: numbered ? error.index + 1 : null,
    pg,
    excerpt: await excerptOf(ctx.file, where.line, where.column),
    rolledBack: ctx.rolledBack,
    next: ctx.next(),
  });
}

/**
 * Lets pending signal handlers run before deciding whether to start more work. An in-process
 * database (PGlite) answers without returning to the event loop, so a SIGINT that arrived during
 * a statement would otherwise be seen only after the next one had run too.
 */
const signalsDelivered = (signal: AbortSignal | undefined): Promise<void> | undefined =>
  signal && !signal.aborted ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined;

/** Runs the statements of a file in order; COPY data is streamed (a large file's from the file). `after` runs after each statement (progress). */
async function runStatements(q: Queryable, file: MigrationFile, analysis: FileAnalysis, signal: AbortSignal | undefined, after?: (done: number) => Promise<void>): Promise<void> {
  for (const [index, statement] of analysis.statements.entries()) {
    await signalsDelivered(signal);
    if (signal?.aborted) throw new StatementFailure(new Error('interrupted'), index, statement);
    try {
      const copyData = statement.copyData;
      if (copyData) await q.copyFrom(statement.text, copyData.location ? readCopyData(file, copyData.location) : copyData.text);
      else await q.exec(statement.text);
    } catch (error) {
      if (error instanceof PgpairError) throw error;
      throw new StatementFailure(error, index, statement);
    }
    if (after) await after(index + 1);
  }
}

async function setGuards(q: Queryable, options: ExecuteOptions, local: boolean): Promise<void> {
  for (const [name, value] of guardSettings(options)) await q.query(SET_GUARD_SQL, [name, value, local]);
}

async function resetGuards(q: Queryable, options: ExecuteOptions): Promise<void> {
  for (const [name] of guardSettings(options)) await q.exec(`RESET ${name}`);
}

async function log(q: Queryable, tables: HistoryTables, action: string, m: { version: string; name: string; checksum: string | null; how: string | null; durationMs: number | null; detail?: string | null }) {
  await q.query(insertLogSql(tables), logValues(action, m));
}

const elapsed = (started: number) => Math.round(performance.now() - started);

/** Transactional up or down: the statements, the history change and the log entry commit together or not at all. */
async function runInTransaction(db: Connection, tables: HistoryTables, migration: Migration, direction: 'up' | 'down', analysis: FileAnalysis, options: ExecuteOptions, next: () => string): Promise<number> {
  const file = direction === 'up' ? migration.up : migration.down!;
  const pipelined = db.pipelining && !analysis.statements.some((s) => s.copyData);
  let durationMs = 0;
  let recorded: Promise<unknown>[] = [];
  try {
    await db.transaction(async (tx) => {
      const started = performance.now();
      if (pipelined) {
        await runStatementsPipelined(tx, analysis, guardSettings(options));
      } else {
        await setGuards(tx, options, true);
        await runStatements(tx, file, analysis, options.signal);
      }
      durationMs = elapsed(started);
      if (direction === 'down' && !pipelined) {
        const removed = await tx.query(`${deleteHistorySql(tables)} RETURNING version`, [migration.key]);
        if (removed.length !== 1) throw new Error(`the history row of ${migration.version} vanished while it was being reverted`);
      }
      const history =
        direction === 'up'
          ? tx.query(insertHistorySql(tables), historyValues(migration, 'executed', { durationMs }))
          : pipelined
            ? tx.query(`${deleteHistorySql(tables)} RETURNING version`, [migration.key]).then((removed) => {
                if (removed.length !== 1) throw new Error(`the history row of ${migration.version} vanished while it was being reverted`);
              })
            : Promise.resolve();
      const logged = log(tx, tables, direction, { version: migration.version, name: migration.slug, checksum: file.checksum, how: 'executed', durationMs });
      recorded = [history, logged].map((p) => p.then(() => null, (error: unknown) => error));
      // Without pipelining, wait here; with it, the history row, the log entry and COMMIT travel together.
      if (!pipelined) await settleRecorded(recorded);
    });
    // An error in the history statements aborted the transaction, and PostgreSQL turned COMMIT into ROLLBACK.
    await settleRecorded(recorded);
  } catch (error) {
    if (options.signal?.aborted) throw interrupted(options.signal, migration, direction, analysis, error);
    throw await failure(error, { migration, direction, file, analysis, rolledBack: true, next });
  }
  return durationMs;
}

async function settleRecorded(recorded: Promise<unknown>[]): Promise<void> {
  for (const outcome of await Promise.all(recorded)) if (outcome) throw outcome;
}

/**
 * Sends the guards and every statement without waiting for each answer (the
 * connection keeps them in order), then waits once. The first failing
 * statement is the one reported; the ones after it fail only because the
 * transaction is aborted.
 */
async function runStatementsPipelined(tx: Queryable, analysis: FileAnalysis, guards: [string, string][]): Promise<void> {
  const setup = guards.map(([name, value]) => tx.query(SET_GUARD_SQL, [name, value, true]).then(() => null, (error: unknown) => error));
  const outcomes = analysis.statements.map((statement, index) =>
    tx.exec(statement.text).then(
      () => null,
      (error: unknown) => (error instanceof PgpairError ? error : new StatementFailure(error, index, statement)),
    ),
  );
  for (const outcome of await Promise.all(setup)) if (outcome) throw outcome;
  for (const outcome of await Promise.all(outcomes)) if (outcome) throw outcome;
}

function signalName(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'an abort signal';
}

/** The error for a step that was stopped by a signal: what happened to it, and what to do next. */
function interrupted(signal: AbortSignal, migration: Migration, direction: 'up' | 'down', analysis: FileAnalysis, error?: unknown): InterruptedError {
  const at = error instanceof StatementFailure ? ` at statement ${error.index + 1} of ${analysis.statements.length}` : '';
  const label = `${migration.version}_${migration.slug}`;
  const message =
    analysis.mode === 'transaction'
      ? `Interrupted by ${signalName(signal)} during ${direction} ${label}${at}: its transaction was rolled back, so nothing of it was ${direction === 'up' ? 'applied' : 'reverted'}. The migration lock was released; run pgpair ${direction} again to continue.`
      : `Interrupted by ${signalName(signal)} during ${direction} ${label}${at}; it runs outside a transaction, so the statements before that stay done and it is marked failed. Finish or undo it by hand, then run pgpair repair --applied ${migration.version} or --reverted ${migration.version}.`;
  return new InterruptedError(signalName(signal), migration.version, message);
}

/** After a failed statement outside pgpair's transaction: leave any transaction the file opened, so the history can be written. */
async function leaveAbortedTransaction(db: Connection): Promise<void> {
  try {
    await db.query('SELECT 1');
  } catch (error) {
    if (pgErrorFields(error)?.sqlstate === '25P02') await db.exec('ROLLBACK');
    else throw error;
  }
}

/**
 * Non-transactional up or down. The history row says `running` while the
 * statements run (so a crash leaves a visible trace), counts finished
 * statements, and ends `ok` (or deleted, for down) or `failed` with the error.
 */
async function runOutsideTransaction(db: Connection, tables: HistoryTables, migration: Migration, direction: 'up' | 'down', analysis: FileAnalysis, options: ExecuteOptions, next: () => string): Promise<number> {
  const file = direction === 'up' ? migration.up : migration.down!;
  const total = analysis.statements.length;
  if (direction === 'up') {
    await db.query(insertHistorySql(tables), historyValues(migration, 'executed', { state: 'running', transactional: false, done: 0, total }));
  } else {
    await db.query(markRunningSql(tables), [migration.key, total]);
  }
  const started = performance.now();
  try {
    await setGuards(db, options, false);
    await runStatements(db, file, analysis, options.signal, (done) => db.query(progressSql(tables), [migration.key, done]).then(() => {}));
    await resetGuards(db, options);
  } catch (error) {
    const mapped = options.signal?.aborted ? interrupted(options.signal, migration, direction, analysis, error) : await failure(error, { migration, direction, file, analysis, rolledBack: false, next });
    if (db.lost) throw lostDuring(mapped, migration, analysis);
    await leaveAbortedTransaction(db);
    await resetGuards(db, options).catch(() => {});
    const statement = error instanceof StatementFailure ? error.index + 1 : null;
    const summary = mapped instanceof InterruptedError ? `${direction} interrupted by ${mapped.reason}${error instanceof StatementFailure ? ` at statement ${error.index + 1} of ${total}` : ''}` : mapped instanceof MigrationFailedError ? `${direction} failed at statement ${statement} of ${total} (${file.path}:${mapped.line}): ${mapped.pg.message}` : `${direction} failed: ${(mapped as Error).message}`;
    await db.transaction(async (tx) => {
      await tx.query(markFailedSql(tables), [migration.key, summary, elapsed(started)]);
      await log(tx, tables, 'failed', { version: migration.version, name: migration.slug, checksum: file.checksum, how: 'executed', durationMs: elapsed(started), detail: summary });
    });
    throw mapped;
  }
  const durationMs = elapsed(started);
  await db.transaction(async (tx) => {
    if (direction === 'up') {
      await tx.query(markOkSql(tables), [migration.key, total, durationMs]);
    } else {
      await tx.query(deleteHistorySql(tables), [migration.key]);
    }
    await log(tx, tables, direction, { version: migration.version, name: migration.slug, checksum: file.checksum, how: 'executed', durationMs, detail: analysis.reason });
  });
  return durationMs;
}

/**
 * Records stamp/unstamp steps on `tx` (inside the caller's transaction): none of them runs migration SQL.
 * At most three statements whatever the number of versions (one pair per version made `stamp head` over
 * 10,000 files take 7 s); the log entries keep the order of the steps.
 */
export async function recordStamp(tx: Queryable, tables: HistoryTables, steps: Step[], options: ExecuteOptions): Promise<void> {
  const removed: string[] = [];
  const added: unknown[][] = [];
  const entries: unknown[][] = [];
  for (const step of steps) {
    if (step.action === 'stamp') {
      const m = step.migration;
      added.push(historyValues(m, 'stamped', { transactional: runsInTransaction(m.up, options.serverVersionNum) }));
      entries.push(logValues('stamp', { version: m.version, name: m.slug, checksum: m.up.checksum, how: 'stamped', durationMs: null }));
    } else if (step.action === 'unstamp') {
      const row = step.row;
      removed.push(row.key);
      entries.push(logValues('unstamp', { version: row.version, name: row.name, checksum: row.upChecksum, how: row.how, durationMs: null }));
    }
  }
  if (removed.length > 0) await tx.query(deleteHistoryRowsSql(tables), [JSON.stringify(removed)]);
  if (added.length > 0) await tx.query(insertHistoryRowsSql(tables), [JSON.stringify(added)]);
  if (entries.length > 0) await tx.query(insertLogRowsSql(tables), [JSON.stringify(entries)]);
}

/** Records stamp/unstamp steps, all in one transaction. */
async function runStamp(db: Connection, tables: HistoryTables, steps: Step[], options: ExecuteOptions): Promise<void> {
  await db.transaction((tx) => recordStamp(tx, tables, steps, options));
}

/**
 * `load`: runs the statements of a base schema file on `q`, in order, COPY
 * data streamed: the caller's transaction when `inTransaction`, else the
 * session itself (a file that cannot run in a transaction). A failing
 * statement becomes a MigrationFailedError at FILE:LINE:COLUMN that ends with
 * `next`. Recording the history (recordStamp) is the caller's, so that it can
 * look at what the file created first (a dump may hold pgpair's own history).
 */
export async function loadSchema(db: Connection, q: Queryable, file: MigrationFile, analysis: FileAnalysis, options: ExecuteOptions & { inTransaction: boolean; next: string }): Promise<void> {
  const schema: Migration = { version: 'schema', key: 'schema', slug: file.name, up: file, down: null };
  try {
    await runStatements(q, file, analysis, options.signal);
  } catch (error) {
    if (!options.inTransaction && !db.lost) await leaveAbortedTransaction(db).catch(() => {});
    throw await failure(error, { migration: schema, direction: 'up', file, analysis, rolledBack: options.inTransaction, next: () => options.next });
  }
}

function whatHappened(done: StepResult[], plan: Plan, failedAt: number, analysis: FileAnalysis): string {
  const step = plan.steps[failedAt]!;
  const { version } = nameOf(step);
  const verb = plan.command === 'up' ? 'applied' : 'reverted';
  const before = done.length > 0 ? ` ${done.map((d) => d.version).join(', ')} ${done.length === 1 ? 'was' : 'were'} ${verb} before it and ${done.length === 1 ? 'stays' : 'stay'} so.` : '';
  if (analysis.mode === 'transaction') {
    return `Nothing of ${version} was ${verb} (its transaction was rolled back).${before} Fix the file and run pgpair ${plan.command} again.`;
  }
  return `${version} ran outside a transaction (${analysis.reason}), so the statements before the failing one stay done; it is now marked failed.${before} Finish or undo it by hand, then run pgpair repair --applied ${version} or pgpair repair --reverted ${version}.`;
}

/** Problems in the files about to run (meta-commands, unterminated quotes or COPY data, unknown directives): all reported before anything runs. */
function checkFiles(plan: Plan, options: ExecuteOptions): void {
  const problems: FileProblem[] = [];
  for (const step of plan.steps) {
    if (step.action === 'up') problems.push(...analyzeFile(step.migration.up, options.serverVersionNum).problems);
    if (step.action === 'down') problems.push(...analyzeFile(step.migration.down!, options.serverVersionNum).problems);
  }
  if (problems.length > 0) {
    const dir = plan.steps[0] && plan.steps[0].action !== 'unstamp' ? plan.steps[0].migration.up.path.replace(/\/[^/]*$/, '') : '.';
    throw new DirectoryError(dir, problems);
  }
}

export async function executePlan(db: Connection, tables: HistoryTables, plan: Plan, options: ExecuteOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  if (plan.command === 'stamp') {
    if (plan.steps.length === 0) return results;
    try {
      await runStamp(db, tables, plan.steps, options);
    } catch (error) {
      throw wrapDatabaseError(error, 'Recording the stamp failed; nothing was recorded');
    }
    for (const step of plan.steps) {
      const result = { action: step.action, ...nameOf(step), durationMs: 0 };
      results.push(result);
      options.onStep?.(result);
    }
    return results;
  }
  checkFiles(plan, options);
  // Each migration commits asynchronously (no WAL flush wait per migration); one synchronous commit at the end
  // makes them all durable before the run reports success. A server crash in between can only lose whole,
  // recorded migrations, never part of one: each one's SQL and history row are in the same transaction.
  const relaxed = db.pipelining && plan.steps.length > 1;
  if (relaxed) await db.exec('SET synchronous_commit = off');
  try {
    for (const [index, step] of plan.steps.entries()) {
      await signalsDelivered(options.signal);
      if (options.signal?.aborted) {
        const done = results.map((r) => r.version).join(', ');
        throw new InterruptedError(
          signalName(options.signal),
          null,
          `Interrupted by ${signalName(options.signal)} before ${nameOf(step).version}_${nameOf(step).name}${done ? `; ${done} ${plan.command === 'up' ? 'applied' : 'reverted'} before it` : ''}. Run pgpair ${plan.command} again to continue.`,
        );
      }
      if (step.action !== 'up' && step.action !== 'down') throw new Error(`unexpected ${step.action} step in a ${plan.command} plan`);
      const { version, name } = nameOf(step);
      const file = step.action === 'up' ? step.migration.up : step.migration.down!;
      const analysis = analyzeFile(file, options.serverVersionNum);
      options.logger.debug({ version, name, action: step.action, mode: analysis.mode, reason: analysis.reason }, `${step.action} ${version}_${name}`);
      options.onStepStart?.({ action: step.action, version, name });
      // Only a failure needs the message; building it for every step would be quadratic in the number of steps.
      const next = () => whatHappened(results, plan, index, analysis);
      const durationMs =
        analysis.mode === 'transaction'
          ? await runInTransaction(db, tables, step.migration, step.action, analysis, options, next)
          : await runOutsideTransaction(db, tables, step.migration, step.action, analysis, options, next);
      const result: StepResult = { action: step.action, version, name, durationMs, mode: analysis.mode };
      results.push(result);
      options.onStep?.(result);
    }
  } finally {
    if (relaxed && !db.lost) await flushCommits(db, results.length > 0, options.logger);
  }
  return results;
}

/** A lost connection during a non-transactional step: the history row stays `running`, and the user must be told so. */
function lostDuring(error: unknown, migration: Migration, analysis: FileAnalysis): unknown {
  if (!(error instanceof PgpairError) || error.code !== 'E_CONNECTION') return error;
  error.message = `${error.message.replace(/ The server rolled back.*$/, '')} ${migration.version}_${migration.slug} was running outside a transaction (${analysis.reason}); its history row says running, and pgpair status shows it as failed. Check what was done, then run pgpair repair --applied ${migration.version} or --reverted ${migration.version}.`;
  return error;
}

/** Restores the session's synchronous_commit and, when anything committed, waits until it is on disk. */
async function flushCommits(db: Connection, committed: boolean, logger: Logger): Promise<void> {
  try {
    if (committed) await db.transaction(async (tx) => {
      await tx.exec('SET LOCAL synchronous_commit = on');
      await tx.query('SELECT txid_current()');
    });
    await db.exec('RESET synchronous_commit');
  } catch (error) {
    logger.warn({ err: error }, 'could not confirm that the last migrations are flushed to disk');
  }
}

export function wrapDatabaseError(error: unknown, context: string): unknown {
  if (error instanceof PgpairError) return error;
  const pg = pgErrorFields(error);
  return pg ? new DatabaseError(context, pg) : error;
}
