/**
 * Positions in SQL text. Three coordinate systems meet here:
 * - JavaScript strings are indexed in UTF-16 code units (0-based);
 * - PostgreSQL reports error positions as 1-based character (code point) offsets into the query
 *   text it received;
 * - people read 1-based lines and columns, where a column counts characters (code points), so an
 *   emoji or an accented letter is one column.
 *
 * Pure: no I/O.
 */
import { sqlPasswordLiterals } from './mask.js';

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

function clampIndex(text: string, index: number): number {
  if (!Number.isFinite(index) || index <= 0) return 0;
  return Math.min(Math.floor(index), text.length);
}

/**
 * Number of code points in text[from, to). A lone surrogate counts as one code point, and a
 * surrogate pair cut in half by `to` counts its first half as one.
 */
function countCodePoints(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) {
    count++;
    if (isHighSurrogate(text.charCodeAt(i)) && i + 1 < to && isLowSurrogate(text.charCodeAt(i + 1))) i++;
  }
  return count;
}

/**
 * PostgreSQL reports error positions as 1-based character (code point) offsets into the query text
 * it received. Convert such a position in `text` to a 0-based UTF-16 index (clamped to text
 * length). Positions below 1 (or not a number) map to 0.
 */
export function codePointPositionToIndex(text: string, position: number): number {
  if (!Number.isFinite(position) || position <= 1) return 0;
  let remaining = Math.floor(position) - 1;
  let index = 0;
  while (remaining > 0 && index < text.length) {
    const unit = text.charCodeAt(index);
    index += isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(index + 1)) ? 2 : 1;
    remaining--;
  }
  return index;
}

/** 0-based UTF-16 index in `text` → 1-based line and 1-based column in code points. */
export function lineColumnAt(text: string, index: number): { line: number; column: number } {
  return createLineLocator(text)(index);
}

/**
 * `lineColumnAt(fileText, statement.offset + index)` from the statement alone: 0-based UTF-16
 * `index` in `statement.text` (clamped to it) → 1-based line and column in the file.
 */
export function lineColumnInStatement(statement: { text: string; line: number; column: number }, index: number): { line: number; column: number } {
  const { text } = statement;
  const at = clampIndex(text, index);
  const lastNewline = text.lastIndexOf('\n', at - 1);
  if (at === 0 || lastNewline === -1) return { line: statement.line, column: statement.column + countCodePoints(text, 0, at) };
  let line = statement.line;
  for (let i = text.indexOf('\n'); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) line++;
  return { line, column: 1 + countCodePoints(text, lastNewline + 1, at) };
}

/**
 * A fast repeated form of `lineColumnAt` for one text: lines are indexed once, and columns are
 * counted incrementally when successive lookups move forward on the same line (the lexer asks for
 * every statement's start in order, and a minified dump can be one very long line).
 */
export function createLineLocator(text: string): (index: number) => { line: number; column: number } {
  const lineStarts: number[] = [0];
  // Lines are indexed only as far as lookups reach: the lexer stops at COPY data, maybe early in a long text.
  let nextNewline = text.indexOf('\n');

  let cachedLine = -1;
  let cachedIndex = 0;
  let cachedColumn = 1;

  return (rawIndex: number) => {
    const index = clampIndex(text, rawIndex);
    for (; nextNewline !== -1 && nextNewline < index; nextNewline = text.indexOf('\n', nextNewline + 1)) lineStarts.push(nextNewline + 1);
    // Last line start <= index.
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((lineStarts[middle] ?? 0) <= index) low = middle;
      else high = middle - 1;
    }
    const lineStart = lineStarts[low] ?? 0;
    let column: number;
    // Resuming the count in the middle of a surrogate pair would count its low half twice.
    const cacheUsable = low === cachedLine && index >= cachedIndex
      && !(isLowSurrogate(text.charCodeAt(cachedIndex)) && isHighSurrogate(text.charCodeAt(cachedIndex - 1)));
    if (cacheUsable) {
      column = cachedColumn + countCodePoints(text, cachedIndex, index);
    } else {
      column = 1 + countCodePoints(text, lineStart, index);
    }
    cachedLine = low;
    cachedIndex = index;
    cachedColumn = column;
    return { line: low + 1, column };
  };
}

/**
 * A short excerpt for error messages: up to `before` lines before (default 2) and `after`
 * (default 1) after the given 1-based line, each prefixed with a right-aligned line number gutter
 * like ` 12 | `, and a caret line `    |     ^` under the given 1-based column (tabs in the source
 * line are preserved in the caret line's padding so the caret lines up). Line and column are
 * clamped to the text. Returns a string without trailing newline.
 */
export function excerpt(text: string, line: number, column: number,
  opts: { before?: number; after?: number } = {}): string {
  const lines = text.split('\n').map((source) => (source.endsWith('\r') ? source.slice(0, -1) : source));
  // A final newline does not start another line worth showing.
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const window = excerptWindow(lines.length, line, opts);
  return formatExcerpt(lines.slice(window.first - 1, window.last), window, column);
}

/**
 * The lines `excerpt` shows (1-based, first to last) around `line` of a text of `lineCount` lines
 * (a final newline starts no line), and the one it points at: for a text not held whole, whose
 * lines are read for formatExcerpt.
 */
export function excerptWindow(lineCount: number, line: number,
  opts: { before?: number; after?: number } = {}): { first: number; last: number; target: number } {
  const before = Math.max(0, Math.floor(opts.before ?? 2));
  const after = Math.max(0, Math.floor(opts.after ?? 1));
  const target = Math.min(Math.max(1, Math.floor(Number.isFinite(line) ? line : 1)), lineCount);
  return { first: Math.max(1, target - before), last: Math.min(lineCount, target + after), target };
}

/**
 * `excerpt` from the lines of its window (`lines[0]` is line `window.first`). The contents of SQL
 * password literals (`PASSWORD 'x'`, E'', dollar-quoted) in these lines are shown as `***`, and
 * the caret moves with the text it points at. A literal that opens before the window is not seen.
 */
export function formatExcerpt(lines: readonly string[], window: { first: number; last: number; target: number }, column: number): string {
  const { first, last, target } = window;
  const width = String(last).length;
  const blankGutter = ` ${' '.repeat(width)} |`;
  const masked = maskPasswordLiterals(lines);

  const rendered: string[] = [];
  for (let number = first; number <= last; number++) {
    const { text: source, column: columnIn } = masked[number - first] ?? { text: '', column: (c: number) => c };
    rendered.push(`${` ${String(number).padStart(width)} |`}${source === '' ? '' : ` ${source}`}`);
    if (number === target) {
      const codePoints = Array.from(source);
      const col = Math.min(Math.max(1, columnIn(Math.floor(Number.isFinite(column) ? column : 1))), codePoints.length + 1);
      const padding = codePoints.slice(0, col - 1).map((ch) => (ch === '\t' ? '\t' : ' ')).join('');
      rendered.push(`${blankGutter} ${padding}^`);
    }
  }
  return rendered.join('\n');
}

/** Each line with the password literals' contents as `***`, and its 1-based column (code points) → the masked line's. */
function maskPasswordLiterals(lines: readonly string[]): Array<{ text: string; column: (column: number) => number }> {
  const joined = lines.join('\n');
  const ranges = sqlPasswordLiterals(joined);
  let offset = 0;
  return lines.map((line) => {
    const start = offset;
    offset += line.length + 1;
    // This line's pieces of literals, in code points from its start.
    const pieces = ranges
      .map(([from, to]) => [Math.max(from, start), Math.min(to, start + line.length)] as const)
      .filter(([from, to]) => to > from)
      .map(([from, to]) => ({ from: from - start, to: to - start }));
    if (pieces.length === 0) return { text: line, column: (c: number) => c };
    let text = '';
    let at = 0;
    for (const piece of pieces) {
      text += `${line.slice(at, piece.from)}***`;
      at = piece.to;
    }
    text += line.slice(at);
    const spans = pieces.map((piece) => ({ from: countCodePoints(line, 0, piece.from), to: countCodePoints(line, 0, piece.to) }));
    return {
      text,
      column: (c: number) => {
        const index = c - 1;
        let shift = 0;
        let moved = index;
        for (const span of spans) {
          if (index >= span.to) shift += 3 - (span.to - span.from);
          else {
            if (index >= span.from) moved = span.from;
            break;
          }
        }
        return moved + shift + 1;
      },
    };
  });
}
