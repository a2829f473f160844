/**
 * COPY … FROM STDIN on PGlite. A statement runs synchronously in this thread,
 * so a statement that waits for input never returns: COPY FROM STDIN must come
 * through copyFrom, which rewrites it to read an attached blob, and is refused
 * anywhere else. Both find the statement with the lexer's tokens (core/tokens.ts),
 * so quotes, comments and dollar quotes (any tag PostgreSQL accepts, `$é$`
 * included) are read as the server reads them.
 */
import { TokenStream, type SignificantToken } from '../../core/tokens.js';

/** An error in the shape db/errors.ts reads, for what PGlite cannot do. */
export class PgliteRefusal extends Error {
  readonly severity = 'ERROR';
  constructor(
    message: string,
    readonly code: string,
    readonly position: string | undefined,
    readonly hint: string | undefined,
  ) {
    super(message);
  }
}

/**
 * The STDIN word of the first `COPY … FROM STDIN` statement in `text` (SQL,
 * possibly several statements), or null. Every ';' ends a statement here, even
 * in parentheses or a BEGIN ATOMIC body (where no COPY can be): a COPY missed
 * would hang, one seen too many is only refused.
 */
export function copyFromStdin(text: string): SignificantToken | null {
  if (!/stdin/i.test(text)) return null;
  const tokens = new TokenStream(text);
  let first: SignificantToken | undefined;
  let previous: SignificantToken | undefined;
  // The depth at which the current statement began: parentheses are counted over the whole text.
  let base = 0;
  for (let token = tokens.next(); token !== undefined; token = tokens.next()) {
    if (token.kind === 'semicolon') {
      first = previous = undefined;
      base = token.depth;
      continue;
    }
    first ??= token;
    if (first.upper === 'COPY' && token.depth === base && token.upper === 'STDIN' && previous?.upper === 'FROM' && previous.depth === base) return token;
    previous = token;
  }
  return null;
}

/** 1-based code point position of UTF-16 `index` in `text`, as PostgreSQL counts. */
export function codePointPosition(text: string, index: number): number {
  return Array.from(text.slice(0, index)).length + 1;
}

/** Refuses COPY … FROM STDIN outside copyFrom: PGlite would wait for the data forever, in this thread. */
export function refuseCopyFromStdin(text: string): void {
  const stdin = copyFromStdin(text);
  if (!stdin) return;
  throw new PgliteRefusal(
    'COPY … FROM STDIN needs its data sent with it, and this statement came without it',
    '0A000',
    String(codePointPosition(text, stdin.start)),
    'In a migration file, put the data lines right after the COPY statement, ended by a line holding only \\.',
  );
}

/** PGlite reads COPY data from a blob attached to the query, as this file. */
const BLOB = `'/dev/blob'`;

/**
 * `statement` (one COPY … FROM STDIN) reading the attached blob instead, and
 * how to move an error position in the rewritten text back onto `statement`.
 */
export function copyFromBlob(statement: string): { text: string; position: (rewritten: number) => number } {
  const stdin = copyFromStdin(statement);
  if (!stdin) throw new PgliteRefusal('copyFrom needs a COPY … FROM STDIN statement', '42601', undefined, undefined);
  const at = codePointPosition(statement, stdin.start);
  const shift = BLOB.length - (stdin.end - stdin.start);
  return {
    text: statement.slice(0, stdin.start) + BLOB + statement.slice(stdin.end),
    // Past the file name: shifted back; inside it: the STDIN word.
    position: (rewritten) => (rewritten >= at + BLOB.length ? rewritten - shift : Math.min(rewritten, at)),
  };
}

/** The COPY data as one Blob, which PGlite needs whole: its pieces are copied into it once, never joined into one string first. */
export async function collect(data: AsyncIterable<string | Uint8Array> | string): Promise<Blob> {
  if (typeof data === 'string') return new Blob([data]);
  const pieces: (string | Uint8Array)[] = [];
  for await (const piece of data) pieces.push(piece);
  return new Blob(pieces);
}
