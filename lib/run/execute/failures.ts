/**
 * What a failed step did, as an error a user can act on: where in the file
 * (FILE:LINE:COLUMN, an excerpt), what stayed applied, and what to do next.
 * The executor (lib/run/executor.ts) runs the program; this is its prose.
 */
import { pgErrorFields } from '../../db/errors.js';
import type { Connection, Queryable } from '../../db/types.js';
import type { FileAnalysis } from '../../core/analyze.js';
import { DatabaseError, InterruptedError, MigrationFailedError, MigrationIntegrityError, PgpairError } from '../../core/errors.js';
import type { Migration, MigrationFile } from '../../core/files.js';
import { historyValues, insertHistorySql, insertLogSql, logValues, markFailedSql, type HistoryTables } from '../../core/history.js';
import type { SqlStatement } from '../../core/lexer.js';
import type { Plan, Step } from '../../core/plan.js';
import { codePointPositionToIndex, excerpt, excerptWindow, formatExcerpt, lineColumnInStatement } from '../../core/position.js';
import { readLines } from '../../read/source.js';
import type { RunContext, StepResult } from './context.js';
import type { Attempts } from './retry.js';

/** A statement failed; carries what is needed to point at it in the file. */
export class StatementFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly index: number,
    readonly statement: SqlStatement,
  ) {
    super('statement failed');
  }
}

/** A statement of the migration ended pgpair's transaction: where, and what ran after it. */
export class TransactionEnded extends Error {
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
export class LockReleased extends Error {
  constructor(
    readonly index: number,
    readonly statement: SqlStatement,
    /** Seen only by the guard before the history row: this statement or one before it released it. */
    readonly unattributed = false,
  ) {
    super('lock released');
  }
}

/**
 * pgpair's check after a statement failed (the migration's own SET statement_timeout applies to it
 * too, as to everything sent in its transaction): reported at that statement, saying what failed.
 */
export function checkFailure(error: unknown, sent: { index: number; statement: SqlStatement }): unknown {
  const pg = pgErrorFields(error);
  if (!pg) return error;
  const cause = Object.assign(Object.create(Object.getPrototypeOf(error) as object) as object, error, {
    message: `pgpair's check after this statement (is the transaction still pgpair's, is the lock still held) failed: ${pg.message}${pg.sqlstate === '57014' ? ' (a statement_timeout the migration set applies to pgpair\'s checks between its statements too)' : ''}`,
    position: undefined,
  });
  return new StatementFailure(cause, sent.index, sent.statement);
}

/** Where in the file a server error points: its position, a function body's internal position, a COPY data line, or the statement itself. */
export function locate(statement: SqlStatement, error: unknown): { line: number; column: number } {
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
export async function excerptOf(file: MigrationFile, line: number, column: number): Promise<string | null> {
  if (!file.large) return excerpt(file.text, line, column);
  const window = excerptWindow(file.large.lineCount, line);
  try {
    return formatExcerpt(await readLines(file, window.first, window.last), window, column);
  } catch {
    return null;
  }
}

export async function failure(
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

/** COMMIT failed (a deferred constraint, a serialization failure): nothing of the migration was applied. */
export async function commitFailure(error: unknown, ctx: { migration: Migration; direction: 'up' | 'down'; file: MigrationFile; analysis: FileAnalysis; next: () => string }): Promise<MigrationFailedError> {
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

export const place = (file: MigrationFile, statement: SqlStatement) => `${file.path}:${statement.line}:${statement.column}`;

export const ordinal = (indexes: number[]) => indexes.map((i) => i + 1).join(', ');

/**
 * A statement ended pgpair's transaction. Says what stayed applied (whether the ended transaction
 * committed, from its transaction id; which statements then ran outside any transaction), and
 * marks the version failed unless nothing of it stayed.
 */
export async function transactionEnded(db: Connection, tables: HistoryTables, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis, ctx: RunContext, ended: TransactionEnded, xid: string | null, durationMs: number): Promise<unknown> {
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
export async function lockReleased(db: Connection, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis, ctx: RunContext, released: LockReleased): Promise<unknown> {
  if (!db.lost) await db.exec(ctx.restoreSql).catch(() => {});
  const n = released.index + 1;
  const transactional = analysis.mode === 'transaction';
  const verb = direction === 'up' ? 'applied' : 'reverted';
  const who = released.unattributed
    ? `statement ${n} of ${analysis.statements.length} (${place(file, released.statement)}) or one before it released pgpair's migration lock ` +
      `(pg_advisory_unlock_all(), DISCARD ALL or an unlock of pgpair's key, perhaps in a function, a trigger or an event trigger)`
    : `statement ${n} of ${analysis.statements.length} (${place(file, released.statement)}) released pgpair's migration lock ` +
      `(pg_advisory_unlock_all(), DISCARD ALL or an unlock of pgpair's key)`;
  const outcome = transactional
      ? `Its transaction was rolled back: nothing of ${migration.version} was ${verb}. Remove the unlock from the migration, then run pgpair ${direction} again.`
      : `It runs outside a transaction, so statements 1–${n} stay done and ${migration.version} is marked failed. Remove the unlock from the migration, check the database, then run pgpair repair --applied ${migration.version} or --reverted ${migration.version}.`;
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
    message: `${migration.version}_${migration.name} (${direction}): ${who}, so another pgpair run could have started beside this one. ${outcome}`,
  });
}

export function signalName(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'an abort signal';
}

/** The error for a step that was stopped by a signal: what happened to it, and what to do next. */
export function interrupted(signal: AbortSignal, migration: Migration, direction: 'up' | 'down', analysis: FileAnalysis, error?: unknown): InterruptedError {
  const at = error instanceof StatementFailure ? ` at statement ${error.index + 1} of ${analysis.statements.length}` : '';
  const label = `${migration.version}_${migration.name}`;
  const message =
    analysis.mode === 'transaction'
      ? `Interrupted by ${signalName(signal)} during ${direction} ${label}${at}: its transaction was rolled back, so nothing of it was ${direction === 'up' ? 'applied' : 'reverted'}. The migration lock was released; run pgpair ${direction} again to continue.`
      : `Interrupted by ${signalName(signal)} during ${direction} ${label}${at}; it runs outside a transaction, so the statements before that stay done and it is marked failed. Finish or undo it by hand, then run pgpair repair --applied ${migration.version} or --reverted ${migration.version}.`;
  return new InterruptedError(signalName(signal), migration.version, message);
}

/** After a failed statement outside pgpair's transaction: leave any transaction the file opened, so the history can be written. */
export async function leaveAbortedTransaction(db: Connection): Promise<void> {
  try {
    await db.query('SELECT 1');
  } catch (error) {
    if (pgErrorFields(error)?.sqlstate === '25P02') await db.exec('ROLLBACK');
    else throw error;
  }
}

export function whatHappened(done: StepResult[], plan: Plan, failedAt: number, analysis: FileAnalysis, sqlstate?: string | null, waitedFor?: string | null, attempts?: Attempts): string {
  const step = plan.steps[failedAt]!;
  const { version } = nameOf(step);
  const verb = plan.command === 'up' ? 'applied' : 'reverted';
  const before = done.length > 0 ? ` ${done.map((d) => d.version).join(', ')} ${done.length === 1 ? 'was' : 'were'} ${verb} before it and ${done.length === 1 ? 'stays' : 'stay'} so.` : '';
  const lock = sqlstate === '55P03' || sqlstate === '40P01' ? lockAdvice(sqlstate, plan.command, waitedFor, attempts, analysis.mode === 'transaction') : null;
  if (analysis.mode === 'transaction') {
    // A lock timeout or a deadlock says nothing about the file: another session was in the way.
    if (lock) return `Nothing of ${version} was ${verb} (its transaction was rolled back).${before} ${lock}`;
    return `Nothing of ${version} was ${verb} (its transaction was rolled back).${before} Fix the file and run pgpair ${plan.command} again.`;
  }
  const rolledBack = analysis.mode === 'own-transaction' ? 'The transaction the file opened was rolled back at that statement (a file with its own BEGIN/COMMIT is not retried).' : 'That statement itself was rolled back.';
  const failing = lock ? ` ${rolledBack} ${lock}${attempts?.note ? ` ${attempts.note}` : ''}` : '';
  return `${version} ran outside a transaction (${analysis.reason}), so the statements before the failing one stay done; it is now marked failed.${before}${failing} Finish or undo it by hand, then run pgpair repair --applied ${version} or pgpair repair --reverted ${version}.`;
}

/**
 * A lock timeout or a deadlock: how often it was tried, what it waited for (the table and the
 * session holding the lock, as a second session saw it), and what to do about it.
 */
function lockAdvice(sqlstate: '55P03' | '40P01', command: string, waitedFor: string | null | undefined, attempts: Attempts | undefined, rerunSafe: boolean): string {
  const made = attempts?.made ?? 1;
  const rerun = rerunSafe ? ` Rerunning is safe: run pgpair ${command} again${sqlstate === '55P03' ? ' when that session is done' : ''}.` : '';
  const tried = made > 1 ? `it was tried ${made} times (--lock-retries ${attempts?.retries}), ` : attempts && attempts.retries === 0 ? 'it was not retried (--lock-retries 0), ' : '';
  const timeout = attempts ? `--migration-lock-timeout, ${attempts.lockTimeoutMs} ms` : '--migration-lock-timeout';
  const pid = /held by pid (\d+)/.exec(waitedFor ?? '')?.[1];
  const find = pid
    ? `See what pid ${pid} does (SELECT pid, application_name, usename, state, xact_start, query FROM pg_stat_activity WHERE pid = ${pid}) and let its transaction end (or end it: SELECT pg_terminate_backend(${pid}))`
    : 'Find the session in the way (pg_stat_activity, pg_locks) and let its transaction end';
  if (sqlstate === '40P01') {
    return `The file is fine: ${tried}it deadlocked with another session${made > 1 ? ' every time' : ''}, and PostgreSQL chose to cancel it. ${find}, or raise --lock-retries.${rerun}`;
  }
  return (
    `The file is fine: ${tried}${made > 1 ? 'each time ' : ''}a statement waited longer than the lock timeout (${timeout}) for ${waitedFor ? `${waitedFor}` : 'a lock another session holds on a table it needs'}. ` +
    `${find}, or raise --migration-lock-timeout or --lock-retries.${rerun}`
  );
}

/** A lost connection during a non-transactional step: the history row stays `running`, and the user must be told so. */
export function lostDuring(error: unknown, migration: Migration, analysis: FileAnalysis): unknown {
  if (!(error instanceof PgpairError) || error.code !== 'E_CONNECTION') return error;
  error.message = `${error.message.replace(/ The server rolled back.*$/, '')} ${migration.version}_${migration.name} was running outside a transaction (${analysis.reason}); its history row says running, and pgpair status shows it as failed. Check what was done, then run pgpair repair --applied ${migration.version} or --reverted ${migration.version}.`;
  return error;
}

export function wrapDatabaseError(error: unknown, context: string): unknown {
  if (error instanceof PgpairError) return error;
  const pg = pgErrorFields(error);
  return pg ? new DatabaseError(context, pg) : error;
}

export async function log(q: Queryable, tables: HistoryTables, action: string, m: { version: string; name: string; checksum: string | null; how: string | null; durationMs: number | null; detail?: string | null }) {
  await q.query(insertLogSql(tables), logValues(action, m));
}

export function nameOf(step: Step): { version: string; name: string } {
  return step.action === 'unstamp' ? { version: step.row.version, name: step.row.name } : { version: step.migration.version, name: step.migration.name };
}
