/** Reading PostgreSQL error fields from whatever a driver threw. */
import type { PgErrorFields } from '../core/errors.js';

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function num(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^[0-9]+$/.test(value)) return Number(value);
  return null;
}

/**
 * Fields of a server error, or null when `error` did not come from the server
 * (a socket error, a bug). postgres.js and PGlite both use the libpq field
 * names; postgres.js puts the SQLSTATE in `code`, PGlite too.
 */
export function pgErrorFields(error: unknown): PgErrorFields | null {
  if (!error || typeof error !== 'object') return null;
  const e = error as Record<string, unknown>;
  const sqlstate = str(e.code);
  if (!sqlstate || !/^[0-9A-Z]{5}$/.test(sqlstate) || typeof e.severity !== 'string') return null;
  return {
    sqlstate,
    severity: str(e.severity),
    message: str(e.message) ?? 'unknown error',
    detail: str(e.detail),
    hint: str(e.hint),
    where: str(e.where),
    position: num(e.position),
    internalPosition: num(e.internal_position ?? e.internalPosition),
    internalQuery: str(e.internal_query ?? e.internalQuery),
    constraintName: str(e.constraint_name ?? e.constraint),
    tableName: str(e.table_name ?? e.table),
    columnName: str(e.column_name ?? e.column),
  };
}
