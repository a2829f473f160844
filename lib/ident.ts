/** Pure helpers for identifiers and literals. Identifiers are always quoted. */

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal, right whatever standard_conforming_strings is (E'' when it holds a backslash). See literal.ts. */
export function quoteLiteral(value: string): string {
  if (!/['\\]/.test(value)) return `'${value}'`;
  if (value.includes('\\')) return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return `'${value.replace(/'/g, "''")}'`;
}

export interface TableName {
  /** null: the connection's current schema. */
  schema: string | null;
  name: string;
}

/**
 * Parses `--table [schema.]name`. A part may be double-quoted to hold dots or
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
  if (parts.length < 1 || parts.length > 2 || parts.some((p) => p.length === 0 || p.length > 63)) return null;
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: null, name: parts[0]! };
}

export function qualifiedName(table: TableName): string {
  return table.schema === null ? quoteIdent(table.name) : `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

export function displayName(table: TableName): string {
  return table.schema === null ? table.name : `${table.schema}.${table.name}`;
}
