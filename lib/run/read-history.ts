/**
 * Reads the history table through a connection: checks in the catalog that the history and its
 * log are pgpair's before anything is read from or written to them.
 */
import { pgErrorFields } from '../db/errors.js';
import type { Queryable, Row } from '../db/types.js';
import { DatabaseError, HistoryTableError } from '../core/errors.js';
import { guardName, HISTORY_COLUMNS, historyLogProblem, historyProbeSql, LOG_COLUMNS, selectHistorySql, toRow, type HistoryState, type HistoryTables } from '../core/history.js';

type Column = [name: string, type: string, required: boolean];

const KINDS: Record<string, string> = { v: 'a view', m: 'a materialized view', f: 'a foreign table', S: 'a sequence', i: 'an index', c: 'a composite type' };

/** What keeps a table from being the one pgpair would have created (its columns against pgpair's), or null when it fits. */
function misfit(kind: string, columnsJson: string | null, expected: readonly (readonly [string, string])[]): string | null {
  if (kind !== 'r' && kind !== 'p') return `it is ${KINDS[kind] ?? `a relation of kind ${kind}`}, not a table`;
  const columns = (columnsJson ? JSON.parse(columnsJson) : []) as Column[];
  const has = new Map(columns.map(([name, type]) => [name, type]));
  const wanted = new Map(expected.map(([name, type]) => [name, type]));
  const problems: string[] = [];
  const missing = expected.filter(([name]) => !has.has(name)).map(([name]) => name);
  if (missing.length > 0) problems.push(`no ${missing.join(', ')}`);
  for (const [name, type] of expected) if (has.has(name) && has.get(name) !== type) problems.push(`${name} is ${has.get(name)}, not ${type}`);
  const extra = columns.filter(([name, , required]) => required && !wanted.has(name)).map(([name]) => name);
  if (extra.length > 0) problems.push(`${extra.join(', ')} must be filled in and pgpair does not know ${extra.length === 1 ? 'it' : 'them'}`);
  if (problems.length === 0) return null;
  const shown = columns.slice(0, 8).map(([name, type]) => `${name} ${type}`).join(', ');
  const list = columns.length === 0 ? 'no columns' : `columns ${shown}${columns.length > 8 ? `, … (${columns.length} in all)` : ''}`;
  return `it has ${list}: ${problems.join('; ')}`;
}

/**
 * All history rows, or [] when the table does not exist yet (nothing is created by reading).
 * Throws HistoryTableError when a table of the history's or the log's name is not one pgpair
 * created (checked in the catalog, before anything is read from or written to it), and, unless
 * `damagedLog` is 'report' (read-only commands, which may still read it), when the history's log
 * or the log's append-only trigger is gone: every writer reads the history through here first.
 */
export async function readHistory(db: Queryable, t: HistoryTables, options: { damagedLog?: 'throw' | 'report' } = {}): Promise<HistoryState> {
  const [probe] = await db.query<{ schema_exists: boolean; history_kind: string | null; history_columns: string | null; log_kind: string | null; log_columns: string | null; log_guarded: boolean }>(
    historyProbeSql(),
    [t.schema, t.historyName, t.logName, guardName(t)],
  );
  if (!probe) throw new Error('the history probe returned no row');
  const qualified = (name: string) => (t.schema === null ? name : `${t.schema}.${name}`);
  if (probe.history_kind !== null) {
    const why = misfit(probe.history_kind, probe.history_columns, HISTORY_COLUMNS);
    if (why) {
      throw new HistoryTableError(
        t.display,
        'not-pgpair',
        `${t.display} exists but was not created by pgpair (${why}). pgpair will not read or write it: pass --table another_name (e.g. --table ${qualified('pgpair_migrations')}) to keep pgpair's history in a table of its own.`,
      );
    }
  }
  if (probe.log_kind !== null) {
    const why = misfit(probe.log_kind, probe.log_columns, LOG_COLUMNS);
    if (why) {
      throw new HistoryTableError(
        t.display,
        'not-pgpair',
        `${qualified(t.logName)} exists but is not the log pgpair keeps beside ${t.display} (${why}). pgpair will not write to it: pass --table another_name, whose log is another_name_log.`,
      );
    }
  }
  if (probe.history_kind === null) return { exists: false, rows: [], schemaExists: probe.schema_exists, log: null };
  let rows: Row[];
  try {
    rows = await db.query(selectHistorySql(t));
  } catch (error) {
    const pg = pgErrorFields(error);
    if (!pg) throw error;
    const fix = pg.sqlstate === '42501' ? ` (connect as the role that runs the migrations, or GRANT SELECT ON ${t.history} TO this role)` : '';
    throw new DatabaseError(`Cannot read the history table ${t.display}${fix}`, pg);
  }
  const log = probe.log_kind === null ? 'missing' : probe.log_guarded ? 'ok' : 'unguarded';
  const state: HistoryState = { exists: true, rows: rows.map(toRow), schemaExists: true, log };
  const damaged = options.damagedLog === 'report' ? null : historyLogProblem(t, state);
  if (damaged) throw damaged;
  return state;
}
