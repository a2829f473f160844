/**
 * `load`: bootstrap an empty database from the base schema (schema.sql, or
 * pg_dump output) and record the version it corresponds to.
 *
 * pgpair's own tables are created after the file has run, never before: a
 * pg_dump of a database that pgpair manages creates them itself, with the
 * history and log rows it recorded, and that history is then adopted as it
 * was (a conflicting --stamp is refused). Otherwise the tables are created and
 * the declared version stamped. When the file can run in a transaction, all of
 * it commits together, so a failed load leaves the database as it was; when it
 * cannot, its statements run one by one and pgpair creates and records nothing
 * unless they all succeed.
 */
import type { FileAnalysis } from '../core/analyze.js';
import type { Queryable } from '../db/types.js';
import { DirectoryError, InterruptedError, PgpairError, UsageError } from '../core/errors.js';
import { loadSchema, recordStamp, wrapDatabaseError } from './executor.js';
import { BASE_SCHEMA_FILE } from '../core/files.js';
import { createHistorySql, guardName, insertLogSql, type HistoryRow, type HistoryTables } from '../core/history.js';
import { readHistory } from './read-history.js';
import { quoteIdent } from '../core/ident.js';
import { withLock } from './lock.js';
import { PGPAIR_VERSION } from '../core/meta.js';
import { parseTarget, planStamp, type Target } from '../core/plan.js';
import { DEFAULT_DIR, DEFAULT_LOCK_TIMEOUT_MS, historyLogProblem, missingSchemaError, readOptions, tableOf, withSession, type RunOptions, type RunResult, type Session } from './session.js';
import { readSqlFile } from '../read/source.js';
import { computeStatus, verifyProblems } from '../core/status.js';

export interface LoadOptions extends RunOptions {
  /** The base schema; default `<dir>/schema.sql`. */
  file?: string;
  /** The version to stamp; default the file's `-- pgpair:version N` directive. */
  stamp?: string;
}

export interface LoadResult extends RunResult {
  file: string;
  statements: number;
  durationMs: number;
  /**
   * The versions of the history that the file itself created (a pg_dump of a
   * database pgpair manages), adopted as they were recorded: nothing was
   * stamped then. null when the load stamped the declared version instead.
   */
  adopted: string[] | null;
}

/**
 * User objects in the database: a load refuses to run on top of any. pgpair's
 * own history table, its log (with the log's identity sequence) and the log's
 * guard function do not count, nor do objects of extensions.
 * $1 schema, $2 history table, $3 log table, $4 guard function.
 */
const USER_OBJECTS_SQL = `
WITH ours AS (
  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = $1::text::name AND c.relname IN ($2::text::name, $3::text::name)
)
SELECT (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
           AND c.oid NOT IN (SELECT oid FROM ours)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                              AND (d.deptype = 'e' OR (d.deptype IN ('a', 'i') AND d.refobjid IN (SELECT oid FROM ours)))))::int
     + (SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT (n.nspname = $1::text::name AND p.proname = $4::text::name)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'))::int AS objects`;

/** Tables with pgpair's history columns other than `t` itself: a dump made with another --table. */
const OTHER_HISTORIES_SQL = `
SELECT n.nspname::text AS schema, c.relname::text AS name
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT (n.nspname = $1::text::name AND c.relname = $2::text::name)
   AND (SELECT count(*) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND NOT a.attisdropped AND a.attname IN ('version_label', 'up_checksum', 'down_checksum', 'pgpair_version')) = 4
 ORDER BY 1, 2`;

/** Whether any statement of the file names the history table: only then can running it create pgpair's history. */
function mayCreateHistory(analysis: FileAnalysis, historyName: string): boolean {
  const name = historyName.toLowerCase();
  return analysis.statements.some((s) => s.text.toLowerCase().includes(name));
}

function noVersion(path: string): UsageError {
  return new UsageError(`${path} declares no version: add a comment -- pgpair:version N at its top (the migration it corresponds to), or pass --stamp VERSION (head for all).`);
}

const qualified = (schema: string, name: string) => `${schema}.${name}`;

interface Recorded {
  steps: { action: 'stamp' | 'unstamp'; version: string; name: string; durationMs: number }[];
  to: string | null;
  adopted: string[] | null;
  /** Where the adopted history and the files disagree (what verify would report). */
  problems: string[];
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const dir = options.dir ?? DEFAULT_DIR;
  const path = options.file ?? `${dir.replace(/\/+$/, '')}/${BASE_SCHEMA_FILE}`;
  const file = await readSqlFile(path, readOptions(options));
  const analysis = file.analysis;
  if (analysis.problems.length > 0) throw new DirectoryError(dir, analysis.problems);
  const declared = options.stamp ?? analysis.directives.version;
  const target: Target | undefined = declared === undefined ? undefined : parseTarget(declared);
  const table = tableOf(options);
  const transactional = analysis.mode === 'transaction';
  // A file that cannot bring pgpair's history must say what it corresponds to before anything runs.
  const mayHoldHistory = mayCreateHistory(analysis, table.name);
  if (target === undefined && !(transactional && mayHoldHistory)) throw noVersion(path);
  return withSession(options, async (session) =>
    withLock(session.db, session.tables, { timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, logger: session.logger, ...(options.signal ? { signal: options.signal } : {}) }, async () => {
      const t = session.tables;
      const schema = t.schema!;
      const [row] = await session.db.query<{ objects: number }>(USER_OBJECTS_SQL, [schema, t.historyName, t.logName, guardName(t)]);
      if ((row?.objects ?? 0) > 0) {
        throw new PgpairError(
          'E_NOT_EMPTY',
          `The database at ${session.db.displayUrl} is not empty (${row!.objects} tables, views, sequences or functions), so pgpair load refuses to load ${path} into it. Load into an empty database, or adopt this one with pgpair stamp VERSION.`,
        );
      }
      const before = await readHistory(session.db, t);
      if (before.rows.length > 0) {
        const current = computeStatus(session.files.migrations, before.rows).current;
        throw new UsageError(`The history ${t.display} already records ${current === null ? 'versions' : `version ${current}`}; pgpair load only bootstraps an empty database.`);
      }
      if (before.exists) {
        const problem = historyLogProblem(t, before);
        if (problem) throw problem;
      }
      // Checked now only where the file cannot create the schema inside the load's transaction.
      if (!transactional && !before.schemaExists && !session.createSchema) throw missingSchemaError(t, true);
      // An empty history left by an earlier run is dropped in the load's transaction when the file may create its own.
      const replaceEmpty = transactional && before.exists && mayHoldHistory && (await logIsEmpty(session.db, t));
      const execute = { logger: session.logger, ...(options.signal ? { signal: options.signal } : {}) };
      const started = performance.now();
      const record = (q: Queryable) => recordLoad(q, session, { path, checksum: file.checksum, target, started, createdBefore: before.exists });
      let recorded: Recorded;
      // Ctrl-C cancels the statement in progress on the server, which then rolls back and releases the lock at once.
      const onAbort = () => {
        session.logger.warn(`${String(options.signal?.reason ?? 'abort')}: stopping the load; the statement in progress is cancelled`);
        if (session.db.interruptible) void session.db.cancel();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (transactional) {
          const next = 'Nothing was loaded (the transaction was rolled back) and nothing was recorded: the database is as it was. Fix the file and run pgpair load again.';
          recorded = await session.db.transaction(async (tx) => {
            if (replaceEmpty) await tx.exec(dropHistorySql(t));
            await loadSchema(session.db, tx, file, analysis, { ...execute, inTransaction: true, next });
            try {
              return await record(tx);
            } catch (error) {
              throw wrapDatabaseError(error, `Recording the load in ${t.display} failed; nothing was loaded (the transaction was rolled back)`);
            }
          });
        } else {
          const next = `${path} ran outside a transaction (${analysis.reason}): the statements before the failing one stay done; pgpair created none of its tables and recorded nothing. Drop what was created (or use a fresh database), fix the file and run pgpair load again.`;
          await loadSchema(session.db, session.db, file, analysis, { ...execute, inTransaction: false, next });
          try {
            recorded = await session.db.transaction(record);
          } catch (error) {
            const wrapped = wrapDatabaseError(error, `Recording the load in ${t.display} failed`);
            if (wrapped instanceof PgpairError) wrapped.message += `\n${path} ran outside a transaction (${analysis.reason}), so its statements stay done; nothing was recorded. Fix the problem, then record the version with pgpair stamp VERSION.`;
            throw wrapped;
          }
        }
      } catch (error) {
        if (!options.signal?.aborted) throw error;
        const reason = String(options.signal.reason ?? 'an abort signal');
        throw new InterruptedError(
          reason,
          null,
          transactional
            ? `Interrupted by ${reason} during pgpair load ${path}: its transaction was rolled back, so nothing was loaded and nothing recorded. Run pgpair load again.`
            : `Interrupted by ${reason} during pgpair load ${path}, which runs outside a transaction (${analysis.reason}): the statements before the interrupted one stay done, and pgpair created and recorded nothing. Drop what was created (or use a fresh database) and run pgpair load again.`,
        );
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
      const durationMs = Math.round(performance.now() - started);
      // debug, not info: the result carries it and the CLI prints it; on a terminal it would show twice.
      session.logger.debug({ file: path, statements: analysis.statements.length, durationMs }, `loaded ${path} (${analysis.statements.length} statements, ${durationMs} ms)`);
      if (recorded.adopted) {
        session.logger.info({ table: t.display, versions: recorded.adopted.length }, `adopted the history ${path} holds: ${recorded.adopted.length} version${recorded.adopted.length === 1 ? '' : 's'} recorded in ${t.display}, at ${recorded.to ?? 'base'}`);
        if (recorded.problems.length > 0) {
          session.logger.warn({ problems: recorded.problems }, `the adopted history and the files in ${session.files.dir} disagree, as they did where the dump was made; pgpair verify lists it, pgpair repair resolves it:\n  ${recorded.problems.join('\n  ')}`);
        }
      }
      return { command: 'stamp' as const, from: null, to: recorded.to, steps: recorded.steps, database: session.db.displayUrl, file: path, statements: analysis.statements.length, durationMs, adopted: recorded.adopted };
    }),
  );
}

async function logIsEmpty(q: Queryable, t: HistoryTables): Promise<boolean> {
  const [row] = await q.query<{ empty: boolean }>(`SELECT NOT EXISTS (SELECT 1 FROM ${t.log}) AS empty`);
  return row?.empty === true;
}

/** Drops an empty history, its log and the log's guard (used only when both tables hold nothing). */
function dropHistorySql(t: HistoryTables): string {
  const guard = `${quoteIdent(t.schema!)}.${quoteIdent(guardName(t))}`;
  return `DROP TABLE ${t.log}, ${t.history};\nDROP FUNCTION IF EXISTS ${guard}();`;
}

/**
 * After the file ran, on `q` (inside the load's transaction, or in a
 * transaction of its own after a file that ran outside one): adopt the history
 * the file created, or create pgpair's tables and stamp the target.
 */
async function recordLoad(q: Queryable, session: Session, ctx: { path: string; checksum: string; target: Target | undefined; started: number; createdBefore: boolean }): Promise<Recorded> {
  const t = session.tables;
  const schema = t.schema!;
  // What the file created is checked like any history: a table of that name must be pgpair's.
  const after = await readHistory(q, t);
  if (after.rows.length > 0) {
    const problem = historyLogProblem(t, after);
    if (problem) throw problem;
    return adopt(q, session, after.rows, ctx);
  }
  const others = await q.query<{ schema: string; name: string }>(OTHER_HISTORIES_SQL, [schema, t.historyName]);
  if (others.length > 0) {
    const found = others.map((o) => qualified(o.schema, o.name));
    throw new UsageError(
      `${ctx.path} holds a pgpair history as ${found.join(', ')}, not as ${t.display}: pass --table ${found[0]} to adopt it (a second, fresh history beside it would disagree with it). Nothing was loaded.`,
    );
  }
  if (ctx.target === undefined) throw noVersion(ctx.path);
  if (!after.exists) {
    if (!after.schemaExists && !session.createSchema) throw missingSchemaError(t, true);
    await q.exec(createHistorySql(t, { createSchema: session.createSchema }));
    session.logger.info({ table: t.display }, `created ${after.schemaExists ? '' : `schema ${schema}, `}history table ${t.display} and its log ${qualified(schema, t.logName)}`);
  } else {
    const problem = historyLogProblem(t, after);
    if (problem) throw problem;
  }
  const plan = planStamp(computeStatus(session.files.migrations, []), ctx.target);
  await recordStamp(q, t, plan.steps);
  const steps = plan.steps.map((s) => ({ action: s.action as 'stamp' | 'unstamp', version: s.action === 'unstamp' ? s.row.version : s.migration.version, name: s.action === 'unstamp' ? s.row.name : s.migration.name, durationMs: 0 }));
  return { steps, to: plan.to, adopted: null, problems: [] };
}

/**
 * The file held pgpair's history with rows: keep them, and its log, as they
 * were recorded. A stamp that would change them is refused; one that agrees is
 * fine. One log entry records the load itself.
 */
async function adopt(q: Queryable, session: Session, rows: HistoryRow[], ctx: { path: string; checksum: string; target: Target | undefined; started: number }): Promise<Recorded> {
  const t = session.tables;
  const report = computeStatus(session.files.migrations, rows);
  const versions = [...rows].sort((a, b) => (BigInt(a.key) < BigInt(b.key) ? -1 : BigInt(a.key) > BigInt(b.key) ? 1 : 0)).map((r) => r.version);
  const at = report.current ?? 'base';
  if (ctx.target !== undefined) {
    const plan = planStamp(report, ctx.target);
    if (plan.steps.length > 0) {
      const asked = ctx.target === 'head' || ctx.target === 'base' ? ctx.target : 'version' in ctx.target ? ctx.target.version : `${ctx.target.relative > 0 ? '+' : ''}${ctx.target.relative}`;
      throw new UsageError(
        `${ctx.path} holds pgpair's history (${versions.length} version${versions.length === 1 ? '' : 's'} recorded in ${t.display}, at ${at}), and a load adopts it as it was; the stamp ${asked} (from --stamp or its -- pgpair:version comment) would change it (${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}). Nothing was loaded. Leave the stamp out (pgpair up then applies what is pending), or stamp ${at}.`,
      );
    }
  }
  const current = rows.find((r) => r.version === report.current) ?? null;
  const durationMs = Math.round(performance.now() - ctx.started);
  const detail = `loaded ${ctx.path} and adopted the history it holds: ${versions.length} version${versions.length === 1 ? '' : 's'}, at ${at}`;
  await q.query(insertLogSql(t), ['load', report.current, current?.name ?? null, ctx.checksum, null, durationMs, detail, PGPAIR_VERSION]);
  return { steps: [], to: report.current, adopted: versions, problems: verifyProblems(report, { strict: false }).map((p) => p.message) };
}
