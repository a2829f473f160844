/**
 * The history table and its append-only log: their DDL and the statements
 * that read and write them. Statements are plain text with $n parameters so
 * the executor binds values and the script renderer can show the same SQL.
 */
import type { Migration } from './files.js';
import { HistoryTableError } from './errors.js';
import { quoteIdent, type TableName } from './ident.js';
import type { SqlExpression } from './literal.js';
import { PGPAIR_VERSION } from './meta.js';

export type How = 'executed' | 'stamped' | 'script';
export type RowState = 'ok' | 'running' | 'failed';
export type LogAction = 'up' | 'down' | 'stamp' | 'unstamp' | 'repair' | 'failed';

export interface HistoryRow {
  /** Canonical version key (no leading zeros). */
  key: string;
  /** The version as spelled in the file name when it was recorded. */
  version: string;
  name: string;
  upChecksum: string;
  downChecksum: string | null;
  how: How;
  state: RowState;
  transactional: boolean;
  /** For non-transactional migrations: statements completed so far. */
  statementsDone: number | null;
  statementsTotal: number | null;
  error: string | null;
  appliedAt: Date;
  appliedBy: string;
  durationMs: number | null;
  pgpairVersion: string;
}

/** Quoted names of the history table and its log, qualified by their schema when it is known. */
export interface HistoryTables {
  /**
   * The schema of both tables. null only in `--sql` scripts made without a
   * database connection and without `--table schema.name`: the names are then
   * left unqualified, so they resolve in the current schema of the session
   * that runs the script, as pgpair's default does.
   */
  schema: string | null;
  history: string;
  log: string;
  /** Unquoted `schema.table` (just `table` when the schema is null), for messages and the lock key. */
  display: string;
  logName: string;
  historyName: string;
  /**
   * How the schema is written in SQL when it is not quoteIdent(schema): in a `--sql --from`
   * script, psql's `:"variable"` holding the schema the script resolved when it started (schema
   * is then null, and history and log are qualified with it).
   */
  schemaSql?: string;
}

export function historyTables(table: TableName, currentSchema: string | null): HistoryTables {
  const schema = table.schema ?? currentSchema;
  const logName = `${table.name}_log`;
  const qualify = (name: string) => (schema === null ? quoteIdent(name) : `${quoteIdent(schema)}.${quoteIdent(name)}`);
  return {
    schema,
    history: qualify(table.name),
    log: qualify(logName),
    display: schema === null ? table.name : `${schema}.${table.name}`,
    historyName: table.name,
    logName,
  };
}

/** The name of the trigger (and its function) that keeps the log append-only. */
export function guardName(t: Pick<HistoryTables, 'logName'>): string {
  return `${t.logName}_append_only`;
}

/**
 * The DDL that creates both tables; run once, in one transaction, under the
 * migration lock. `createSchema` (default true, as the `--sql` scripts have it)
 * adds CREATE SCHEMA IF NOT EXISTS; a run passes false unless --create-schema
 * was given, so a mistyped `--table nosuch.hist` cannot start a second history.
 */
export function createHistorySql(t: HistoryTables, options: { createSchema?: boolean } = {}): string {
  const guard = quoteIdent(guardName(t));
  const schema = t.schemaSql ?? (t.schema === null ? null : quoteIdent(t.schema));
  const guardFn = schema === null ? guard : `${schema}.${guard}`;
  // A schema resolved as the current one exists (and CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even then).
  const createSchema = t.schema === null || options.createSchema === false ? '' : `CREATE SCHEMA IF NOT EXISTS ${schema};\n`;
  return `SET LOCAL client_min_messages = warning;
${createSchema}CREATE TABLE IF NOT EXISTS ${t.history} (
  version text PRIMARY KEY,
  version_label text NOT NULL,
  name text NOT NULL,
  up_checksum text NOT NULL,
  down_checksum text,
  how text NOT NULL CHECK (how IN ('executed', 'stamped', 'script')),
  state text NOT NULL CHECK (state IN ('ok', 'running', 'failed')),
  transactional boolean NOT NULL DEFAULT true,
  statements_done integer,
  statements_total integer,
  error text,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT current_user,
  duration_ms integer,
  pgpair_version text NOT NULL
);
COMMENT ON TABLE ${t.history} IS 'pgpair migration history: one row per applied or stamped version. Change it only through pgpair (stamp, repair).';
CREATE TABLE IF NOT EXISTS ${t.log} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  action text NOT NULL,
  version text,
  name text,
  checksum text,
  how text,
  duration_ms integer,
  detail text,
  db_user text NOT NULL DEFAULT current_user,
  application_name text DEFAULT current_setting('application_name', true),
  pgpair_version text NOT NULL
);
COMMENT ON TABLE ${t.log} IS 'pgpair audit log: every up, down, stamp, repair and failure, append-only.';
CREATE OR REPLACE FUNCTION ${guardFn}() RETURNS trigger LANGUAGE plpgsql AS $pgpair$
BEGIN
  RAISE EXCEPTION 'the pgpair log %.% is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME;
END
$pgpair$;
DROP TRIGGER IF EXISTS ${guard} ON ${t.log};
CREATE TRIGGER ${guard} BEFORE UPDATE OR DELETE OR TRUNCATE ON ${t.log} FOR EACH STATEMENT EXECUTE FUNCTION ${guardFn}();
`;
}

/** The columns of pgpair's history table and of its log, with their types as format_type spells them. */
export const HISTORY_COLUMNS: readonly (readonly [string, string])[] = [
  ['version', 'text'],
  ['version_label', 'text'],
  ['name', 'text'],
  ['up_checksum', 'text'],
  ['down_checksum', 'text'],
  ['how', 'text'],
  ['state', 'text'],
  ['transactional', 'boolean'],
  ['statements_done', 'integer'],
  ['statements_total', 'integer'],
  ['error', 'text'],
  ['applied_at', 'timestamp with time zone'],
  ['applied_by', 'text'],
  ['duration_ms', 'integer'],
  ['pgpair_version', 'text'],
];
export const LOG_COLUMNS: readonly (readonly [string, string])[] = [
  ['id', 'bigint'],
  ['at', 'timestamp with time zone'],
  ['action', 'text'],
  ['version', 'text'],
  ['name', 'text'],
  ['checksum', 'text'],
  ['how', 'text'],
  ['duration_ms', 'integer'],
  ['detail', 'text'],
  ['db_user', 'text'],
  ['application_name', 'text'],
  ['pgpair_version', 'text'],
];

/** One relation's columns as JSON text: [[name, type, required], …] (required: NOT NULL without a default). */
const columnsOf = (alias: string) =>
  `(SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '') ORDER BY a.attnum)::text
     FROM pg_catalog.pg_attribute a WHERE a.attrelid = ${alias}.oid AND a.attnum > 0 AND NOT a.attisdropped)`;

/**
 * What the catalog says about the history and its log, in one round trip:
 * $1 schema (null: the current schema), $2 history table, $3 log table, $4
 * the log's guard trigger. Names are cast to `name`, which shortens them as
 * PostgreSQL did when it created them.
 */
export function historyProbeSql(): string {
  return `SELECT n.oid IS NOT NULL AS schema_exists, h.relkind::text AS history_kind, ${columnsOf('h')} AS history_columns,
       l.relkind::text AS log_kind, ${columnsOf('l')} AS log_columns,
       EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = l.oid AND g.tgname = $4::text::name AND g.tgenabled <> 'D') AS log_guarded
  FROM (SELECT coalesce($1::text, pg_catalog.current_schema())::name AS nspname) AS wanted
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = wanted.nspname
  LEFT JOIN pg_catalog.pg_class h ON h.relnamespace = n.oid AND h.relname = $2::text::name
  LEFT JOIN pg_catalog.pg_class l ON l.relnamespace = n.oid AND l.relname = $3::text::name`;
}

export function selectHistorySql(t: HistoryTables): string {
  return `SELECT version, version_label, name, up_checksum, down_checksum, how, state, transactional, statements_done,
       statements_total, error, applied_at, applied_by, duration_ms, pgpair_version FROM ${t.history}`;
}

/** $1 key, $2 label, $3 name, $4 up checksum, $5 down checksum, $6 how, $7 state, $8 transactional, $9 statements done, $10 total, $11 error, $12 duration ms, $13 pgpair version */
export function insertHistorySql(t: HistoryTables): string {
  return `INSERT INTO ${t.history} (version, version_label, name, up_checksum, down_checksum, how, state, transactional,
  statements_done, statements_total, error, duration_ms, pgpair_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`;
}

/** $1 key. */
/**
 * Many history rows in one statement (stamp): $1 is a JSON array of rows,
 * each the array historyValues gives, in insertHistorySql's column order. The
 * parameter is text (cast to json on the server), so drivers pass the string as is.
 */
export function insertHistoryRowsSql(t: HistoryTables): string {
  return `INSERT INTO ${t.history} (version, version_label, name, up_checksum, down_checksum, how, state, transactional,
  statements_done, statements_total, error, duration_ms, pgpair_version)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, (r->>7)::boolean, (r->>8)::integer, (r->>9)::integer, r->>10, (r->>11)::integer, r->>12
  FROM json_array_elements($1::text::json) WITH ORDINALITY AS row_values(r, n) ORDER BY n`;
}

/** Deletes the history rows whose versions (keys) are in the JSON array $1. */
export function deleteHistoryRowsSql(t: HistoryTables): string {
  return `DELETE FROM ${t.history} WHERE version IN (SELECT json_array_elements_text($1::text::json))`;
}

/**
 * Many log entries in one statement, in array order: $1 is a JSON array of the arrays logValues
 * gives. An entry whose how is null and that carries a version key as a ninth element reads how
 * from that version's history row (an unstamp, logged before its row is deleted).
 */
export function insertLogRowsSql(t: HistoryTables): string {
  return `INSERT INTO ${t.log} (action, version, name, checksum, how, duration_ms, detail, pgpair_version)
SELECT r->>0, r->>1, r->>2, r->>3, coalesce(r->>4, (SELECT h.how FROM ${t.history} h WHERE h.version = r->>8)), (r->>5)::integer, r->>6, r->>7
  FROM json_array_elements($1::text::json) WITH ORDINALITY AS log_values(r, n) ORDER BY n`;
}

export function deleteHistorySql(t: HistoryTables): string {
  return `DELETE FROM ${t.history} WHERE version = $1`;
}

/** $1 action, $2 version label, $3 name, $4 checksum, $5 how, $6 duration ms, $7 detail, $8 pgpair version */
export function insertLogSql(t: HistoryTables): string {
  return `INSERT INTO ${t.log} (action, version, name, checksum, how, duration_ms, detail, pgpair_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;
}

/** Before a non-transactional down runs: $1 key, $2 statements in the file. */
export function markRunningSql(t: HistoryTables): string {
  return `UPDATE ${t.history} SET state = 'running', statements_done = 0, statements_total = $2, error = NULL WHERE version = $1`;
}

/** After each statement of a non-transactional migration: $1 key, $2 statements done. */
export function progressSql(t: HistoryTables): string {
  return `UPDATE ${t.history} SET statements_done = $2 WHERE version = $1`;
}

/** A non-transactional up finished: $1 key, $2 statements done (all), $3 duration ms. */
export function markOkSql(t: HistoryTables): string {
  return `UPDATE ${t.history} SET state = 'ok', statements_done = $2, duration_ms = $3 WHERE version = $1`;
}

/** A non-transactional migration failed: $1 key, $2 error summary, $3 duration ms. */
export function markFailedSql(t: HistoryTables): string {
  return `UPDATE ${t.history} SET state = 'failed', error = $2, duration_ms = $3 WHERE version = $1`;
}

/**
 * A step's duration where a statement records it, before it is known: the executor binds what it
 * measured (ms), a `--sql` script writes `script` (a server-side expression), or NULL without one.
 */
export class Elapsed {
  constructor(readonly script: SqlExpression | null) {}
}

export type Duration = number | null | Elapsed;

/** The parameters of insertHistorySql for a migration, in order. */
export function historyValues(
  migration: Migration,
  how: How,
  init: { state?: 'ok' | 'running'; transactional?: boolean; durationMs?: Duration; done?: number | null; total?: number | null } = {},
): unknown[] {
  return [
    migration.key,
    migration.version,
    migration.name,
    migration.up.checksum,
    migration.down?.checksum ?? null,
    how,
    init.state ?? 'ok',
    init.transactional ?? true,
    init.done ?? null,
    init.total ?? null,
    null,
    init.durationMs ?? null,
    PGPAIR_VERSION,
  ];
}

export interface LogEntry {
  version: string;
  name: string;
  checksum: string | null;
  how: string | SqlExpression | null;
  durationMs: Duration;
  detail?: string | null;
}

/** The parameters of insertLogSql, in order. */
export function logValues(action: string, entry: LogEntry): unknown[] {
  return [action, entry.version, entry.name, entry.checksum, entry.how, entry.durationMs, entry.detail ?? null, PGPAIR_VERSION];
}

export function toRow(raw: Record<string, unknown>): HistoryRow {
  const intOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    key: String(raw.version),
    version: String(raw.version_label),
    name: String(raw.name),
    upChecksum: String(raw.up_checksum),
    downChecksum: raw.down_checksum === null ? null : String(raw.down_checksum),
    how: raw.how as How,
    state: raw.state as RowState,
    transactional: raw.transactional === true || raw.transactional === 't',
    statementsDone: intOrNull(raw.statements_done),
    statementsTotal: intOrNull(raw.statements_total),
    error: raw.error === null || raw.error === undefined ? null : String(raw.error),
    appliedAt: raw.applied_at instanceof Date ? raw.applied_at : new Date(String(raw.applied_at)),
    appliedBy: String(raw.applied_by),
    durationMs: intOrNull(raw.duration_ms),
    pgpairVersion: String(raw.pgpair_version),
  };
}

export interface HistoryState {
  /** Whether the history table exists (it is then pgpair's: readHistory throws otherwise). */
  exists: boolean;
  rows: HistoryRow[];
  /** Whether the schema of the tables exists. */
  schemaExists: boolean;
  /** The log beside an existing history: intact, missing, or without its append-only trigger. null when there is no history table. */
  log: 'ok' | 'missing' | 'unguarded' | null;
}

/** What is wrong with the log beside an existing history, for messages; null when it is intact. */
export function historyLogProblem(t: HistoryTables, state: HistoryState): HistoryTableError | null {
  const log = t.schema === null ? t.logName : `${t.schema}.${t.logName}`;
  if (state.log === 'missing') {
    return new HistoryTableError(
      t.display,
      'missing-log',
      `The history table ${t.display} has no log table ${log} beside it (it was dropped or renamed): pgpair records every change in that append-only log and will not change the history without it. Restore ${log} (e.g. from a backup), or use another history with --table.`,
    );
  }
  if (state.log === 'unguarded') {
    return new HistoryTableError(
      t.display,
      'unguarded-log',
      `The log ${log} of ${t.display} has lost its append-only trigger ${guardName(t)} (dropped or disabled), so its entries may have been edited. Check the log, then restore the trigger: ALTER TABLE ${t.log} ENABLE TRIGGER ${quoteIdent(guardName(t))}; if it was dropped, CREATE TRIGGER ${quoteIdent(guardName(t))} BEFORE UPDATE OR DELETE OR TRUNCATE ON ${t.log} FOR EACH STATEMENT EXECUTE FUNCTION ${t.schema === null ? '' : `${quoteIdent(t.schema)}.`}${quoteIdent(guardName(t))}();`,
    );
  }
  return null;
}
