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
import { analyzeFile, runsInTransaction, type FileAnalysis } from '../core/analyze.js';
import { pgErrorFields } from '../db/errors.js';
import { inlineParams } from '../core/literal.js';
import type { Connection, Queryable } from '../db/types.js';
import { DatabaseError, DirectoryError, InterruptedError, MigrationFailedError, MigrationIntegrityError, PgpairError, type FileProblem } from '../core/errors.js';
import type { Migration, MigrationFile } from '../core/files.js';
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
} from '../core/history.js';
import { guardSettings, SET_GUARD_SQL } from '../core/guards.js';
import type { SqlStatement } from '../core/lexer.js';
import type { Plan, Step } from '../core/plan.js';
import { codePointPositionToIndex, excerpt, excerptWindow, formatExcerpt, lineColumnInStatement } from '../core/position.js';
import {
  CAPTURE_SESSION_SQL,
  AS_LOGIN_USER_SQL,
  GUARD_LOCK_LOST,
  lockGuardSql,
  lockKeySql,
  restoreSessionSql,
  sessionStartFromRow,
  statementCheckSql,
} from '../core/session-state.js';
import { readCopyData, readLines } from '../read/source.js';
import { describeLockWait } from '../db/lock-wait.js';

export interface ExecuteOptions {
  logger: Logger;
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
  return step.action === 'unstamp' ? { version: step.row.version, name: step.row.name } : { version: step.migration.version, name: step.migration.name };
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
  ctx: { migration: Migration; direction: 'up' | 'down'; file: MigrationFile; analysis: FileAnalysis; rolledBack: boolean; next: (sqlstate?: string | null) => string },
): Promise<unknown> {
  if (!(error instanceof StatementFailure)) return error;
  const pg = pgErrorFields(error.cause);
  if (!pg) return error.cause;
  const where = locate(error.statement, error.cause);
  const numbered = ctx.analysis.mode !== 'transaction' || ctx.analysis.statements.length > 1;
  return new MigrationFailedError({
    version: ctx.migration.version,
    name: ctx.migration.name,
    direction: ctx.direction,
    file: ctx.file.path,
    line: where.line,
    column: where.column,
    statement: numbered ? error.index + 1 : null,
    pg,
    excerpt: await excerptOf(ctx.file, where.line, where.column),
    rolledBack: ctx.rolledBack,
    next: ctx.next(pg.sqlstate),
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

async function log(q: Queryable, tables: HistoryTables, action: string, m: { version: string; name: string; checksum: string | null; how: string | null; durationMs: number | null; detail?: string | null }) {
  await q.query(insertLogSql(tables), logValues(action, m));
}

const elapsed = (started: number) => Math.round(performance.now() - started);

/**
 * What a run needs to keep migrations from changing what it relies on (lib/session-state.ts): the
 * SQL that restores the session state the run started with, and the migration lock's key.
 */
export interface RunContext {
  restoreSql: string;
  lockKeySql: string;
}

/**
 * Words a statement needs to end a transaction block (COMMIT, END, ROLLBACK, ABORT, PREPARE
 * TRANSACTION), looked for in the raw text, strings and comments included: over-matching only
 * costs a wait. A pipelined run waits after such a statement, and goes on only when the
 * transaction is still pgpair's, so that nothing runs outside it unnoticed. COPY too: a
 * `COPY … FROM STDIN` the server starts in such a text must find nothing queued behind it (the
 * server ends the session when another query arrives during COPY), so that it can be aborted.
 */
const MAY_END_TRANSACTION = /\b(?:COMMIT|END|ROLLBACK|ABORT|PREPARE|COPY)\b/i;

/** A statement of the migration ended pgpair's transaction: where, and what ran after it. */
class TransactionEnded extends Error {
  /** Statements after it that ran outside any transaction (0-based), and the first that failed there. */
  readonly ranOutside: number[] = [];
  failedOutside: StatementFailure | null = null;
  constructor(
    readonly index: number,
    readonly statement: SqlStatement,
    /** The error of that statement itself (the rest of its text failed after the COMMIT), if any. */
    readonly ownError: unknown,
  ) {
    super('transaction ended');
  }
}

/** A statement of the migration released the migration lock. */
class LockReleased extends Error {
  constructor(
    readonly index: number,
    readonly statement: SqlStatement,
  ) {
    super('lock released');
  }
}

/**
 * pgpair's check after a statement failed (the migration's own SET statement_timeout applies to it
 * too, as to everything sent in its transaction): reported at that statement, saying what failed.
 */
function checkFailure(error: unknown, sent: { index: number; statement: SqlStatement }): unknown {
  const pg = pgErrorFields(error);
  if (!pg) return error;
  const cause = Object.assign(Object.create(Object.getPrototypeOf(error) as object) as object, error, {
    message: `pgpair's check after this statement (is the transaction still pgpair's, is the lock still held) failed: ${pg.message}${pg.sqlstate === '57014' ? ' (a statement_timeout the migration set applies to pgpair\'s checks between its statements too)' : ''}`,
    position: undefined,
  });
  return new StatementFailure(cause, sent.index, sent.statement);
}

const caught = <T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> => p.then((value) => ({ value }), (error: unknown) => ({ error }));

interface Sent {
  index: number;
  statement: SqlStatement;
  outcome: Promise<{ value: unknown } | { error: unknown }>;
  /** statementCheckSql after it. */
  check: Promise<{ value: { xid: string | null; locked: boolean } | undefined } | { error: unknown }>;
}

/**
 * Runs a transactional migration's statements in `tx` with a check after each one (the marker
 * of pgpair's transaction still set, the lock still held: after the last one, that is the
 * before-commit guard, which a `--sql` script writes as beforeCommitGuardSql), then restores the session. Pipelined, it sends statements without waiting, except after
 * one that may end the transaction. Throws StatementFailure (the transaction is aborted),
 * TransactionEnded or LockReleased.
 */
async function runGuardedStatements(tx: Queryable, file: MigrationFile, analysis: FileAnalysis, options: ExecuteOptions, ctx: RunContext, xid: Promise<string | null>, pipelined: boolean): Promise<void> {
  const statements = analysis.statements;
  let batch: Sent[] = [];
  let ended: TransactionEnded | null = null;
  const settle = async (): Promise<void> => {
    for (const sent of batch) {
      const outcome = await sent.outcome;
      const check = await sent.check;
      const failedHere = 'error' in outcome ? outcome.error : null;
      if (failedHere instanceof PgpairError) throw failedHere;
      if ('error' in check && check.error instanceof PgpairError) throw check.error;
      if (ended) {
        if (failedHere !== null) ended.failedOutside ??= new StatementFailure(failedHere, sent.index, sent.statement);
        else ended.ranOutside.push(sent.index);
        continue;
      }
      const row = 'value' in check ? check.value : undefined;
      if (row && row.xid !== (await xid)) {
        ended = new TransactionEnded(sent.index, sent.statement, failedHere);
        continue;
      }
      if (failedHere !== null) throw new StatementFailure(failedHere, sent.index, sent.statement);
      if (row && !row.locked) throw new LockReleased(sent.index, sent.statement);
      if ('error' in check) throw checkFailure(check.error, sent);
    }
    batch = [];
  };
  for (const [index, statement] of statements.entries()) {
    if (!pipelined) await signalsDelivered(options.signal);
    if (options.signal?.aborted) throw new StatementFailure(new Error('interrupted'), index, statement);
    const copyData = statement.copyData;
    const outcome = caught(copyData ? tx.copyFrom(statement.text, copyData.location ? readCopyData(file, copyData.location) : copyData.text) : tx.exec(statement.text));
    const last = index === statements.length - 1;
    const wait = !pipelined || last || MAY_END_TRANSACTION.test(statement.text);
    // Nothing is sent behind a statement that may end the transaction or start a COPY until it has answered.
    if (wait) await outcome;
    // After the last statement this is the before-commit guard: the history row is sent only once it has answered.
    const check = caught(tx.query<{ xid: string | null; locked: boolean }>(statementCheckSql(ctx.lockKeySql)).then((rows) => rows[0]));
    batch.push({ index, statement, outcome, check });
    if (wait) {
      await settle();
      if (ended) throw ended;
    }
  }
  if (statements.length === 0) {
    const [row] = await tx.query<{ locked: boolean }>(statementCheckSql(ctx.lockKeySql));
    if (row && !row.locked) throw new Error('the migration lock was lost before the migration ran');
  }
  await tx.exec(ctx.restoreSql);
}

/**
 * While a migration's statements run, looks from a second session (Connection.lockWait) at what
 * they wait for: first after a second (or half the lock timeout, if shorter), then every five
 * seconds. Each wait is logged with the sessions in the way; the last one seen names them when a
 * lock timeout ends the migration.
 */
function watchLockWaits(db: Connection, migration: Migration, options: ExecuteOptions): { last: () => string | null; stop: () => void } {
  let last: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const first = options.migrationLockTimeoutMs ? Math.max(50, Math.min(1000, Math.floor(options.migrationLockTimeoutMs / 2))) : 1000;
  const look = async () => {
    const wait = await db.lockWait();
    if (stopped) return;
    if (wait) {
      last = describeLockWait(wait);
      options.logger.info({ migration: `${migration.version}_${migration.name}`, wait }, `${migration.version}_${migration.name} waits for ${last}`);
    }
    timer = setTimeout(look, 5000);
    timer.unref();
  };
  if (db.interruptible) {
    timer = setTimeout(look, first);
    timer.unref();
  }
  return {
    last: () => last,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Transactional up or down: the statements, the history change and the log entry commit together or not at all. */
async function runInTransaction(db: Connection, tables: HistoryTables, migration: Migration, direction: 'up' | 'down', analysis: FileAnalysis, options: ExecuteOptions, ctx: RunContext, next: (sqlstate?: string | null, waitedFor?: string | null) => string): Promise<number> {
  const file = direction === 'up' ? migration.up : migration.down!;
  const pipelined = db.pipelining && !analysis.statements.some((s) => s.copyData);
  const watch = watchLockWaits(db, migration, options);
  let durationMs = 0;
  let recorded: Promise<unknown>[] = [];
  let xid: Promise<string | null> = Promise.resolve(null);
  const started = performance.now();
  try {
    await db.transaction(async (tx) => {
      // The transaction's id (the checks compare it; it tells later whether an ended transaction committed) and the guards travel with BEGIN.
      xid = tx.query<{ xid: string }>('SELECT txid_current()::text AS xid').then((rows) => rows[0]?.xid ?? null, () => null);
      const setup: Promise<unknown>[] = guardSettings(options).map(([name, value]) => tx.query(SET_GUARD_SQL, [name, value, true]));
      const setupOutcomes = Promise.all(setup.map(caught));
      await runGuardedStatements(tx, file, analysis, options, ctx, xid, pipelined);
      for (const outcome of await setupOutcomes) if ('error' in outcome) throw outcome.error;
      durationMs = elapsed(started);
      const history =
        direction === 'up'
          ? tx.query(insertHistorySql(tables), historyValues(migration, 'executed', { durationMs }))
          : tx.query(`${deleteHistorySql(tables)} RETURNING version`, [migration.key]).then((removed) => {
              if (removed.length !== 1) throw new Error(`the history row of ${migration.version} vanished while it was being reverted`);
            });
      const logged = log(tx, tables, direction, { version: migration.version, name: migration.name, checksum: file.checksum, how: 'executed', durationMs });
      recorded = [history, logged].map((p) => p.then(() => null, (error: unknown) => error));
      // Without pipelining, wait here; with it, the history row, the log entry and COMMIT travel together.
      if (!pipelined) await settleRecorded(recorded);
    });
    // An error in the history statements aborted the transaction, and PostgreSQL turned COMMIT into ROLLBACK.
    await settleRecorded(recorded);
  } catch (error) {
    if (error instanceof TransactionEnded) throw await transactionEnded(db, tables, migration, direction, file, analysis, ctx, error, await xid, elapsed(started));
    if (error instanceof LockReleased) throw await lockReleased(db, migration, direction, file, analysis, ctx, error);
    if (options.signal?.aborted) throw interrupted(options.signal, migration, direction, analysis, error);
    if (!(error instanceof StatementFailure) && !(error instanceof PgpairError) && pgErrorFields(error) && !db.lost) {
      // The statements ran; COMMIT failed (a deferred constraint): report it like any SQL error of the file.
      throw await commitFailure(error, { migration, direction, file, analysis, next });
    }
    throw await failure(error, { migration, direction, file, analysis, rolledBack: true, next: (sqlstate) => next(sqlstate, watch.last()) });
  } finally {
    watch.stop();
  }
  return durationMs;
}

async function settleRecorded(recorded: Promise<unknown>[]): Promise<void> {
  for (const outcome of await Promise.all(recorded)) if (outcome) throw outcome;
}

/** COMMIT failed (a deferred constraint, a serialization failure): nothing of the migration was applied. */
async function commitFailure(error: unknown, ctx: { migration: Migration; direction: 'up' | 'down'; file: MigrationFile; analysis: FileAnalysis; next: () => string }): Promise<MigrationFailedError> {
  const pg = pgErrorFields(error)!;
  return new MigrationFailedError({
    version: ctx.migration.version,
    name: ctx.migration.name,
    direction: ctx.direction,
    file: ctx.file.path,
    line: null,
    column: null,
    statement: null,
    pg: { ...pg, message: `at COMMIT: ${pg.message}` },
    excerpt: null,
    rolledBack: true,
    next: ctx.next(),
  });
}

const place = (file: MigrationFile, statement: SqlStatement) => `${file.path}:${statement.line}:${statement.column}`;
const ordinal = (indexes: number[]) => indexes.map((i) => i + 1).join(', ');

/**
 * A statement ended pgpair's transaction. Says what stayed applied (whether the ended transaction
 * committed, from its transaction id; which statements then ran outside any transaction), and
 * marks the version failed unless nothing of it stayed.
 */
async function transactionEnded(db: Connection, tables: HistoryTables, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis, ctx: RunContext, ended: TransactionEnded, xid: string | null, durationMs: number): Promise<unknown> {
  if (db.lost) return ended.failedOutside?.cause ?? new Error('the connection was lost');
  const total = analysis.statements.length;
  await db.exec(ctx.restoreSql).catch(() => {});
  let status: string | null = null;
  if (xid !== null) {
    const rows = await db.query<{ status: string | null }>('SELECT txid_status($1::bigint) AS status', [xid]).catch(() => []);
    status = rows[0]?.status ?? null;
  }
  const committed = status === 'committed';
  const n = ended.index + 1;
  const how = `statement ${n} of ${total} (${place(file, ended.statement)}) ended pgpair's transaction: it holds a COMMIT, END, ROLLBACK or ABORT that pgpair did not see as a statement of its own`;
  const before = status === null ? `whether statements 1–${n} were committed or rolled back is unknown` : committed ? `statements 1–${n} were committed and stay applied` : `statements 1–${n} were rolled back`;
  const ownError = ended.ownError ? pgErrorFields(ended.ownError) : null;
  const parts = [`${migration.version}_${migration.name} (${direction}): ${how}; ${before}${ownError ? ` (then the rest of statement ${n} failed: ${ownError.message})` : ''}.`];
  if (ended.ranOutside.length > 0) parts.push(`Statements ${ordinal(ended.ranOutside)} then ran outside any transaction and stay applied.`);
  if (ended.failedOutside) {
    const pg = pgErrorFields(ended.failedOutside.cause);
    parts.push(`Statement ${ended.failedOutside.index + 1} (${place(file, ended.failedOutside.statement)}) then failed: ${pg ? `${pg.message}${pg.sqlstate ? ` [${pg.sqlstate}]` : ''}` : String(ended.failedOutside.cause)}.`);
  }
  const nothingStayed = !committed && status !== null && ended.ranOutside.length === 0;
  if (nothingStayed) {
    parts.push(`Nothing of ${migration.version} was ${direction === 'up' ? 'applied' : 'reverted'}. Remove the transaction control from the file (pgpair runs each migration in a transaction of its own), then run pgpair ${direction} again.`);
  } else {
    const summary = `${direction} ended pgpair's transaction at statement ${n} of ${total} (${file.path}:${ended.statement.line})${committed ? '; statements before it committed' : ''}${ended.ranOutside.length > 0 ? `; statements ${ordinal(ended.ranOutside)} ran outside a transaction` : ''}`;
    try {
      await db.transaction(async (tx) => {
        if (direction === 'up') {
          await tx.query(insertHistorySql(tables), historyValues(migration, 'executed', { state: 'running', transactional: true, done: n, total }));
        }
        await tx.query(markFailedSql(tables), [migration.key, summary, durationMs]);
        await log(tx, tables, 'failed', { version: migration.version, name: migration.name, checksum: file.checksum, how: 'executed', durationMs, detail: summary });
      });
      parts.push(`${migration.version} is marked failed: check what the statements did, finish or undo it by hand, then run pgpair repair --applied ${migration.version} or pgpair repair --reverted ${migration.version}.`);
    } catch (error) {
      parts.push(`pgpair could not mark ${migration.version} failed (${(error as Error).message}): check the database by hand before running pgpair again.`);
    }
  }
  return new MigrationIntegrityError({
    version: migration.version,
    name: migration.name,
    direction,
    file: file.path,
    line: ended.statement.line,
    column: ended.statement.column,
    statement: n,
    problem: 'transaction-ended',
    rolledBack: nothingStayed,
    message: parts.join('\n'),
  });
}

/** A statement released the migration lock; its transaction was rolled back and the run stops. */
async function lockReleased(db: Connection, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis, ctx: RunContext, released: LockReleased): Promise<unknown> {
  if (!db.lost) await db.exec(ctx.restoreSql).catch(() => {});
  const n = released.index + 1;
  const transactional = analysis.mode === 'transaction';
  return new MigrationIntegrityError({
    version: migration.version,
    name: migration.name,
    direction,
    file: file.path,
    line: released.statement.line,
    column: released.statement.column,
    statement: n,
    problem: 'lock-released',
    rolledBack: transactional,
    message:
      `${migration.version}_${migration.name} (${direction}): statement ${n} of ${analysis.statements.length} (${place(file, released.statement)}) released pgpair's migration lock ` +
      `(pg_advisory_unlock_all(), DISCARD ALL or an unlock of pgpair's key), so another pgpair run could have started beside this one. ` +
      (transactional
        ? `Its transaction was rolled back: nothing of ${migration.version} was ${direction === 'up' ? 'applied' : 'reverted'}. Remove the unlock from the migration, then run pgpair ${direction} again.`
        : `It runs outside a transaction, so statements 1–${n} stay done and ${migration.version} is marked failed. Remove the unlock from the migration, check the database, then run pgpair repair --applied ${migration.version} or --reverted ${migration.version}.`),
  });
}

function signalName(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'an abort signal';
}

/** The error for a step that was stopped by a signal: what happened to it, and what to do next. */
function interrupted(signal: AbortSignal, migration: Migration, direction: 'up' | 'down', analysis: FileAnalysis, error?: unknown): InterruptedError {
  const at = error instanceof StatementFailure ? ` at statement ${error.index + 1} of ${analysis.statements.length}` : '';
  const label = `${migration.version}_${migration.name}`;
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
async function runOutsideTransaction(db: Connection, tables: HistoryTables, migration: Migration, direction: 'up' | 'down', analysis: FileAnalysis, options: ExecuteOptions, ctx: RunContext, next: (sqlstate?: string | null, waitedFor?: string | null) => string): Promise<number> {
  const file = direction === 'up' ? migration.up : migration.down!;
  const total = analysis.statements.length;
  if (direction === 'up') {
    await db.query(insertHistorySql(tables), historyValues(migration, 'executed', { state: 'running', transactional: false, done: 0, total }));
  } else {
    await db.query(markRunningSql(tables), [migration.key, total]);
  }
  const started = performance.now();
  // Progress after each statement, as the login user whatever role the file SET (in one message, one implicit
  // transaction, which the lock guard aborts when the session no longer holds the migration lock). A file with its
  // own BEGIN may be inside its transaction block: there SET LOCAL would outlive this message, so it is left out.
  const asLoginUser = analysis.mode === 'own-transaction' ? '' : `${AS_LOGIN_USER_SQL} `;
  const lockGuard = lockGuardSql(ctx.lockKeySql);
  const watch = watchLockWaits(db, migration, options);
  try {
    await setGuards(db, options, false);
    await runStatements(db, file, analysis, options.signal, async (done) => {
      try {
        await db.exec(`${asLoginUser}${inlineParams(progressSql(tables), [migration.key, done])} ${lockGuard}`);
      } catch (error) {
        if (pgErrorFields(error)?.sqlstate === GUARD_LOCK_LOST) throw new LockReleased(done - 1, analysis.statements[done - 1]!);
        throw error;
      }
    });
    await db.exec(ctx.restoreSql);
    watch.stop();
  } catch (error) {
    watch.stop();
    const mapped =
      error instanceof LockReleased
        ? await lockReleased(db, migration, direction, file, analysis, ctx, error)
        : options.signal?.aborted
          ? interrupted(options.signal, migration, direction, analysis, error)
          : await failure(error, { migration, direction, file, analysis, rolledBack: false, next: (sqlstate) => next(sqlstate, watch.last()) });
    if (db.lost) throw lostDuring(mapped, migration, analysis);
    await leaveAbortedTransaction(db);
    await db.exec(ctx.restoreSql).catch(() => {});
    const statement = error instanceof StatementFailure ? error.index + 1 : null;
    const summary =
      error instanceof LockReleased
        ? `${direction} stopped: statement ${error.index + 1} of ${total} (${file.path}:${error.statement.line}) released the migration lock`
        : mapped instanceof InterruptedError
          ? `${direction} interrupted by ${mapped.reason}${error instanceof StatementFailure ? ` at statement ${error.index + 1} of ${total}` : ''}`
          : mapped instanceof MigrationFailedError
            ? `${direction} failed at statement ${statement} of ${total} (${file.path}:${mapped.line}): ${mapped.pg.message}`
            : `${direction} failed: ${(mapped as Error).message}`;
    await db.transaction(async (tx) => {
      await tx.query(markFailedSql(tables), [migration.key, summary, elapsed(started)]);
      await log(tx, tables, 'failed', { version: migration.version, name: migration.name, checksum: file.checksum, how: 'executed', durationMs: elapsed(started), detail: summary });
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
    await log(tx, tables, direction, { version: migration.version, name: migration.name, checksum: file.checksum, how: 'executed', durationMs, detail: analysis.reason });
  });
  return durationMs;
}

/**
 * Records stamp/unstamp steps on `tx` (inside the caller's transaction): none of them runs migration SQL.
 * At most three statements whatever the number of versions (one pair per version made `stamp head` over
 * 10,000 files take 7 s); the log entries keep the order of the steps.
 */
export async function recordStamp(tx: Queryable, tables: HistoryTables, steps: Step[]): Promise<void> {
  const removed: string[] = [];
  const added: unknown[][] = [];
  const entries: unknown[][] = [];
  for (const step of steps) {
    if (step.action === 'stamp') {
      const m = step.migration;
      added.push(historyValues(m, 'stamped', { transactional: runsInTransaction(m.up) }));
      entries.push(logValues('stamp', { version: m.version, name: m.name, checksum: m.up.checksum, how: 'stamped', durationMs: null }));
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
async function runStamp(db: Connection, tables: HistoryTables, steps: Step[]): Promise<void> {
  await db.transaction((tx) => recordStamp(tx, tables, steps));
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
  const schema: Migration = { version: 'schema', key: 'schema', name: file.name, up: file, down: null };
  try {
    await runStatements(q, file, analysis, options.signal);
  } catch (error) {
    if (!options.inTransaction && !db.lost) await leaveAbortedTransaction(db).catch(() => {});
    throw await failure(error, { migration: schema, direction: 'up', file, analysis, rolledBack: options.inTransaction, next: () => options.next });
  }
}

function whatHappened(done: StepResult[], plan: Plan, failedAt: number, analysis: FileAnalysis, sqlstate?: string | null, waitedFor?: string | null): string {
  const step = plan.steps[failedAt]!;
  const { version } = nameOf(step);
  const verb = plan.command === 'up' ? 'applied' : 'reverted';
  const before = done.length > 0 ? ` ${done.map((d) => d.version).join(', ')} ${done.length === 1 ? 'was' : 'were'} ${verb} before it and ${done.length === 1 ? 'stays' : 'stay'} so.` : '';
  if (analysis.mode === 'transaction') {
    // A lock timeout or a deadlock says nothing about the file: another session was in the way.
    if (sqlstate === '55P03') return `Nothing of ${version} was ${verb} (its transaction was rolled back).${before} The file is fine: a statement waited longer than the lock timeout (--migration-lock-timeout) for ${waitedFor ? `${waitedFor}` : 'a lock another session holds on a table it needs'}. Rerunning is safe: run pgpair ${plan.command} again when that session is done, or raise --migration-lock-timeout.`;
    if (sqlstate === '40P01') return `Nothing of ${version} was ${verb} (its transaction was rolled back).${before} The file is fine: it deadlocked with another session, and PostgreSQL chose to cancel it. Rerunning is safe: run pgpair ${plan.command} again.`;
    return `Nothing of ${version} was ${verb} (its transaction was rolled back).${before} Fix the file and run pgpair ${plan.command} again.`;
  }
  return `${version} ran outside a transaction (${analysis.reason}), so the statements before the failing one stay done; it is now marked failed.${before} Finish or undo it by hand, then run pgpair repair --applied ${version} or pgpair repair --reverted ${version}.`;
}

/** Problems in the files about to run (meta-commands, unterminated quotes or COPY data, unknown directives): all reported before anything runs. */
export function checkFiles(plan: Plan): void {
  const problems: FileProblem[] = [];
  for (const step of plan.steps) {
    if (step.action === 'up') problems.push(...analyzeFile(step.migration.up).problems);
    if (step.action === 'down') problems.push(...analyzeFile(step.migration.down!).problems);
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
      await runStamp(db, tables, plan.steps);
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
  checkFiles(plan);
  // Each migration commits asynchronously (no WAL flush wait per migration); one synchronous commit at the end
  // makes them all durable before the run reports success. A server crash in between can only lose whole,
  // recorded migrations, never part of one: each one's SQL and history row are in the same transaction.
  const relaxed = db.pipelining && plan.steps.length > 1;
  const ctx = await runContext(db, tables, relaxed);
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
      const analysis = analyzeFile(file);
      options.logger.debug({ version, name, action: step.action, mode: analysis.mode, reason: analysis.reason }, `${step.action} ${version}_${name}`);
      options.onStepStart?.({ action: step.action, version, name });
      // Only a failure needs the message; building it for every step would be quadratic in the number of steps.
      const next = (sqlstate?: string | null, waitedFor?: string | null) => whatHappened(results, plan, index, analysis, sqlstate, waitedFor);
      const durationMs =
        analysis.mode === 'transaction'
          ? await runInTransaction(db, tables, step.migration, step.action, analysis, options, ctx, next)
          : await runOutsideTransaction(db, tables, step.migration, step.action, analysis, options, ctx, next);
      const result: StepResult = { action: step.action, version, name, durationMs, mode: analysis.mode };
      results.push(result);
      options.onStep?.(result);
    }
  } finally {
    if (relaxed && !db.lost) await flushCommits(db, results.length > 0, options.logger);
  }
  return results;
}

/** Reads the session state the run starts with, for restoring it after every migration. */
export async function runContext(db: Connection, tables: HistoryTables, relaxedCommits: boolean): Promise<RunContext> {
  const [row] = await db.query<{ session_user: unknown; current_user: unknown; login_user: unknown; settings: unknown }>(CAPTURE_SESSION_SQL);
  const start = sessionStartFromRow(row!);
  return { restoreSql: restoreSessionSql(start, relaxedCommits ? [['synchronous_commit', 'off']] : []), lockKeySql: lockKeySql(tables.display) };
}

/** A lost connection during a non-transactional step: the history row stays `running`, and the user must be told so. */
function lostDuring(error: unknown, migration: Migration, analysis: FileAnalysis): unknown {
  if (!(error instanceof PgpairError) || error.code !== 'E_CONNECTION') return error;
  error.message = `${error.message.replace(/ The server rolled back.*$/, '')} ${migration.version}_${migration.name} was running outside a transaction (${analysis.reason}); its history row says running, and pgpair status shows it as failed. Check what was done, then run pgpair repair --applied ${migration.version} or --reverted ${migration.version}.`;
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
