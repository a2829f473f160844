/**
 * Pure: what a column's DEFAULT or type costs when it is added to a table that has rows, and
 * whether changing a column's type rewrites the table. Read from tokens, never from raw text.
 */
import type { Tokens } from './tokens.js';

/** Functions PostgreSQL evaluates per row (volatile): as a default of an added column they make it rewrite every row. */
const VOLATILE = new Set(['RANDOM', 'GEN_RANDOM_UUID', 'UUID_GENERATE_V1', 'UUID_GENERATE_V1MC', 'UUID_GENERATE_V4', 'UUIDV4', 'UUIDV7',
  'CLOCK_TIMESTAMP', 'TIMEOFDAY', 'NEXTVAL', 'TXID_CURRENT', 'GEN_RANDOM_BYTES', 'RANDOM_NORMAL', 'SETVAL']);
/** Stable or immutable functions (and syntax that looks like calls): evaluated once, when the column is added. */
const ONCE = new Set(['NOW', 'STATEMENT_TIMESTAMP', 'TRANSACTION_TIMESTAMP', 'CURRENT_SETTING', 'CAST', 'COALESCE', 'LOWER', 'UPPER',
  'TO_JSONB', 'JSONB_BUILD_OBJECT', 'JSON_BUILD_OBJECT', 'ARRAY', 'ROW', 'MAKE_INTERVAL', 'MAKE_DATE', 'TO_TIMESTAMP', 'TO_DATE', 'TRIM',
  'DATE_TRUNC', 'DATE_PART', 'EXTRACT', 'TO_CHAR', 'CONCAT', 'CONCAT_WS', 'MD5', 'LEFT', 'RIGHT', 'SUBSTRING', 'SUBSTR', 'REPLACE',
  'LPAD', 'RPAD', 'ROUND', 'FLOOR', 'CEIL', 'ABS', 'GREATEST', 'LEAST', 'NULLIF', 'JSONB_BUILD_ARRAY', 'JSON_BUILD_ARRAY', 'MAKE_TIMESTAMPTZ']);

export type DefaultCost = { kind: 'constant' } | { kind: 'volatile'; call: string } | { kind: 'unknown'; call: string };

/** The cost of the default expression in tokens [from, to). */
export function defaultCost(t: Tokens, from: number, to: number): DefaultCost {
  let unknown: string | null = null;
  for (let i = from; i < to; i++) {
    const token = t.at(i)!;
    if (token.kind !== 'word' || t.at(i + 1)?.kind !== 'openParen') continue;
    const previous = t.at(i - 1);
    // A type with a modifier after `::` or `AS` (`'x'::varchar(10)`, CAST(… AS numeric(10, 2))).
    if (previous !== undefined && (previous.upper === ':' || previous.upper === 'AS')) continue;
    const name = token.upper;
    if (VOLATILE.has(name)) return { kind: 'volatile', call: `${name.toLowerCase()}()` };
    if (!ONCE.has(name)) unknown ??= `${name.toLowerCase()}()`;
  }
  return unknown === null ? { kind: 'constant' } : { kind: 'unknown', call: unknown };
}

const SERIAL = new Set(['SERIAL', 'SERIAL4', 'BIGSERIAL', 'SERIAL8', 'SMALLSERIAL', 'SERIAL2']);

export function isSerial(type: string): boolean {
  return SERIAL.has(type);
}

/** A type as written, upper case without spaces, in one spelling per type (`CHARACTERVARYING(10)` → `VARCHAR(10)`). */
export function normalType(type: string): string {
  return type
    .replace(/^CHARACTERVARYING/, 'VARCHAR')
    .replace(/^DECIMAL/, 'NUMERIC')
    .replace(/^(INTEGER|INT4)$/, 'INT')
    .replace(/^INT8$/, 'BIGINT')
    .replace(/^INT2$/, 'SMALLINT')
    .replace(/^TIMESTAMPWITHOUTTIMEZONE$/, 'TIMESTAMP')
    .replace(/^TIMESTAMPWITHTIMEZONE$/, 'TIMESTAMPTZ')
    .replace(/^PG_CATALOG\./, '');
}

/** A type as format_type spells it (`character varying(10)`), written as columnType does (`CHARACTERVARYING(10)`). */
export function catalogueType(type: string | undefined): string | undefined {
  return type === undefined ? undefined : type.toUpperCase().replace(/\s+/g, '');
}

function varcharLength(type: string): number | null | undefined {
  const match = /^VARCHAR(?:\((\d+)\))?$/.exec(type);
  if (!match) return undefined;
  return match[1] === undefined ? null : Number(match[1]);
}

function numericShape(type: string): { precision: number | null; scale: number } | undefined {
  const match = /^NUMERIC(?:\((\d+)(?:,(\d+))?\))?$/.exec(type);
  if (!match) return undefined;
  return { precision: match[1] === undefined ? null : Number(match[1]), scale: Number(match[2] ?? 0) };
}

/**
 * Whether ALTER COLUMN … TYPE `to` rewrites the table: 'no' (binary-coercible: varchar(n) to
 * text, to varchar, or to a longer varchar; numeric(p,s) to numeric or a larger precision with
 * the same scale; the same type), 'yes', or 'unknown' (the old type is not known from the files
 * and the new one is text-like, which is safe only from varchar or text).
 */
export function typeChangeRewrites(from: string | undefined, to: string): 'no' | 'yes' | 'unknown' | 'timezone' {
  const target = normalType(to);
  const textLike = target === 'TEXT' || target === 'VARCHAR';
  if (from === undefined || from === '') return textLike ? 'unknown' : 'yes';
  const source = normalType(from);
  if (source === target) return 'no';
  // timestamp <-> timestamptz: no rewrite on PostgreSQL 12+ when the session's TimeZone is UTC, a rewrite otherwise.
  if ((source === 'TIMESTAMP' && target === 'TIMESTAMPTZ') || (source === 'TIMESTAMPTZ' && target === 'TIMESTAMP')) return 'timezone';
  const sourceLength = varcharLength(source);
  if (source === 'TEXT' || sourceLength !== undefined) {
    // From varchar(n) or text to text or unbounded varchar: binary-coercible, nothing is checked or rewritten.
    if (textLike) return 'no';
    const targetLength = varcharLength(target);
    if (targetLength !== undefined && targetLength !== null && sourceLength !== undefined && sourceLength !== null && targetLength >= sourceLength) return 'no';
    return 'yes';
  }
  const sourceNumeric = numericShape(source);
  const targetNumeric = numericShape(target);
  if (sourceNumeric && targetNumeric) {
    if (targetNumeric.precision === null) return 'no';
    if (sourceNumeric.precision !== null && targetNumeric.scale === sourceNumeric.scale && targetNumeric.precision >= sourceNumeric.precision) return 'no';
  }
  return 'yes';
}
