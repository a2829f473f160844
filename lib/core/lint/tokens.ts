/**
 * Pure: reading a DDL statement's significant tokens (the lexer's, lib/core/tokens.ts) as the lint
 * rules need them: words, qualified names, top-level lists. Strings, dollar-quoted bodies and
 * comments are single tokens here, so text inside them never looks like DDL.
 */
import type { SqlStatement } from '../lexer.js';
import { lineColumnInStatement } from '../position.js';
import { TokenStream, type SignificantToken } from '../tokens.js';
import type { TableRef } from './types.js';

/** A statement's significant tokens, all of them (only DDL statements are read this way: they are short). */
export class Tokens {
  readonly list: SignificantToken[] = [];

  constructor(readonly statement: SqlStatement) {
    const stream = new TokenStream(statement.text);
    for (let token = stream.next(); token !== undefined; token = stream.next()) {
      if (token.kind === 'semicolon' && token.depth === 0) break;
      this.list.push(token);
    }
  }

  get length(): number {
    return this.list.length;
  }

  at(i: number): SignificantToken | undefined {
    return this.list[i];
  }

  /** The unquoted keyword at `i` (upper case), or '' for anything else. */
  word(i: number): string {
    const token = this.list[i];
    return token !== undefined && token.kind === 'word' ? token.upper : '';
  }

  is(i: number, ...words: string[]): boolean {
    return words.includes(this.word(i));
  }

  /** The text of tokens [from, to) as written, spaced as a person would write it (`varchar(10)`, `a, b`). */
  text(from: number, to: number): string {
    let out = '';
    let previous: SignificantToken | undefined;
    for (let i = from; i < to && i < this.list.length; i++) {
      const token = this.list[i]!;
      const glued = previous === undefined || previous.kind === 'openParen' || previous.upper === '.' || token.kind === 'closeParen'
        || token.upper === ',' || token.upper === '.' || (token.kind === 'openParen' && previous.kind === 'word');
      out += (glued ? '' : ' ') + this.statement.text.slice(token.start, token.end);
      previous = token;
    }
    return out;
  }

  /** Line and column in the file of the token at `i` (the statement's start when past the end). */
  where(i: number): { line: number; column: number } {
    const token = this.list[i];
    if (token === undefined) return { line: this.statement.line, column: this.statement.column };
    return lineColumnInStatement(this.statement, token.start);
  }

  /** Index of the ')' closing the '(' at `open`, or the length. */
  closing(open: number): number {
    const depth = this.list[open]?.depth ?? 0;
    for (let i = open + 1; i < this.list.length; i++) {
      const token = this.list[i]!;
      if (token.kind === 'closeParen' && token.depth === depth) return i;
    }
    return this.list.length;
  }

  /** Ranges [start, end) of the comma-separated items at `depth` between from and to. */
  items(from: number, to: number, depth: number): [number, number][] {
    const ranges: [number, number][] = [];
    let start = from;
    for (let i = from; i < to; i++) {
      const token = this.list[i]!;
      if (token.depth === depth && token.kind === 'other' && token.upper === ',') {
        ranges.push([start, i]);
        start = i + 1;
      }
    }
    if (start < to) ranges.push([start, to]);
    return ranges;
  }

  /** Index of the first top-level word among `words` in [from, to), or -1. */
  find(from: number, to: number, ...words: string[]): number {
    const depth = this.list[from]?.depth ?? 0;
    for (let i = from; i < to && i < this.list.length; i++) {
      if (this.list[i]!.depth === depth && words.includes(this.word(i))) return i;
    }
    return -1;
  }

  /** The identifier at `i` as PostgreSQL reads it: a word folded to lower case, a quoted one unquoted. */
  ident(i: number): string | null {
    const token = this.list[i];
    if (token === undefined) return null;
    const raw = this.statement.text.slice(token.start, token.end);
    if (token.kind === 'word') return raw.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
    if (token.kind === 'quotedIdent' && raw.startsWith('"')) return raw.slice(1, -1).replace(/""/g, '"');
    return null;
  }

  /** A possibly schema-qualified name starting at `i`: the name and the index after it. */
  qualified(i: number): { ref: TableRef; next: number } | null {
    const first = this.ident(i);
    if (first === null) return null;
    if (this.list[i + 1]?.upper === '.') {
      const second = this.ident(i + 2);
      if (second !== null) {
        // catalog.schema.name: the database part is dropped.
        if (this.list[i + 3]?.upper === '.') {
          const third = this.ident(i + 4);
          if (third !== null) return { ref: { schema: second, name: third }, next: i + 5 };
        }
        return { ref: { schema: first, name: second }, next: i + 3 };
      }
    }
    return { ref: { schema: null, name: first }, next: i + 1 };
  }
}

/** A name as the user would write it again: quoted where folding would change it. */
export function displayRef(ref: TableRef): string {
  const part = (name: string) => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);
  return ref.schema === null ? part(ref.name) : `${part(ref.schema)}.${part(ref.name)}`;
}
