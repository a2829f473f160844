/**
 * Lint with what only a connection knows: the server's version, the size of each table the
 * statements touch (one query on pg_class), and the history, so that by default only the
 * migrations still pending are linted, together, as the run that applies them would see them.
 * Also `up --lint`: the pending steps of a plan linted before anything runs.
 */
import type { Logger } from 'pino';
import { LintRefusedError, UsageError } from '../core/errors.js';
import type { HistoryRow } from '../core/history.js';
import type { MigrationSet } from '../core/files.js';
import { lintMigrations, type Finding, type LintFacts, type LintMigration, type LintReport, type TableRef, type TableSize } from '../core/lint/engine.js';
import type { Plan } from '../core/plan.js';
import { compareVersions, isVersion, versionKey } from '../core/version.js';
import type { Queryable } from '../db/types.js';
import { readHistory } from './read-history.js';
import type { Session } from './session.js';

/** The oldest server pgpair supports: what offline lint assumes. */
export const OLDEST_SERVER = 120000;

export interface LintSettings {
  /** The server's version to assume offline ("15", "14.2"); a connected lint reads the server's. */
  serverVersion?: string | undefined;
  /** Tables with fewer estimated rows count as small; default 0 (none). */
  minRows?: number | undefined;
  /** Lint every file, not only the pending ones. */
  all?: boolean | undefined;
  /** Offline: the database is at this version (`base`: empty), so the later files are pending together. */
  from?: string | undefined;
}

/** "15", "14.2", "150004" → server_version_num; PostgreSQL 12 and newer. */
export function parseServerVersion(text: string): number {
  const trimmed = text.trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(trimmed);
  let num = Number.NaN;
  if (match && match[1]!.length >= 5 && match[2] === undefined) num = Number(match[1]);
  else if (match) num = Number(match[1]) * 10000 + Number(match[2] ?? 0);
  if (!Number.isSafeInteger(num) || num < OLDEST_SERVER || num >= 1000000 || (match?.[2] !== undefined && Number(match[2]) >= 100)) {
    throw new UsageError(`Invalid --server-version ${JSON.stringify(trimmed)}: give the PostgreSQL version the migrations will run on, 12 or newer, as MAJOR or MAJOR.MINOR (e.g. 15 or 14.2).`);
  }
  return num;
}

/** Offline: the files alone, the server version given or the oldest supported. */
export function lintOffline(files: MigrationSet, settings: LintSettings): LintReport {
  const fromKey = fromVersion(files, settings.from);
  const migrations = files.migrations.map((m): LintMigration => {
    // Without --from each file is linted as if every file before it were applied long ago.
    const applied = fromKey === undefined ? true : fromKey !== null && compareVersions(m.key, fromKey) <= 0;
    const pending = fromKey !== undefined && !applied;
    return { version: m.version, name: m.name, file: m.up, lint: fromKey === undefined || pending || (settings.all ?? false), pending };
  });
  const version = settings.serverVersion === undefined ? null : parseServerVersion(settings.serverVersion);
  return lintMigrations(migrations, {
    serverVersionNum: version ?? OLDEST_SERVER,
    serverVersionSource: version === null ? 'assumed' : 'option',
    sizes: null,
    minRows: settings.minRows ?? 0,
  });
}

/** undefined: no --from; null: base; else the version's key. */
function fromVersion(files: MigrationSet, from: string | undefined): string | null | undefined {
  if (from === undefined) return undefined;
  if (from === 'base') return null;
  if (!isVersion(from) || !files.migrations.some((m) => m.key === versionKey(from))) {
    throw new UsageError(`--from ${from}: no migration has that version; give a version of the directory (${files.migrations.slice(-3).map((m) => m.version).join(', ') || 'none yet'}) or base.`);
  }
  return versionKey(from);
}

/** Connected: the server's version, the history (only pending files are linted unless `all`), the tables' sizes. */
export async function lintConnected(session: Session, settings: LintSettings): Promise<LintReport> {
  const history = await readHistory(session.db, session.tables, { damagedLog: 'report' });
  return lintWithHistory(session, history.rows, null, settings);
}

/**
 * `up --lint`: lints the plan's pending steps (the applied files are read for what they created).
 * Logs every finding as a warning; at level 'error', an error-level finding refuses the run
 * (LintRefusedError) before anything is created or applied.
 */
export async function lintBeforeRun(session: Session, rows: readonly HistoryRow[], plan: Plan, options: { level: 'warn' | 'error'; minRows?: number | undefined }): Promise<LintReport> {
  const report = await lintWithHistory(session, rows, plan, { minRows: options.minRows });
  logFindings(session.logger, report.findings);
  const errors = report.findings.filter((f) => f.severity === 'error');
  if (options.level === 'error' && errors.length > 0) throw new LintRefusedError(report.findings);
  return report;
}

export function logFindings(logger: Logger, findings: readonly Finding[]): void {
  for (const f of findings) {
    logger.warn({ lint: f.rule, severity: f.severity, file: f.file, line: f.line, column: f.column, table: f.table, rows: f.rows },
      `lint ${f.severity} ${f.rule} at ${f.file}:${f.line}:${f.column}: ${f.message}. Instead: ${f.fix}`);
  }
}

async function lintWithHistory(session: Session, rows: readonly HistoryRow[], plan: Plan | null, settings: LintSettings): Promise<LintReport> {
  const applied = new Set(rows.map((row) => row.key));
  const planned = plan ? new Set(plan.steps.filter((s) => s.action === 'up').map((s) => s.migration.key)) : null;
  const migrations = session.files.migrations.flatMap((m): LintMigration[] => {
    const isApplied = applied.has(m.key);
    const pending = planned ? planned.has(m.key) : !isApplied;
    // A pending file beyond the plan's target does not run now: it is not read at all.
    if (!isApplied && !pending) return [];
    return [{ version: m.version, name: m.name, file: m.up, lint: pending || (!planned && (settings.all ?? false)), pending }];
  });
  const base = { serverVersionNum: session.db.server.versionNum, serverVersionSource: 'server' as const, minRows: settings.minRows ?? 0 };
  // First pass: which tables the rules ask about; then their sizes, in one query; then the findings.
  const touched: TableRef[] = [];
  const first = lintMigrations(migrations, { ...base, sizes: [], onLookup: (ref) => touched.push(ref) });
  const sizes = await tableSizes(session.db, touched);
  // None of the tables exists yet (a new database, or migrations that create what they use): the
  // second pass would see the same facts as the first, and say the same.
  if (sizes.length === 0) return first;
  return lintMigrations(migrations, { ...base, sizes } satisfies LintFacts);
}

/** pg_class's estimate for each named table (and partitioned table, materialized view), with its columns' types: one query, names bound as one JSON parameter. */
export async function tableSizes(db: Queryable, refs: readonly TableRef[]): Promise<TableSize[]> {
  const names = [...new Set(refs.map((ref) => ref.name))];
  if (names.length === 0) return [];
  const found = await db.query<{ schema: string; name: string; rows: number; pages: number; visible: boolean; partitioned: boolean; columns: string | null; not_null: string | null }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.reltuples::float8 AS rows, c.relpages::int AS pages, pg_catalog.pg_table_is_visible(c.oid) AS visible, c.relkind = 'p' AS partitioned,
            (SELECT pg_catalog.json_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))::text
               FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT pg_catalog.json_agg(a.attname)::text
               FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull) AS not_null
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm') AND c.relname IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(names)],
  );
  return found.map((row) => ({
    schema: row.schema,
    name: row.name,
    rows: Number(row.rows) < 0 ? null : Number(row.rows),
    pages: Number(row.pages),
    visible: row.visible,
    ...(row.partitioned ? { partitioned: true } : {}),
    ...(row.columns ? { columns: JSON.parse(row.columns) as Record<string, string>, notNull: row.not_null ? JSON.parse(row.not_null) as string[] : [] } : {}),
  }));
}
