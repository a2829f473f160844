/**
 * The SQL scanner of pgpair's one lexer: psql's token rules (src/fe_utils/psqlscan.l), one token at
 * a time. lexer.ts splits files into statements with it; classify.ts and the PGlite driver read a
 * statement's significant tokens through TokenCursor and TokenStream, which
 * run this same scanner lazily, so nothing in pgpair reads SQL with rules of its own.
 *
 * Pure: no I/O. Never throws, whatever the input.
 */
// Character classes are psqlscan.l's, applied to UTF-16 code units: every unit >= 0x80
// stands in for the bytes \200-\377 that PostgreSQL allows in identifiers and dollar-quote tags.

export type TokenKind =
  | 'space' | 'lineComment' | 'blockComment'
  | 'word' | 'quotedIdent' | 'string' | 'dollarString' | 'number' | 'param'
  | 'semicolon' | 'openParen' | 'closeParen' | 'metaCommand' | 'other';

export interface Token { kind: TokenKind; start: number; end: number; unterminated?: boolean }

const CH = {
  tab: 9, newline: 10, verticalTab: 11, formFeed: 12, carriageReturn: 13, space: 32,
  doubleQuote: 34, dollar: 36, ampersand: 38, quote: 39, openParen: 40, closeParen: 41, star: 42,
  dash: 45, dot: 46, slash: 47, zero: 48, nine: 57, semicolon: 59, backslash: 92, underscore: 95,
} as const;

function isSpace(unit: number): boolean {
  return unit === CH.space || (unit >= CH.tab && unit <= CH.carriageReturn);
}
function isDigit(unit: number): boolean {
  return unit >= CH.zero && unit <= CH.nine;
}
function isIdentStart(unit: number): boolean {
  return (unit >= 65 && unit <= 90) || (unit >= 97 && unit <= 122) || unit === CH.underscore || unit >= 0x80;
}
function isIdentCont(unit: number): boolean {
  return isIdentStart(unit) || isDigit(unit) || unit === CH.dollar;
}
function isDollarTagCont(unit: number): boolean {
  return isIdentStart(unit) || isDigit(unit);
}

/** Scans the token that starts at `start` (< sql.length). */
export function scanToken(sql: string, start: number): Token {
  const unit = sql.charCodeAt(start);
  const next = sql.charCodeAt(start + 1);

  if (isSpace(unit)) {
    let end = start + 1;
    while (end < sql.length && isSpace(sql.charCodeAt(end))) end++;
    return { kind: 'space', start, end };
  }
  if (unit === CH.dash && next === CH.dash) {
    let end = start + 2;
    while (end < sql.length && sql.charCodeAt(end) !== CH.newline && sql.charCodeAt(end) !== CH.carriageReturn) end++;
    return { kind: 'lineComment', start, end };
  }
  if (unit === CH.slash && next === CH.star) return scanBlockComment(sql, start);
  if (unit === CH.quote) return scanQuoted(sql, start, start, 'string', false);
  if (unit === CH.doubleQuote) return scanQuoted(sql, start, start, 'quotedIdent', false);
  if (unit === CH.dollar) return scanDollar(sql, start);
  if (isIdentStart(unit)) {
    const lower = unit | 0x20;
    // Prefixed literals E'', B'', X'', N'', U&'' and U&"" (only at a token start: in `namE'x'`
    // the E belongs to the identifier).
    if (next === CH.quote) {
      if (lower === 0x65) return scanQuoted(sql, start, start + 1, 'string', true);
      if (lower === 0x62 || lower === 0x78 || lower === 0x6e) return scanQuoted(sql, start, start + 1, 'string', false);
    }
    if (lower === 0x75 && next === CH.ampersand) {
      const third = sql.charCodeAt(start + 2);
      if (third === CH.quote) return scanQuoted(sql, start, start + 2, 'string', false);
      if (third === CH.doubleQuote) return scanQuoted(sql, start, start + 2, 'quotedIdent', false);
    }
    let end = start + 1;
    while (end < sql.length && isIdentCont(sql.charCodeAt(end))) end++;
    return { kind: 'word', start, end };
  }
  if (isDigit(unit) || (unit === CH.dot && isDigit(next))) return scanNumber(sql, start);
  if (unit === CH.semicolon) return { kind: 'semicolon', start, end: start + 1 };
  if (unit === CH.openParen) return { kind: 'openParen', start, end: start + 1 };
  if (unit === CH.closeParen) return { kind: 'closeParen', start, end: start + 1 };
  if (unit === CH.backslash) {
    // psql reads a meta-command and its arguments up to the end of the line.
    let end = start + 1;
    while (end < sql.length && sql.charCodeAt(end) !== CH.newline) end++;
    return { kind: 'metaCommand', start, end };
  }
  return { kind: 'other', start, end: start + 1 };
}

/** Nested C-style comment: PostgreSQL lets `/* ... /* ... *\/ ... *\/` nest. */
function scanBlockComment(sql: string, start: number): Token {
  let depth = 1;
  let i = start + 2;
  while (i < sql.length) {
    const unit = sql.charCodeAt(i);
    if (unit === CH.slash && sql.charCodeAt(i + 1) === CH.star) {
      depth++;
      i += 2;
    } else if (unit === CH.star && sql.charCodeAt(i + 1) === CH.slash) {
      i += 2;
      if (--depth === 0) return { kind: 'blockComment', start, end: i };
    } else {
      i++;
    }
  }
  return { kind: 'blockComment', start, end: sql.length, unterminated: true };
}

/**
 * A quoted string or identifier whose opening quote is at `quoteAt` (the token may begin earlier
 * with a prefix such as E or U&). A doubled quote stands for itself; with `backslashEscapes`
 * (E'' strings) a backslash also escapes the next character. An E'' string may continue after a
 * newline (`E'a'\n'b'`), and the continuation keeps the backslash rules, so it is followed here.
 */
function scanQuoted(sql: string, start: number, quoteAt: number, kind: 'string' | 'quotedIdent',
  backslashEscapes: boolean): Token {
  const quote = sql.charCodeAt(quoteAt);
  let i = quoteAt + 1;
  for (;;) {
    if (i >= sql.length) return { kind, start, end: sql.length, unterminated: true };
    const unit = sql.charCodeAt(i);
    if (backslashEscapes && unit === CH.backslash) {
      i += 2;
    } else if (unit === quote) {
      if (sql.charCodeAt(i + 1) === quote) {
        i += 2;
        continue;
      }
      const continued = backslashEscapes ? stringContinuation(sql, i + 1) : -1;
      if (continued === -1) return { kind, start, end: i + 1 };
      i = continued;
    } else {
      i++;
    }
  }
}

/**
 * SQL's string continuation: after a closing quote, whitespace containing at least one newline
 * (and `--` comments) followed by a quote continues the literal. Returns the index just after that
 * quote, or -1.
 */
function stringContinuation(sql: string, from: number): number {
  let i = from;
  let sawNewline = false;
  for (;;) {
    const unit = sql.charCodeAt(i);
    if (unit === CH.newline || unit === CH.carriageReturn) {
      sawNewline = true;
      i++;
    } else if (isSpace(unit)) {
      i++;
    } else if (unit === CH.dash && sql.charCodeAt(i + 1) === CH.dash) {
      while (i < sql.length && sql.charCodeAt(i) !== CH.newline && sql.charCodeAt(i) !== CH.carriageReturn) i++;
      // A comment after the newline must itself end with a newline to be part of the whitespace.
      if (sawNewline && i >= sql.length) return -1;
    } else if (unit === CH.quote && sawNewline) {
      return i + 1;
    } else {
      return -1;
    }
  }
}

/** `$1` parameters, `$tag$...$tag$` dollar quotes, or a lone `$`. */
function scanDollar(sql: string, start: number): Token {
  const next = sql.charCodeAt(start + 1);
  if (isDigit(next)) {
    let end = start + 2;
    while (end < sql.length && isDigit(sql.charCodeAt(end))) end++;
    // psqlscan.l's {param_junk} (`$1abc`, `$1a$b`): one token, whose `$`s start no quote. A `$`
    // right after the digits is no identifier character there: `$1$tag$` is `$1` and then a
    // dollar quote, to psql as to the server.
    if (end < sql.length && isIdentStart(sql.charCodeAt(end))) {
      while (end < sql.length && isIdentCont(sql.charCodeAt(end))) end++;
    }
    return { kind: 'param', start, end };
  }
  let tagEnd = start + 1;
  if (isIdentStart(next)) {
    tagEnd++;
    while (tagEnd < sql.length && isDollarTagCont(sql.charCodeAt(tagEnd))) tagEnd++;
  }
  if (sql.charCodeAt(tagEnd) !== CH.dollar) return { kind: 'other', start, end: start + 1 };
  const delimiter = sql.slice(start, tagEnd + 1);
  const close = sql.indexOf(delimiter, tagEnd + 1);
  if (close === -1) return { kind: 'dollarString', start, end: sql.length, unterminated: true };
  return { kind: 'dollarString', start, end: close + delimiter.length };
}

function skipDigits(sql: string, from: number): number {
  let end = from;
  while (end < sql.length && (isDigit(sql.charCodeAt(end)) || sql.charCodeAt(end) === CH.underscore)) end++;
  return end;
}

/** A numeric literal, including junk glued to it (`1abc`), so that its letters are no keyword. */
function scanNumber(sql: string, start: number): Token {
  let end = skipDigits(sql, start);
  if (sql.charCodeAt(end) === CH.dot && sql.charCodeAt(end + 1) !== CH.dot) end = skipDigits(sql, end + 1);
  if ((sql.charCodeAt(end) | 0x20) === 0x65) {
    const sign = sql.charCodeAt(end + 1);
    const exponentDigits = end + (sign === 43 || sign === CH.dash ? 2 : 1);
    if (isDigit(sql.charCodeAt(exponentDigits))) end = skipDigits(sql, exponentDigits);
  }
  if (end < sql.length && isIdentStart(sql.charCodeAt(end))) {
    while (end < sql.length && isIdentCont(sql.charCodeAt(end))) end++;
  }
  return { kind: 'number', start, end };
}

/** Upper case as PostgreSQL folds keywords: ASCII letters only. */
export function asciiUpper(word: string): string {
  for (let i = 0; i < word.length; i++) {
    if (word.charCodeAt(i) >= 0x80) return word.replace(/[a-z]+/g, (letters) => letters.toUpperCase());
  }
  return word.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Significant tokens, for reading a statement.

/**
 * A token that is neither whitespace nor a comment. `upper`: its text as PostgreSQL folds keywords
 * (ASCII letters upper-cased), or '' for a token longer than UPPER_LIMIT code units (no keyword or
 * option value is that long, and a long string literal is not copied). `depth`: the parentheses
 * open around it; a parenthesis itself is at the depth outside it.
 */
export interface SignificantToken extends Token { upper: string; depth: number }

const UPPER_LIMIT = 64;

/** The significant tokens of `text` in order, each scanned when asked for and not kept. */
export class TokenStream {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  /** The next significant token, or undefined after the last. */
  next(): SignificantToken | undefined {
    const text = this.text;
    while (this.pos < text.length) {
      const token = scanToken(text, this.pos);
      this.pos = token.end;
      const kind = token.kind;
      if (kind === 'space' || kind === 'lineComment' || kind === 'blockComment') continue;
      if (kind === 'closeParen' && this.depth > 0) this.depth--;
      // A new object with every field at once, not the scanned one grown by two: one shape for all.
      const upper = token.end - token.start <= UPPER_LIMIT ? asciiUpper(text.slice(token.start, token.end)) : '';
      const significant: SignificantToken = token.unterminated
        ? { kind, start: token.start, end: token.end, unterminated: true, upper, depth: this.depth }
        : { kind, start: token.start, end: token.end, upper, depth: this.depth };
      if (kind === 'openParen') this.depth++;
      return significant;
    }
    return undefined;
  }
}

/**
 * The significant tokens of one statement by index, scanned only as far as they are asked for: a
 * question about a statement's first words scans those words, however long the statement is. A
 * cursor keeps what it scanned; make one per question, not one per file.
 */
export class TokenCursor {
  private readonly seen: SignificantToken[] = [];
  private readonly stream: TokenStream;

  constructor(text: string) {
    this.stream = new TokenStream(text);
  }

  /** The token at `index` (0 is the statement's first), or undefined past the last. */
  at(index: number): SignificantToken | undefined {
    while (this.seen.length <= index) {
      const next = this.stream.next();
      if (next === undefined) return undefined;
      this.seen.push(next);
    }
    return this.seen[index];
  }
}
