/** Pure helpers for identifiers and literals. Identifiers are always quoted. */

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Characters that make quoteLiteral write an E'' literal: a backslash, and every ASCII control character. */
const NEEDS_ESCAPES = /[\\\x00-\x1f\x7f]/;

const ESCAPES: Record<string, string> = { '\\': '\\\\', "'": "''", '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A SQL string literal that means the same whatever standard_conforming_strings is, and that psql
 * reads the same way the server does: a plain '' literal when the value holds no backslash and
 * no control character, else an E'' literal in which every backslash and control character is an
 * escape (\\, \n, \x01…), so the literal is one line of printable text. (A migration may turn
 * standard_conforming_strings off, and psql lexes by the server's setting: an E'' literal is read
 * the same either way, and a plain one without a backslash is too.) A NUL becomes \x00, which the
 * server refuses, as it refuses a NUL in any text.
 */
export function quoteLiteral(value: string): string {
  if (!NEEDS_ESCAPES.test(value)) return `'${value.replace(/'/g, "''")}'`;
  return `E'${value.replace(/[\\'\x00-\x1f\x7f]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

export interface TableName {
  /** null: the connection's current schema. */
  schema: string | null;
  name: string;
}

/** PostgreSQL truncates a longer identifier (NAMEDATALEN - 1 bytes), silently but for a NOTICE. */
const MAX_IDENTIFIER_BYTES = 63;
/** The longest history table name whose log trigger, NAME_log_append_only, is not truncated. */
export const MAX_TABLE_NAME_BYTES = MAX_IDENTIFIER_BYTES - '_log_append_only'.length;

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/**
 * Parses `--table [schema.]name`. null when it is not one or two non-empty parts, or when a part
 * is longer than PostgreSQL keeps (63 bytes; the table's name at most MAX_TABLE_NAME_BYTES, so
 * that NAME_log is never truncated into NAME itself). A part may be double-quoted to hold dots or
 * capitals ("My.Schema"."History"); unquoted parts are taken as written (no
 * case folding), since they are always quoted in SQL.
 */
export function parseTableName(text: string): TableName | null {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let part = '';
      i++;
      for (;;) {
        if (i >= text.length) return null;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i];
        i++;
      }
      parts.push(part);
    } else {
      let end = text.indexOf('.', i);
      if (end === -1) end = text.length;
      parts.push(text.slice(i, end));
      i = end;
    }
    if (i < text.length) {
      if (text[i] !== '.') return null;
      i++;
      if (i === text.length) return null;
    }
  }
  if (parts.length < 1 || parts.length > 2 || parts.some((p) => p.length === 0 || utf8Length(p) > MAX_IDENTIFIER_BYTES)) return null;
  // The log table and its trigger are named after the table (NAME_log, NAME_log_append_only): they must fit too.
  if (utf8Length(parts[parts.length - 1]!) > MAX_TABLE_NAME_BYTES) return null;
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: null, name: parts[0]! };
}
