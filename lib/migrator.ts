/**
 * Orchestration: read files → connect → lock → read history → plan → execute.
 * These functions are the library API; they return data and throw
 * PgpairErrors, and never print or exit.
 */
import pino, { type Logger } from 'pino';
import { analyzeFile } from './analyze.js';
import { connect } from './db/index.js';
import type { Connection, Notice } from './db/types.js';
import { ConfigError, TargetError, UsageError, VerificationError, type VerifyProblem } from './errors.js';
import { executePlan, wrapDatabaseError, type StepResult } from './executor.js';
import type { MigrationFile, MigrationSet } from './files.js';
import { createHistorySql, historyTables, readHistory, type HistoryRow, type HistoryTables } from './history.js';
import { parseTableName, type TableName } from './ident.js';
import { withLock } from './lock.js';
import { PGPAIR_VERSION } from './meta.js';
import { planDown, planStamp, planUp, parseTarget, type Plan, type Target } from './plan.js';
import { renderScript } from './render.js';
import { ensureDirectory, readMigrations, writeNewFile } from './source.js';
import { computeStatus, verifyProblems, type StatusReport } from './status.js';
import { compareVersions, isVersion, versionKey } from './version.js';

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

const silent = pino({ level: 'silent' });

function tableOf(options: Pick<BaseOptions, 'table'>): TableName {
  const text = options.table ?? DEFAULT_TABLE;
  const table = parseTableName(text);
  if (!table) throw new ConfigError(`Invalid history table name "${text}": use name or schema.name (quote parts with "…" if they hold dots).`);
  return table;
}

function toTarget(target: string | Target | undefined): Target | undefined {
  return typeof target === 'string' ? parseTarget(target) : target;
}

interface Session {
  db: Connection;
  tables: HistoryTables;
  files: MigrationSet;
  logger: Logger;
  /** The migration whose SQL is running, for notices. */
  running: { version: string; name: string } | null;
}

/** Reads the directory first (so file errors come before any database work), then connects; always closes. */
async function withSession<T>(options: BaseOptions, fn: (session: Session) => Promise<T>): Promise<T> {
  const logger = options.logger ?? silent;
  const table = tableOf(options);
  const files = await readMigrations(options.dir ?? DEFAULT_DIR);
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

async function ensureHistory(session: Session): Promise<void> {
  const { exists } = await readHistory(session.db, session.tables);
  if (exists) return;
  try {
    await session.db.transaction((tx) => tx.exec(createHistorySql(session.tables)));
  } catch (error) {
    throw wrapDatabaseError(error, `Cannot create the history table ${session.tables.display}`);
  }
  session.logger.info({ table: session.tables.display }, `created history table ${session.tables.display} and its log ${session.tables.schema}.${session.tables.logName}`);
}

async function currentStatus(session: Session): Promise<StatusReport> {
  const { rows } = await readHistory(session.db, session.tables);
  const versionNum = session.db.server.versionNum;
  return computeStatus(session.files.migrations, rows, (m) => analyzeFile(m.up, versionNum).mode === 'transaction');
}

/** Lock, make sure the history exists, plan from the freshly read state, execute. */
async function run(options: RunOptions, makePlan: (report: StatusReport) => Plan): Promise<RunResult> {
  return withSession(options, async (session) => {
    const lockOptions = { timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, logger: session.logger, ...(options.signal ? { signal: options.signal } : {}) };
    const onAbort = () => {
      session.logger.warn(`${String(options.signal?.reason ?? 'abort')}: stopping; the statement in progress is cancelled and its transaction rolled back`);
      void session.db.cancel();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    return withLock(session.db, session.tables, lockOptions, async () => {
      await ensureHistory(session);
      const plan = makePlan(await currentStatus(session));
      const steps = await executePlan(session.db, session.tables, plan, {
        logger: session.logger,
        serverVersionNum: session.db.server.versionNum,
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
  serverVersionNum: number | undefined;
  source: string;
}

/** `--from`: the history that a database at FROM holds, built from the files alone. */
async function assumedState(options: ScriptOptions, from: string): Promise<StartingState> {
  if (from !== 'base' && !isVersion(from)) throw new UsageError(`Invalid --from "${from}": use a version number (e.g. 0003) or base.`);
  const table = tableOf(options);
  const files = await readMigrations(options.dir ?? DEFAULT_DIR);
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
    name: m.slug,
    upChecksum: m.up.checksum,
    downChecksum: m.down?.checksum ?? null,
    how: 'executed',
    state: 'ok',
    transactional: analyzeFile(m.up).mode === 'transaction',
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
    serverVersionNum: undefined,
    source: `assumed from the files alone (--from ${from}): ${described}; no database was read`,
  };
}

/** Without `--from`: the history as the database holds it, read in a read-only session (no lock, nothing created). */
async function readState(options: ScriptOptions): Promise<StartingState> {
  if (!options.url) throw new ConfigError('A script needs the current state of the database: give a database URL, or --from VERSION|base to work from the files alone.');
  return withSession({ ...options, url: options.url }, async (session) => {
    // Belt and braces: this session must not change anything, whatever happens below.
    await session.db.exec('SET default_transaction_read_only = on');
    const { exists, rows } = await readHistory(session.db, session.tables);
    return {
      files: session.files,
      tables: session.tables,
      rows,
      tableExists: exists,
      assumed: false,
      serverVersionNum: session.db.server.versionNum,
      source: `read from ${session.db.displayUrl} (${exists ? `${rows.length} version${rows.length === 1 ? '' : 's'} recorded` : 'no history table yet'})`,
    };
  });
}

/**
 * The psql script that takes the database where `up`, `down` or `stamp` with
 * the same options would: same plan, same statements, same history and log
 * rows (how = 'script' for executed steps). Writes nothing; with `from`, makes
 * no connection at all.
 */
export async function script(options: ScriptOptions): Promise<ScriptResult> {
  if (options.command === 'stamp' && options.target === undefined) throw new UsageError('pgpair stamp needs a TARGET: a version, head or base.');
  const planner = options.command === 'up' ? upPlanner(options) : options.command === 'down' ? downPlanner(options) : stampPlanner({ target: options.target! });
  const state = options.from !== undefined ? await assumedState(options, options.from) : await readState(options);
  const analyze = (file: MigrationFile) => (state.serverVersionNum === undefined ? analyzeFile(file) : analyzeFile(file, state.serverVersionNum));
  const report = computeStatus(state.files.migrations, state.rows, (m) => analyze(m.up).mode === 'transaction');
  const plan = planner(report);
  const text = renderScript({
    plan,
    tables: state.tables,
    history: { rows: state.rows, assumed: state.assumed, tableExists: state.tableExists },
    analyze,
    generatedAt: options.generatedAt ?? new Date(),
    source: state.source,
    ...(options.request !== undefined ? { request: options.request } : {}),
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
  });
  (options.logger ?? silent).info({ command: plan.command, from: plan.from, to: plan.to, steps: plan.steps.length }, `script: ${plan.command} from ${plan.from ?? 'base'} to ${plan.to ?? 'base'}, ${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}; nothing was run`);
  return { text, plan };
}

/** Every migration with its state. Read-only: creates nothing, takes no lock. */
export function status(options: BaseOptions): Promise<StatusReport> {
  return withSession(options, currentStatus);
}

export interface VerifyResult {
  ok: boolean;
  problems: VerifyProblem[];
  report: StatusReport;
}

/** Compares files and history; `strict` also counts pending versions. Never throws for disagreement: see `ok`. */
export async function verify(options: BaseOptions & { strict?: boolean }): Promise<VerifyResult> {
  const report = await status(options);
  const problems = verifyProblems(report, { strict: options.strict ?? false });
  return { ok: problems.length === 0, problems, report };
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
export async function create(options: { dir?: string; slug: string }): Promise<CreateResult> {
  const dir = options.dir ?? DEFAULT_DIR;
  if (!SLUG.test(options.slug) || /\.(up|down)$/.test(options.slug) || options.slug.endsWith('.sql')) {
    throw new UsageError(`Invalid migration name "${options.slug}": use letters, digits, '_', '-' and '.', starting with a letter or digit (e.g. add_users).`);
  }
  await ensureDirectory(dir);
  const files = await readMigrations(dir);
  const newest = files.migrations[files.migrations.length - 1];
  let version = '0001';
  if (newest) {
    const next = (BigInt(versionKey(newest.version)) + 1n).toString();
    version = next.padStart(newest.version.length, '0');
  }
  const base = `${dir.replace(/\/+$/, '')}/${version}_${options.slug}`;
  const upPath = `${base}.up.sql`;
  const downPath = `${base}.down.sql`;
  await writeNewFile(upPath, `-- ${version}_${options.slug}: apply.\n-- Runs in one transaction together with its history row.\n\n`);
  await writeNewFile(downPath, `-- ${version}_${options.slug}: revert what the up file did.\n-- Delete this file if the migration cannot be reverted.\n\n`);
  return { version, up: upPath, down: downPath };
}

export interface RepairOptions extends RunOptions {
  /** A failed version that a person finished by hand: mark it applied. */
  applied?: string;
  /** A failed version that a person undid by hand: remove it from the history. */
  reverted?: string;
  /** A changed (edited after apply) version whose current files are accepted: record their checksums. */
  accept?: string;
}

export interface RepairResult {
  action: 'applied' | 'reverted' | 'accept';
  version: string;
  name: string;
  /** What the history said before. */
  before: { state: string; upChecksum: string; error: string | null };
  database: string;
}

/** Resolves a failed version or accepts a changed checksum, after a person fixed things by hand. Logged. */
export async function repair(options: RepairOptions): Promise<RepairResult> {
  const chosen = (['applied', 'reverted', 'accept'] as const).filter((k) => options[k] !== undefined);
  if (chosen.length !== 1) throw new UsageError('pgpair repair needs exactly one of --applied VERSION, --reverted VERSION or --accept VERSION.');
  const action = chosen[0]!;
  const version = String(options[action]);
  if (!/^[0-9]+$/.test(version)) throw new UsageError(`Invalid version "${version}" for --${action}: use the version number, e.g. 0003.`);
  return withSession(options, async (session) =>
    withLock(session.db, session.tables, { timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, logger: session.logger }, async () => {
      await ensureHistory(session);
      const report = await currentStatus(session);
      const entry = report.migrations.find((m) => m.key === versionKey(version) && m.row);
      if (!entry || !entry.row) throw new TargetError(version, `Version ${version} is not recorded in ${session.tables.display}; there is nothing to repair. pgpair status shows what is recorded.`);
      const row = entry.row;
      const t = session.tables;
      const logSql = (await import('./history.js')).insertLogSql(t);
      const { PGPAIR_VERSION } = await import('./meta.js');
      if (action === 'applied' || action === 'reverted') {
        if (row.state === 'ok') throw new UsageError(`Version ${entry.version} is not failed (it is ${entry.state}); --${action} only resolves a failed or interrupted version.`);
        const detail = `marked ${action} by hand; was ${row.state}${row.error ? `: ${row.error}` : ''}`;
        await session.db.transaction(async (tx) => {
          if (action === 'applied') {
            await tx.query(`UPDATE ${t.history} SET state = 'ok', error = NULL, statements_done = statements_total WHERE version = $1`, [row.key]);
          } else {
            await tx.query(`DELETE FROM ${t.history} WHERE version = $1`, [row.key]);
          }
          await tx.query(logSql, ['repair', row.version, row.name, row.upChecksum, row.how, null, detail, PGPAIR_VERSION]);
        });
      } else {
        if (!entry.migration) throw new UsageError(`Version ${entry.version} has no file in ${session.files.dir}; there is no checksum to accept. Restore the file first.`);
        if (entry.state !== 'changed' && !entry.downChanged) throw new UsageError(`Version ${entry.version} has not changed since it was recorded; nothing to accept.`);
        const m = entry.migration;
        const detail = `accepted edited files: up ${row.upChecksum} -> ${m.up.checksum}; down ${row.downChecksum ?? 'none'} -> ${m.down?.checksum ?? 'none'}`;
        await session.db.transaction(async (tx) => {
          await tx.query(`UPDATE ${t.history} SET up_checksum = $2, down_checksum = $3 WHERE version = $1`, [row.key, m.up.checksum, m.down?.checksum ?? null]);
          await tx.query(logSql, ['repair', row.version, row.name, m.up.checksum, row.how, null, detail, PGPAIR_VERSION]);
        });
      }
      return { action, version: entry.version, name: entry.name, before: { state: row.state, upChecksum: row.upChecksum, error: row.error }, database: session.db.displayUrl };
    }),
  );
}
