/**
 * pgpair's own statements with their `$n` parameters written in as SQL literals. Two users, one
 * code: `--sql` scripts (render.ts), where psql has no bound parameters, and the postgres driver
 * (db/postgres/connection.ts), which sends the bookkeeping statements (history and log rows, the lock) this
 * way so that postgres.js never has to describe a statement before binding it: that stops its
 * pipeline and made every migration 6 round trips instead of 2 (bench/RESULTS.md). Named prepared
 * statements would avoid the describe too, but a migration that runs `DEALLOCATE ALL` or `DISCARD
 * ALL` drops them under the driver, which then hangs in the middle of a pipeline.
 *
 * Only pgpair's own statement texts go through here; migration SQL is sent as written.
 */
import { quoteLiteral } from './ident.js';
import { scanToken } from './tokens.js';

/**
 * A value the server computes while a `--sql` script runs, where pgpair would
 * bind a value it measured (a duration). Only the script renderer passes one;
 * it is written into the script as is.
 */
export class SqlExpression {
  constructor(readonly sql: string) {}
}

/** A value as a SQL literal: strings through quoteLiteral, NULL, booleans, integers; SqlExpressions as written. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof SqlExpression) return value.sql;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a SQL literal`);
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return quoteLiteral(value);
  throw new Error(`cannot write a ${typeof value} as a SQL literal`);
}

/** Statement texts split at their `$n` parameters: literal parts at even indexes, parameter numbers at odd ones. */
const templates = new Map<string, (string | number)[]>();

/**
 * `$n` is a parameter only where the server would read one: the lexer's `param` tokens, never inside
 * quotes, dollar quotes or comments (a history table named `h$1` is written `"h$1"` in the text,
 * and an identifier is never touched by value inlining).
 */
function template(text: string): (string | number)[] {
  let parts = templates.get(text);
  if (!parts) {
    parts = [];
    let literal = 0;
    for (let pos = 0; pos < text.length; ) {
      const token = scanToken(text, pos);
      pos = token.end;
      const parameter = token.kind === 'param' ? /^\$(\d+)$/.exec(text.slice(token.start, token.end)) : null;
      if (!parameter) continue;
      parts.push(text.slice(literal, token.start), Number(parameter[1]));
      literal = token.end;
    }
    parts.push(text.slice(literal));
    templates.set(text, parts);
  }
  return parts;
}

/** A statement with $n parameters, the parameters written in as literals; ends with `;`. */
export function inlineParams(text: string, params: readonly unknown[]): string {
  const parts = template(text);
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    if (part < 1 || part > params.length) throw new Error(`statement refers to $${part} but has ${params.length} parameters`);
    out += sqlLiteral(params[part - 1]);
  }
  return `${out};`;
}

/**
 * `$tag$body$tag$`, with the first of tag, tag1, tag2… that cannot end the quote early: it occurs
 * neither in the body nor where the body's end and the closing delimiter meet (`…$tag` + `$tag$`).
 * For DO blocks whose body holds values (names, history rows) pgpair does not choose.
 */
export function dollarQuote(body: string, tag = 'pgpair'): string {
  let chosen = tag;
  for (let n = 1; `${body}$${chosen}$`.indexOf(`$${chosen}$`) !== body.length; n++) chosen = `${tag}${n}`;
  return `$${chosen}$${body}$${chosen}$`;
}
