/**
 * A session of a command: the migration directory read and validated, one
 * connection, the history table's names. Shared by every command that talks
 * to the database; always closes what it opened.
 */
import type { Logger } from 'pino';
import { createLogger } from './logger.js';
import { runsInTransaction } from './analyze.js';
import { connect } from './db/index.js';
import type { Connection, Notice } from './db/types.js';
import { ConfigError } from './errors.js';
import { wrapDatabaseError, type StepResult } from './executor.js';
import type { MigrationSet } from './files.js';
import { createHistorySql, historyTables, readHistory, type HistoryRow, type HistoryTables } from './history.js';
import { MAX_TABLE_NAME_BYTES, parseTableName, type TableName } from './ident.js';
import type { Plan } from './plan.js';
import { readMigrations, type ReadOptions } from './source.js';
import { computeStatus, type StatusReport } from './status.js';

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
   * Files larger than this (bytes) are read in pieces, never held whole: their COPY data is
   * read from disk as it runs. Default 8 MiB; tests set it low to take that path with small files.
   */
  largeFileBytes?: number;
}

export interface RunOptions extends BaseOptions {
  /** How long to wait for another run's migration lock; default 60 000 ms. */
  lockTimeoutMs?: number;
  /** statement_timeout for migration SQL, ms. */
  statementTimeoutMs?: number;
  /** lock_timeout for migration SQL, ms: DDL waiting on a busy table fails fast. */
  migrationLockTimeoutMs?: number;
  /** Called after each migration is applied, reverted or stamped. */
  onStep?: (result: StepResult) => void;
  /**
   * Aborting it stops the run safely: the statement in progress is cancelled
   * on the server, its transaction rolls back, the lock is released, and the
   * call rejects with an InterruptedError. The abort reason (e.g. 'SIGINT') is
   * named in the message.
   */
  signal?: AbortSignal;
}

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
}

/** Reads the directory first (so file errors come before any database work), then connects; always closes. */
export async function withSession<T>(options: BaseOptions, fn: (session: Session) => Promise<T>): Promise<T> {
  const logger = options.logger ?? silent;
  const table = tableOf(options);
  const files = await readMigrations(options.dir ?? DEFAULT_DIR, readOptions(options));
  const session: Partial<Session> & { running: Session['running'] } = { running: null, files, logger };
  const onNotice = (notice: Notice) => {
    const from = session.running ? `${session.running.version}_${session.running.name}` : undefined;
    const level = notice.severity === 'WARNING' ? 'warn' : notice.severity === 'DEBUG' || notice.severity === 'LOG' ? 'debug' : 'info';
    logger[level]({ migration: from, severity: notice.severity, detail: notice.detail, hint: notice.hint }, `${from ? `${from}: ` : ''}${notice.severity}: ${notice.message}`);
  };
  const db = await connect({ url: options.url, onNotice, connectTimeout: options.connectTimeout ?? 10 });
  try {
    if (db.server.schema === null && table.schema === null) {
      throw new ConfigError(`The connection has no current schema (search_path names no existing schema), so pgpair cannot place its history table; pass --table schema.${table.name}.`);
    }
    session.db = db;
    session.tables = historyTables(table, db.server.schema ?? 'public');
    return await fn(session as Session);
  } finally {
    await db.close();
  }
}

/** Creates the history table and its log when missing; returns the history rows (none when it was just created). */
export async function ensureHistory(session: Session): Promise<HistoryRow[]> {
  const { exists, rows } = await readHistory(session.db, session.tables);
  if (exists) return rows;
  try {
    await session.db.transaction((tx) => tx.exec(createHistorySql(session.tables)));
  } catch (error) {
    throw wrapDatabaseError(error, `Cannot create the history table ${session.tables.display}`);
  }
  session.logger.info({ table: session.tables.display }, `created history table ${session.tables.display} and its log ${session.tables.schema}.${session.tables.logName}`);
  return [];
}

/** Files against history; `known` are rows just read (by ensureHistory), to save reading them again. */
export async function currentStatus(session: Session, known?: HistoryRow[]): Promise<StatusReport> {
  const rows = known ?? (await readHistory(session.db, session.tables)).rows;
  const versionNum = session.db.server.versionNum;
  return computeStatus(session.files.migrations, rows, (m) => runsInTransaction(m.up, versionNum));
}

