/**
 * A session of a command: the migration directory read and validated, one
 * connection, the history table's names. Shared by every command that talks
 * to the database; always closes what it opened.
 */
import type { Logger } from 'pino';
import { createLogger } from './logger.js';
import { connect } from '../db/index.js';
import type { Connection, Notice } from '../db/types.js';
import { ConfigError, DatabaseError, HistoryTableError, InterruptedError, PgpairError } from '../core/errors.js';
import type { StepResult } from './executor.js';
import type { MigrationSet } from '../core/files.js';
import { createHistorySql, historyLogProblem, historyTables, type HistoryRow, type HistoryTables } from '../core/history.js';
import { readHistory } from './read-history.js';

export { historyLogProblem } from '../core/history.js';
import { MAX_TABLE_NAME_BYTES, parseTableName, quoteIdent, type TableName } from '../core/ident.js';
import type { Plan } from '../core/plan.js';
import { readMigrations, type ReadOptions } from '../read/source.js';
import { computeStatus, type StatusReport } from '../core/status.js';

export const DEFAULT_DIR = 'sql';
export const DEFAULT_TABLE = 'pgpair_history';
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

export interface BaseOptions {
  /** Database URL: postgres://…, postgresql://…, pglite:PATH or pglite:memory. */
  url: string;
  /** Migration directory; default `sql`. */
  dir?: string;
  /** History table, `[schema.]name`; default `pgpair_history` in the current schema. */
  table?: string;
  /** pino logger for progress, notices and lock waits; default: silent. */
  logger?: Logger;
  /** Seconds to wait for a connection; default 10. */
  connectTimeout?: number;
  /**
   * Aborting it stops the command at once, whatever it is doing: reading the files, connecting,
   * waiting for the lock, or running a statement (which is cancelled on the server). The call
   * then rejects with an InterruptedError whose reason is the abort reason (e.g. 'SIGINT').
   */
  signal?: AbortSignal;
  /**
   * Files larger than this (bytes) are read in pieces, never held whole: their COPY data is
   * read from disk as it runs. Default 8 MiB; tests set it low to take that path with small files.
   */
  largeFileBytes?: number;
}

/** What a call that changes the database may set for itself (a migrator's up, down and stamp; the one-shot functions). */
export interface RunCallOptions {
  /** How long to wait for another run's migration lock; default 60 000 ms. */
  lockTimeoutMs?: number;
  /** statement_timeout for migration SQL, ms. */
  statementTimeoutMs?: number;
  /** lock_timeout for migration SQL, ms: DDL waiting on a busy table fails fast. Default 5 000; 0 = no limit. */
  migrationLockTimeoutMs?: number;
  /**
   * How often a migration that fails on a lock timeout or a deadlock is tried again (a
   * transactional one as a whole, a statement of a non-transactional one on its own), each
   * attempt with the same lock_timeout, after a pause doubling from `lockRetryBaseMs` (capped at
   * 30 s, with jitter). Default 5; 0 = never.
   */
  lockRetries?: number;
  /** The first pause before a lock retry, ms; default 1 000. For tests: production has no reason to change it. */
  lockRetryBaseMs?: number;
  /** How often a migration statement that waits for a lock is logged with the sessions holding it, ms; default 5 000. */
  lockWaitLogMs?: number;
  /** Called after each migration is applied, reverted or stamped. */
  onStep?: (result: StepResult) => void;
  /**
   * Aborting it stops the run safely: the statement in progress is cancelled
   * on the server, its transaction rolls back, the lock is released, and the
   * call rejects with an InterruptedError. The abort reason (e.g. 'SIGINT') is
   * named in the message.
   */
  signal?: AbortSignal;
  /**
   * Create the schema of `table` (schema.name) when it does not exist, in the
   * transaction that creates the history tables. Without it a missing schema is
   * an error: a mistyped --table must not start a second, empty history.
   */
  createSchema?: boolean;
  /**
   * up only: lint the migrations about to run first (lib/run/lint.ts) and log the findings as
   * warnings; level 'error' refuses to start (LintRefusedError, nothing applied) while an
   * error-level finding remains. Absent: no lint.
   */
  lint?: { level: 'warn' | 'error'; minRows?: number | undefined };
  /**
   * false: do not look, from a second short-lived session, at what a slow migration statement
   * waits for (the log lines naming the sessions in the way). A fleet sets it so that it holds
   * exactly one connection per running target. Default true.
   */
  watchLockWaits?: boolean;
}

export interface RunOptions extends BaseOptions, RunCallOptions {}

export interface RunResult {
  command: Plan['command'];
  /** Current version before the run, as spelled; null for base. */
  from: string | null;
  /** Current version after the run. */
  to: string | null;
  steps: StepResult[];
  database: string;
}

export const silent = createLogger({ level: 'silent' });

export function tableOf(options: Pick<BaseOptions, 'table'>): TableName {
  const text = options.table ?? DEFAULT_TABLE;
  const table = parseTableName(text);
  if (!table) throw new ConfigError(`Invalid history table name "${text}": use name or schema.name (quote parts with "…" if they hold dots; a name of at most ${MAX_TABLE_NAME_BYTES} bytes, a schema of at most 63).`);
  return table;
}

/** How to read the migration files, from the options. */
export function readOptions(options: Pick<BaseOptions, 'largeFileBytes'>): ReadOptions {
  return options.largeFileBytes !== undefined ? { largeFileBytes: options.largeFileBytes } : {};
}

export interface Session {
  db: Connection;
  tables: HistoryTables;
  files: MigrationSet;
  logger: Logger;
  /** The migration whose SQL is running, for notices. */
  running: { version: string; name: string } | null;
  /** RunOptions.createSchema: ensureHistory may create the tables' schema. */
  createSchema: boolean;
}

/** Where a session's notices go: the logger, named after the migration running (`running()`), at a level by severity. */
export function noticeLogger(logger: Logger, running: () => Session['running']): (notice: Notice) => void {
  return (notice) => {
    const now = running();
    const from = now ? `${now.version}_${now.name}` : undefined;
    const level = notice.severity === 'WARNING' ? 'warn' : notice.severity === 'DEBUG' || notice.severity === 'LOG' ? 'debug' : 'info';
    logger[level]({ migration: from, severity: notice.severity, detail: notice.detail, hint: notice.hint }, `${from ? `${from}: ` : ''}${notice.severity}: ${notice.message}`);
  };
}

/** A Session on `db`; refuses a connection without a current schema when the table names none. */
export function sessionOn(db: Connection, files: MigrationSet, table: TableName, logger: Logger, createSchema: boolean): Session {
  if (db.server.schema === null && table.schema === null) {
    throw new ConfigError(`The connection has no current schema (search_path names no existing schema), so pgpair cannot place its history table; pass --table schema.${table.name}.`);
  }
  return { db, tables: historyTables(table, db.server.schema ?? 'public'), files, logger, running: null, createSchema };
}

/**
 * Runs `fn` with `signal` cancelling the statement in progress on `db` when it is aborted, and a
 * failure that the abort caused reported as an InterruptedError.
 */
export async function underSignal<T>(db: Connection, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  // Whatever the command is doing when the signal comes, the statement in progress is cancelled on the server.
  const onAbort = () => void db.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // A driver that cannot give up a connection attempt half-way (the embedded one) is asked here.
    if (signal?.aborted) throw interruptedBefore(signal, `after connecting to ${db.displayUrl}, before any work`);
    return await fn();
  } catch (error) {
    // A statement cancelled by the abort fails with the server's "canceling statement due to user request": say what happened instead.
    const cancelled = (error as { pg?: { sqlstate?: unknown } } | null)?.pg?.sqlstate === '57014';
    if (signal?.aborted && (!(error instanceof PgpairError) || error instanceof DatabaseError || cancelled)) {
      const reason = String(signal.reason ?? 'an abort signal');
      const cause = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.replace(/\.$/, '');
      throw new InterruptedError(reason, null, `Interrupted by ${reason} (${cause}); the statement in progress was cancelled and nothing of it was kept. Run pgpair status to see where the database stands.`);
    }
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Reads the directory first (so file errors come before any database work), then connects; always closes.
 * `readOnly`: the command only reads, so no database may be created (an embedded one that does not exist yet reads as empty).
 */
export async function withSession<T>(options: BaseOptions & Pick<RunOptions, 'createSchema'> & { readOnly?: boolean }, fn: (session: Session) => Promise<T>): Promise<T> {
  const logger = options.logger ?? silent;
  const table = tableOf(options);
  const signal = options.signal;
  const files = await readMigrations(options.dir ?? DEFAULT_DIR, readOptions(options));
  if (signal?.aborted) throw interruptedBefore(signal, 'before connecting');
  let session: Session | null = null;
  const onNotice = noticeLogger(logger, () => session?.running ?? null);
  const db = await connect({ url: options.url, onNotice, connectTimeout: options.connectTimeout ?? 10, readOnly: options.readOnly ?? false, ...(signal ? { signal } : {}) });
  try {
    return await underSignal(db, signal, async () => {
      session = sessionOn(db, files, table, logger, options.createSchema ?? false);
      return fn(session);
    });
  } finally {
    await db.close();
  }
}

export function interruptedBefore(signal: AbortSignal, when: string): InterruptedError {
  const reason = String(signal.reason ?? 'an abort signal');
  return new InterruptedError(reason, null, `Interrupted by ${reason} ${when}; nothing was done.`);
}

/**
 * The history's schema does not exist. Read-only commands say so too: reporting
 * every migration as pending under a mistyped --table would mislead.
 */
export function missingSchemaError(t: HistoryTables, writing: boolean): HistoryTableError {
  const fix = writing
    ? `pass --create-schema to create it (with the history table, in one transaction), or fix --table`
    : `fix --table, or create it with the first pgpair up --create-schema (or stamp/load --create-schema)`;
  return new HistoryTableError(t.display, 'missing-schema', `The schema ${quoteIdent(t.schema ?? '')} of the history table ${t.display} does not exist, so no migration has been recorded there: ${fix}.`);
}

/**
 * Creates the history table and its log when missing; returns the history rows (none when it was just created).
 * Refuses (HistoryTableError, exit 2) a table of that name that pgpair did not create, a missing schema
 * (unless the session may create it), and a history whose log or its guard is gone.
 */
export async function ensureHistory(session: Session): Promise<HistoryRow[]> {
  const t = session.tables;
  const state = await readHistory(session.db, t);
  if (state.exists) {
    const problem = historyLogProblem(t, state);
    if (problem) throw problem;
    return state.rows;
  }
  if (!state.schemaExists && !session.createSchema) throw missingSchemaError(t, true);
  try {
    await session.db.transaction((tx) => tx.exec(createHistorySql(t, { createSchema: session.createSchema })));
  } catch (error) {
    // The executor's wrapper, loaded on this failure only: a run that creates nothing never needs it.
    throw (await import('./executor.js')).wrapDatabaseError(error, `Cannot create the history table ${t.display}`);
  }
  session.logger.info({ table: t.display }, `created ${state.schemaExists ? '' : `schema ${t.schema}, `}history table ${t.display} and its log ${t.schema}.${t.logName}`);
  return [];
}

/**
 * Files against history; `known` are rows just read (by ensureHistory), to save reading them again.
 * Creates nothing. A missing schema is an error; a damaged log only a warning, as reading is safe.
 */
export async function currentStatus(session: Session, known?: HistoryRow[]): Promise<StatusReport> {
  let rows = known;
  if (!rows) {
    const state = await readHistory(session.db, session.tables, { damagedLog: 'report' });
    if (!state.schemaExists) throw missingSchemaError(session.tables, false);
    const problem = historyLogProblem(session.tables, state);
    if (problem) session.logger.warn({ table: session.tables.display, problem: problem.problem }, problem.message);
    rows = state.rows;
  }
  return computeStatus(session.files.migrations, rows);
}
