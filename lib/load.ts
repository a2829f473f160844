/**
 * `load`: bootstrap an empty database from the base schema (schema.sql, or
 * pg_dump output) and stamp the version it corresponds to. The schema and the
 * stamp commit together when the file can run in a transaction, so a failed
 * load leaves the database empty.
 */
import { analyzeFile } from './analyze.js';
import { DirectoryError, PgpairError, UsageError } from './errors.js';
import { loadSchema } from './executor.js';
import { BASE_SCHEMA_FILE } from './files.js';
import { withLock } from './lock.js';
import { parseTarget, planStamp } from './plan.js';
import { currentStatus, DEFAULT_DIR, DEFAULT_LOCK_TIMEOUT_MS, ensureHistory, readOptions, withSession, type RunOptions, type RunResult } from './session.js';
import { readSqlFile } from './source.js';

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
}

/** User objects in the database, outside pgpair's own history tables: a load refuses to run on top of any. */
const USER_OBJECTS_SQL = `
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
           AND NOT (n.nspname = $1 AND c.relname IN ($2, $3)) AND NOT (n.nspname = $1 AND c.relname LIKE $2 || '%')
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S'))::int
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT (n.nspname = $1 AND p.proname = $3 || '_append_only')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e'))::int AS objects`;

export async function load(options: LoadOptions): Promise<LoadResult> {
  const dir = options.dir ?? DEFAULT_DIR;
  const path = options.file ?? `${dir.replace(/\/+$/, '')}/${BASE_SCHEMA_FILE}`;
  const file = await readSqlFile(path, readOptions(options));
  const analysis = analyzeFile(file);
  if (analysis.problems.length > 0) throw new DirectoryError(dir, analysis.problems);
  const declared = options.stamp ?? analysis.directives.version;
  if (declared === undefined) {
    throw new UsageError(`${path} declares no version: add a comment -- pgpair:version N at its top (the migration it corresponds to), or pass --stamp VERSION (head for all).`);
  }
  const target = parseTarget(declared);
  return withSession(options, async (session) =>
    withLock(session.db, session.tables, { timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, logger: session.logger, ...(options.signal ? { signal: options.signal } : {}) }, async () => {
      const t = session.tables;
      const [row] = await session.db.query<{ objects: number }>(USER_OBJECTS_SQL, [t.schema, t.historyName, t.logName]);
      if ((row?.objects ?? 0) > 0) {
        throw new PgpairError(
          'E_NOT_EMPTY',
          `The database at ${session.db.displayUrl} is not empty (${row!.objects} tables, views, sequences or functions), so pgpair load refuses to load ${path} into it. Load into an empty database, or adopt this one with pgpair stamp VERSION.`,
          2,
        );
      }
      const report = await currentStatus(session, await ensureHistory(session));
      if (report.current !== null) throw new UsageError(`The history already records version ${report.current}; pgpair load only bootstraps an empty database.`);
      const plan = planStamp(report, target);
      const started = performance.now();
      const execute = { logger: session.logger, serverVersionNum: session.db.server.versionNum };
      await loadSchema(session.db, t, file, analysis, plan.steps, execute);
      const durationMs = Math.round(performance.now() - started);
      session.logger.info({ file: path, statements: analysis.statements.length, durationMs }, `loaded ${path} (${analysis.statements.length} statements, ${durationMs} ms)`);
      const steps = plan.steps.map((s) => ({ action: s.action, version: s.action === 'unstamp' ? s.row.version : s.migration.version, name: s.action === 'unstamp' ? s.row.name : s.migration.slug, durationMs: 0 }));
      return { command: 'stamp' as const, from: null, to: plan.to, steps, database: session.db.displayUrl, file: path, statements: analysis.statements.length, durationMs };
    }),
  );
}
