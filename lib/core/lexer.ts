/**
 * SQL statement splitter for migration files, following psql's lexer (src/fe_utils/psqlscan.l):
 * a file is split where psql would send a statement to the server, so that a file behaves the same
 * under `psql -v ON_ERROR_STOP=1 -f FILE` and under pgpair.
 *
 * Pure: no I/O. Never throws, whatever the input.
 */
import { createLineLocator } from './position.js';
import { StatementReader } from './statement-reader.js';
import { scanToken, type TokenKind } from './tokens.js';

export { scanToken } from './tokens.js';

export interface SqlStatement {
  /**
   * Exact source text of the statement: from its first token (leading whitespace and comments that
   * precede the statement are NOT included) up to and including the terminating ';' if there is
   * one (a last statement without ';' runs to the end of its last token). For COPY ... FROM stdin,
   * text is only the COPY command itself, up to and including its ';'.
   */
  text: string;
  /** 0-based UTF-16 offset of `text` in the input string. */
  offset: number;
  /** 1-based line and 1-based column (counted in Unicode code points) where `text` starts. */
  line: number;
  column: number;
  /**
   * Present for `COPY ... FROM STDIN`: the data that follows the statement, starting on the line
   * after the COPY statement, up to but excluding the terminator line `\.`; data lines verbatim
   * with their '\n'. offset/line = where the data begins. terminated=false when the input ended
   * without a `\.` line (an error for the caller to report).
   */
  copyData?: CopyData;
}

/**
 * The data of a COPY … FROM stdin. splitStatements gives its `text`; a large file read in pieces
 * (lib/core/large-file.ts) gives its `location` in the file instead, and the data is read from the file
 * when it runs, never held whole.
 */
export type CopyData = {
  offset: number; line: number; terminated: boolean;
  /**
   * The terminator line as written, without its LF, when it is not just `\.`: `\.` and the CR of
   * a CRLF line end. psql sends it to the server, which wants it to end like the data lines, so a
   * script for psql writes it as the file does. Absent for `\.` and when the data is unterminated.
   */
  terminator?: string;
}
  & ({ text: string; location?: undefined } | { text?: undefined; location: CopyDataLocation });

export interface CopyDataLocation {
  /**
   * The data as bytes [start, end) of the file as stored (line ends as written: what psql sends),
   * without the terminator line.
   */
  start: number;
  end: number;
  /** Its length in UTF-16 code units, as `text.length` would be. */
  length: number;
}

export interface Directives {
  /** `-- pgpair:no-transaction` present in the leading comment block of the file. */
  noTransaction: boolean;
  /** Other known `-- pgpair:NAME VALUE` directives in that block, e.g. {version: '12'}. */
  values: Record<string, string>;
  /**
   * Comments that look like `-- pgpair:...` but name an unknown directive, are malformed, or appear
   * after the first statement: {line, text}, text being the comment as written (trimmed).
   */
  unknown: { line: number; text: string }[];
}

export interface LexProblem { line: number; column: number; message: string }

export interface LexResult {
  statements: SqlStatement[];
  directives: Directives;
  /**
   * psql meta-commands (a backslash outside strings, comments and COPY data), except the
   * `\restrict KEY` / `\unrestrict KEY` lines that pg_dump >= 17.6 writes between statements;
   * unterminated strings, quoted identifiers, dollar quotes and block comments; text after a
   * `COPY ... FROM stdin;` on its line; a `begin` word that makes psql take a CREATE
   * FUNCTION/PROCEDURE statement for a BEGIN ATOMIC body when it is none (StatementReader).
   */
  problems: LexProblem[];
}

/** Directive names pgpair understands; any other `-- pgpair:NAME` is reported as unknown. */
export const KNOWN_DIRECTIVES = ['no-transaction', 'version',
  // `-- pgpair:lint-ignore RULE reason` may stand anywhere, above the statement it is about: pgpair lint reads it (lib/core/lint/suppress.ts).
  'lint-ignore',
  // `-- pgpair:test-allow CATEGORY…` at the top of a down file: pgpair test accepts those differences (lib/run/schema-test.ts).
  'test-allow'] as const;

// ---------------------------------------------------------------------------------------------
// Splitting (where a statement ends: statement-reader.ts).

const DIRECTIVE_LIKE = /^--\s*pgpair\s*:/i;
const DIRECTIVE = /^--\s*pgpair:([a-z][a-z0-9_-]*)(?:[ \t]+(\S(?:.*\S)?))?[ \t]*$/i;
const HARMLESS_META_COMMANDS = new Set(['restrict', 'unrestrict']);

/**
 * Splits SQL text into statements the way psql would send them, with their positions, the COPY
 * data that follows `COPY ... FROM stdin;`, the pgpair directives of the leading comment block,
 * and every lexical problem found. Never throws.
 */
export function splitStatements(sql: string): LexResult {
  return lex(asText(sql), null) as LexResult;
}

/** splitStatements' answer for a piece of a file, with where the COPY data that ends the piece begins. */
export interface PieceLexResult extends LexResult {
  /**
   * Where the data of the last statement (a `COPY … FROM stdin`) begins in the piece: just after
   * its line. null when the piece holds no such statement and was lexed to its end.
   */
  copyDataAt: number | null;
  /** The 1-based line where that data begins. */
  copyDataLine: number;
}

/**
 * For reading a file in pieces (lib/core/large-file.ts): splits `piece`, a part of the file's text that
 * starts at the beginning of a line, up to where the data of its first `COPY … FROM stdin` begins.
 * Positions are relative to the piece. `continued`: the piece follows COPY data (the `\.` line)
 * rather than starting the file, so no BOM is skipped and a directive comment is not leading.
 * `final`: the piece runs to the end of the file. Unless final, returns null when the answer could
 * still change with text that follows: what it returns for a prefix of a text is what it returns
 * for the whole text. Never throws.
 */
export function splitUntilCopyData(piece: string, options: { continued: boolean; final: boolean }): PieceLexResult | null {
  return lex(asText(piece), options) as PieceLexResult | null;
}

function lex(text: string, piece: { continued: boolean; final: boolean } | null): LexResult | PieceLexResult | null {
  const locate = createLineLocator(text);
  const statements: SqlStatement[] = [];
  const problems: LexProblem[] = [];
  const directives: Directives = { noTransaction: false, values: {}, unknown: [] };
  const problem = (index: number, message: string): void => {
    problems.push({ ...locate(index), message });
  };

  let reader: StatementReader | undefined;
  let sawStatement = piece?.continued ?? false;
  // A byte order mark is no SQL (to PostgreSQL it would be an identifier character).
  let pos = !piece?.continued && text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const finish = (current: StatementReader, end: number): SqlStatement => {
    current.finish();
    if (current.misfiredBegin !== undefined) problem(current.misfiredBegin, MISFIRED_BEGIN);
    const statement: SqlStatement = {
      text: text.slice(current.start, end),
      offset: current.start,
      line: current.where.line,
      column: current.where.column,
    };
    statements.push(statement);
    return statement;
  };

  while (pos < text.length) {
    const token = scanToken(text, pos);
    pos = token.end;
    switch (token.kind) {
      case 'space':
        break;
      case 'lineComment': {
        const comment = text.slice(token.start, token.end);
        if (DIRECTIVE_LIKE.test(comment)) readDirective(comment, locate(token.start).line, !sawStatement, directives);
        break;
      }
      case 'blockComment':
        if (token.unterminated) problem(token.start, 'unterminated /* comment: the comment that starts here is never closed with */');
        break;
      case 'metaCommand': {
        const command = /^\\([A-Za-z]+|.?)/.exec(text.slice(token.start, token.end))?.[1] ?? '';
        if (reader === undefined && HARMLESS_META_COMMANDS.has(command)) break;
        problem(token.start, metaCommandMessage(command, reader !== undefined));
        break;
      }
      case 'semicolon': {
        if (reader === undefined) break; // an empty statement
        reader.feed(token, text);
        if (!reader.endsHere) break;
        const statement = finish(reader, token.end);
        if (reader.copyFromStdin && piece) {
          // Every token so far ended before this ';', and none looked further: with the rest of the line, the answer is settled.
          if (!piece.final && text.indexOf('\n', pos) === -1) return null;
          const copyDataAt = copyDataStart(text, pos, problem);
          return { statements, directives, problems, copyDataAt, copyDataLine: locate(copyDataAt).line };
        }
        if (reader.copyFromStdin) pos = readCopyData(text, pos, statement, locate, problem);
        reader = undefined;
        break;
      }
      default:
        if (reader === undefined) {
          reader = new StatementReader(token.start, locate(token.start));
          sawStatement = true;
        }
        reader.feed(token, text);
        if (token.unterminated) problem(token.start, unterminatedMessage(token.kind));
    }
  }
  if (piece && !piece.final) return null;
  if (reader !== undefined) {
    const statement = finish(reader, reader.lastEnd);
    if (reader.copyFromStdin) {
      statement.copyData = { text: '', offset: text.length, line: locate(text.length).line, terminated: false };
    }
  }
  return piece ? { statements, directives, problems, copyDataAt: null, copyDataLine: 0 } : { statements, directives, problems };
}

/** The input as a string; a caller ignoring the types gets a result, not an exception. */
function asText(input: unknown): string {
  if (typeof input === 'string') return input;
  try {
    return String(input);
  } catch {
    return '';
  }
}

/**
 * Reads the data of a `COPY ... FROM stdin;` whose ';' ends just before `pos`, as psql does: the
 * rest of the COPY line is still SQL, the data starts on the next line and ends at a line that is
 * exactly `\.`. Returns where lexing resumes.
 */
function readCopyData(sql: string, pos: number, statement: SqlStatement,
  locate: (index: number) => { line: number; column: number },
  problem: (index: number, message: string) => void): number {
  const dataStart = copyDataStart(sql, pos, problem);
  let lineStart = dataStart;
  while (lineStart < sql.length) {
    const next = sql.indexOf('\n', lineStart);
    const end = next === -1 ? sql.length : next;
    const line = sql.slice(lineStart, end);
    if (line === '\\.' || line === '\\.\r') {
      statement.copyData = { text: sql.slice(dataStart, lineStart), offset: dataStart, line: locate(dataStart).line, terminated: true, ...(line === '\\.' ? {} : { terminator: line }) };
      return next === -1 ? sql.length : next + 1;
    }
    lineStart = next === -1 ? sql.length : next + 1;
  }
  statement.copyData = { text: sql.slice(dataStart), offset: dataStart, line: locate(dataStart).line, terminated: false };
  return sql.length;
}

/** Checks the rest of the line of a `COPY ... FROM stdin;` whose ';' ends just before `pos`; returns where its data begins: on the next line. */
function copyDataStart(sql: string, pos: number, problem: (index: number, message: string) => void): number {
  const newline = sql.indexOf('\n', pos);
  const lineEnd = newline === -1 ? sql.length : newline;
  const rest = /^[ \t\f\v\r]*(?:--[^\n]*)?$/.exec(sql.slice(pos, lineEnd));
  if (rest === null) {
    const firstText = pos + (/^[ \t\f\v\r]*/.exec(sql.slice(pos, lineEnd))?.[0].length ?? 0);
    problem(firstText, 'text after COPY ... FROM stdin; on the same line: put it on its own line after the \\. that ends the COPY data');
  }
  return newline === -1 ? sql.length : newline + 1;
}

/** Records a `-- pgpair:...` comment; `leading` when it precedes the first statement. */
function readDirective(comment: string, line: number, leading: boolean, directives: Directives): void {
  const text = comment.trim();
  const match = DIRECTIVE.exec(text);
  const name = match?.[1]?.toLowerCase();
  const value = match?.[2];
  if (leading && name === 'no-transaction' && value === undefined) {
    directives.noTransaction = true;
  } else if (leading && name === 'version' && value !== undefined) {
    directives.values[name] = value;
  } else if (name === 'lint-ignore') {
    // Anywhere in the file; read by pgpair lint (lib/core/lint/suppress.ts), which reports a missing rule or reason.
  } else if (leading && name === 'test-allow' && value !== undefined) {
    // `pgpair test` accepts these categories of difference after this down file (lib/run/schema-test.ts).
    directives.values[name] = value;
  } else {
    directives.unknown.push({ line, text });
  }
}

const MISFIRED_BEGIN = 'this word begin, in a CREATE FUNCTION/PROCEDURE statement, is read by psql as the start '
  + 'of a BEGIN ATOMIC body: psql (and pgpair, which splits files exactly as psql does) would send everything '
  + 'up to a matching END, often the rest of the file, to the server as this one statement. Only BEGIN ATOMIC '
  + 'opens a body: write the name as "begin" (double-quoted) or rename it';

function unterminatedMessage(kind: TokenKind): string {
  switch (kind) {
    case 'quotedIdent': return 'unterminated quoted identifier: the " that starts here is never closed';
    case 'dollarString': return 'unterminated dollar-quoted string: the $...$ quote that starts here is never closed';
    default: return "unterminated quoted string: the ' that starts here is never closed";
  }
}

function metaCommandMessage(command: string, insideStatement: boolean): string {
  if (command === '.') {
    return 'a \\. line outside COPY data: \\. only ends the data of a COPY ... FROM stdin';
  }
  const where = insideStatement ? ' inside a statement' : '';
  return `psql meta-command \\${command}${where} is not supported: migrations must be plain SQL `
    + '(only the \\restrict and \\unrestrict lines that pg_dump writes are accepted)';
}
