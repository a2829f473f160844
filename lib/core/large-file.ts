/**
 * Pure: a migration file too large to hold whole, taken in piece by piece as lib/read/ reads it.
 * Its bytes are checksummed (with their line ends normalised, as checksum.ts does), checked and
 * decoded as they come; the SQL outside COPY data, as written (CRs included, as psql sends it), is
 * split by the lexer in pieces (splitUntilCopyData), and the data of each `COPY … FROM stdin` is
 * recorded as a location in the file (its bytes as stored) instead of text. What comes out is what
 * lib/core/files.ts, lib/core/checksum.ts and lib/core/analyze.ts make of the same file read whole, except that the
 * COPY data is located rather than held: it is read from the file again when it runs.
 */
import { createHash } from 'node:crypto';
import { CHECKSUM_ALGORITHM } from './checksum.js';
import { CR, EMPTY, LF, LineEndNormaliser } from './line-ends.js';
import { splitUntilCopyData, type Directives, type LexProblem, type LexResult, type PieceLexResult, type SqlStatement } from './lexer.js';

/**
 * Files up to this size are read whole, as always: one read and one string is the fastest way for
 * the thousands of small files a directory holds, and typical migrations and pg_dump schema files
 * are far below it. Held whole, a file costs 3 to 5 times its size in memory (the bytes, the
 * decoded text, the copy the driver sends), so 8 MiB costs at most about 40 MB. Above it a file
 * is read in pieces and its COPY data streamed, whatever its size.
 */
export const LARGE_FILE_BYTES = 8 * 1024 * 1024;

/** Bytes per read of a large file: small enough to stay out of the way, large enough for few system calls. */
export const READ_CHUNK_BYTES = 64 * 1024;

export interface Checkpoint {
  raw: number;
  lines: number;
}

/** A stretch of the file's SQL outside COPY data, with where it starts in the file's text (UTF-16 offset, BOM removed, as MigrationFile.text). */
export interface SqlSegment {
  text: string;
  offset: number;
}

/** What a large file holds, short of its text. */
export interface LargeFileContent {
  /** The file's statements, directives and problems, as splitStatements gives them for the whole text, except that COPY data carries a `location`, not `text`. */
  lexed: LexResult;
  /** Every stretch of SQL between COPY data, in order: the text outside COPY data, `\.` lines excluded. */
  segments: SqlSegment[];
  /** Lines of the text, counted as position.ts's excerpt counts them (line feeds). */
  lineCount: number;
  checkpoints: Checkpoint[];
}

export interface ScannedFile extends LargeFileContent {
  checksum: string;
  /** The file holds a NUL byte. (Its line, as lib/core/files.ts counts it, takes another read: see source.ts.) */
  hasNul: boolean;
}

function countLineFeeds(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(LF); at !== -1; at = bytes.indexOf(LF, at + 1)) count++;
  return count;
}

/**
 * Takes in a file's bytes, piece by piece, and gives what files.ts and analyze.ts need of it:
 * checksum, statements with COPY data located, lines, NUL bytes. Memory: the SQL outside COPY data,
 * and at most about one piece of COPY data at a time.
 */
export class LargeFileScanner {
  /** The bytes are not UTF-8; nothing else about the file is known then. */
  invalidUtf8 = false;
  /** The checksum is over the normalised bytes; everything else reads the bytes as stored. */
  private readonly normaliser = new LineEndNormaliser(true);
  private readonly hash = createHash('sha256');
  /** ignoreBOM false: the decoder drops a leading BOM, as checksum.ts sqlAsWritten does. */
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  private readonly pieces = new PieceLexer();
  private readonly checkpoints: Checkpoint[] = [];
  private raw = 0;
  /** The first bytes, until they tell whether the file starts with a BOM; null once known. */
  private head: number[] | null = [];
  private lineFeeds = 0;
  /** The bytes after the last line feed, up to two of them: a last line that is empty or only a CR shows as no line. */
  private lastLine: number[] = [];
  private hasNul = false;

  push(bytes: Uint8Array): void {
    if (this.invalidUtf8) return;
    this.checkpoints.push({ raw: this.raw, lines: this.lineFeeds });
    this.raw += bytes.length;
    this.hash.update(this.normaliser.push(bytes));
    this.take(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), false);
  }

  /** At the end of the file: what it holds, or null when it is not UTF-8. */
  end(): ScannedFile | null {
    if (!this.invalidUtf8) {
      this.hash.update(this.normaliser.end());
      this.take(EMPTY, true);
    }
    if (this.invalidUtf8) return null;
    return {
      checksum: `${CHECKSUM_ALGORITHM}:${this.hash.digest('hex')}`,
      hasNul: this.hasNul,
      lexed: { statements: this.pieces.statements, directives: this.pieces.directives, problems: this.pieces.problems },
      segments: this.pieces.segments,
      lineCount: this.lineFeeds + (this.lineFeeds > 0 && (this.lastLine.length === 0 || (this.lastLine.length === 1 && this.lastLine[0] === CR)) ? 0 : 1),
      checkpoints: this.checkpoints,
    };
  }

  private take(bytes: Buffer, final: boolean): void {
    if (this.head) {
      for (let i = 0; i < bytes.length && this.head.length < 3; i++) this.head.push(bytes[i]!);
      const [first, second, third] = this.head;
      if (first !== 0xef || this.head.length >= 3 || final) {
        // The decoder drops the BOM from the text; COPY data locations count its bytes.
        if (first === 0xef && second === 0xbb && third === 0xbf) this.pieces.startAtByte(3);
        this.head = null;
      }
    }
    if (!this.hasNul && bytes.indexOf(0) !== -1) this.hasNul = true;
    this.lineFeeds += countLineFeeds(bytes);
    const lastLineFeed = bytes.lastIndexOf(LF);
    if (lastLineFeed !== -1) this.lastLine = [];
    for (let i = lastLineFeed + 1; i < bytes.length && this.lastLine.length < 2; i++) this.lastLine.push(bytes[i]!);
    let text: string;
    try {
      text = this.decoder.decode(bytes, { stream: !final });
    } catch {
      this.invalidUtf8 = true;
      return;
    }
    this.pieces.push(text);
    if (final) this.pieces.end();
  }
}

/** The COPY data being read: where it began, and how much of it came so far. */
interface DataBlock {
  statement: SqlStatement;
  offset: number;
  line: number;
  byte: number;
  units: number;
  bytes: number;
  lineFeeds: number;
  atLineStart: boolean;
  /** The start of a line that may be the terminator, `\` or `\.`, until the next text tells. */
  carry: string;
}

/** The lines that end COPY data, as psql's handleCopyIn recognises them: `\.` and a LF or CRLF line end. */
const TERMINATORS = ['\\.\n', '\\.\r\n'];

/**
 * The file's text (BOM removed), in pieces as decoded, split into statements. SQL text is gathered until
 * splitUntilCopyData can settle it (tried again each time the text has doubled, so the lexing stays
 * linear in the size of the SQL); from the data start of a COPY … FROM stdin its lines are only
 * counted and measured, up to the `\.` line; lexing resumes after it, with positions shifted by
 * where the piece starts.
 */
class PieceLexer {
  readonly statements: SqlStatement[] = [];
  readonly problems: LexProblem[] = [];
  readonly directives: Directives = { noTransaction: false, values: {}, unknown: [] };
  readonly segments: SqlSegment[] = [];
  /** Where the SQL being gathered starts: UTF-16 offset, line, byte of the file. */
  private base = { offset: 0, line: 1, byte: 0 };
  private pending = '';
  private nextAttempt = 1;
  private data: DataBlock | null = null;

  /** The text starts `byte` bytes into the file (after a BOM): for COPY data locations. */
  startAtByte(byte: number): void {
    this.base.byte = byte;
  }

  push(text: string): void {
    if (this.data) this.scanData(text);
    else this.pending += text;
    this.lexPending(false);
  }

  end(): void {
    if (this.data) this.endDataAtEndOfFile();
    this.lexPending(true);
  }

  private lexPending(final: boolean): void {
    while (!this.data) {
      if (!final && this.pending.length < this.nextAttempt) return;
      const piece = this.pending;
      const lexed = splitUntilCopyData(piece, { continued: this.segments.length > 0, final });
      if (lexed === null) {
        this.nextAttempt = 2 * piece.length;
        return;
      }
      const end = lexed.copyDataAt ?? piece.length;
      const sql = piece.slice(0, end);
      this.add(lexed, sql);
      this.pending = '';
      this.nextAttempt = 1;
      if (lexed.copyDataAt === null) return;
      this.data = {
        statement: this.statements[this.statements.length - 1]!,
        offset: this.base.offset + end,
        line: this.base.line + lexed.copyDataLine - 1,
        byte: this.base.byte + Buffer.byteLength(sql),
        units: 0,
        bytes: 0,
        lineFeeds: 0,
        atLineStart: true,
        carry: '',
      };
      this.scanData(piece.slice(end));
      if (final && this.data) this.endDataAtEndOfFile();
    }
  }

  /** Takes in a piece's statements, problems and directives, moved to where the piece is in the file. */
  private add(lexed: PieceLexResult, sql: string): void {
    const { offset, line, byte } = this.base;
    for (const statement of lexed.statements) {
      statement.offset += offset;
      statement.line += line - 1;
      if (statement.copyData) {
        // A COPY … FROM stdin without ';' at the end of the file: no data, and no end to it.
        const end = byte + Buffer.byteLength(sql);
        statement.copyData = { offset: statement.copyData.offset + offset, line: statement.copyData.line + line - 1, terminated: false, location: { start: end, end, length: 0 } };
      }
      this.statements.push(statement);
    }
    for (const problem of lexed.problems) this.problems.push({ ...problem, line: problem.line + line - 1 });
    if (lexed.directives.noTransaction) this.directives.noTransaction = true;
    Object.assign(this.directives.values, lexed.directives.values);
    for (const unknown of lexed.directives.unknown) this.directives.unknown.push({ ...unknown, line: unknown.line + line - 1 });
    this.segments.push({ text: sql, offset });
  }

  /** COPY data, line by line, until the `\.` line: after it, the text is SQL again. */
  private scanData(text: string): void {
    const data = this.data!;
    let chunk = data.carry + text;
    data.carry = '';
    let at = 0;
    while (at < chunk.length) {
      if (data.atLineStart) {
        const rest = chunk.slice(at, at + 4);
        const terminator = TERMINATORS.find((candidate) => rest.startsWith(candidate));
        if (terminator) {
          this.endData(chunk.slice(0, at), terminator.length, chunk.slice(at + terminator.length));
          return;
        }
        if (TERMINATORS.some((candidate) => rest.length < candidate.length && candidate.startsWith(rest))) {
          data.carry = chunk.slice(at);
          chunk = chunk.slice(0, at);
          break;
        }
        data.atLineStart = false;
      }
      const newline = chunk.indexOf('\n', at);
      if (newline === -1) break;
      data.lineFeeds++;
      at = newline + 1;
      data.atLineStart = true;
    }
    data.units += chunk.length;
    data.bytes += Buffer.byteLength(chunk);
  }

  private endDataAtEndOfFile(): void {
    const carry = this.data!.carry;
    // A last line of just `\.` (or `\.` and a CR) ends the data too (splitStatements' readCopyData).
    if (carry === '\\.' || carry === '\\.\r') this.endData('', carry.length, null);
    else this.endData(carry, 0, null);
  }

  /**
   * The data ends with `last`, followed by a terminator line of `terminator` UTF-16 units (ASCII,
   * so as many bytes; 0: none, the data is unterminated); `rest` is the SQL after it (null: the
   * file ended).
   */
  private endData(last: string, terminator: number, rest: string | null): void {
    const data = this.data!;
    const terminated = terminator > 0;
    data.units += last.length;
    data.bytes += Buffer.byteLength(last);
    const location = { start: data.byte, end: data.byte + data.bytes, length: data.units };
    // The terminator line without its LF; recorded when it is not just `\.` (CopyData.terminator).
    const line = terminated ? (rest === null ? '\\.\r' : '\\.\r\n').slice(0, terminator - (rest === null ? 0 : 1)) : '\\.';
    data.statement.copyData = { offset: data.offset, line: data.line, terminated, ...(line === '\\.' ? {} : { terminator: line }), location };
    this.base = {
      offset: data.offset + data.units + terminator,
      line: data.line + data.lineFeeds + (rest === null ? 0 : 1),
      byte: data.byte + data.bytes + terminator,
    };
    this.data = null;
    this.pending = rest ?? '';
    this.nextAttempt = 1;
  }
}
