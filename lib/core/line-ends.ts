/** Pure: line ends normalised on bytes taken in pieces, as checksum.ts normalises a whole text. */

export const EMPTY = Buffer.alloc(0);
export const CR = 0x0d;
export const LF = 0x0a;

/**
 * checksum.ts's normaliseSql on bytes, in pieces: a leading UTF-8 BOM removed, CRLF and lone CR
 * turned into LF, also when a CR ends one piece and its LF starts the next. Only ASCII bytes change,
 * so the output is valid UTF-8 exactly when the input is.
 */
export class LineEndNormaliser {
  /** Bytes taken in so far. */
  raw = 0;
  /** Normalised bytes given out so far. */
  normalised = 0;
  /** A CR at the end of the last piece, or the first bytes of what may be a BOM: given out once the next byte is known. */
  private held: Buffer | null = null;
  private atFileStart: boolean;

  /** `atFileStart`: the first byte pushed is the file's first, so a BOM there is removed. */
  constructor(atFileStart: boolean) {
    this.atFileStart = atFileStart;
  }

  /** True when every byte taken in has been given out: a later read can start afresh at `raw` (see Checkpoint). */
  get settled(): boolean {
    return this.held === null;
  }

  /** The normalised bytes of `piece` (and of what was held), possibly `piece` itself: use them before pushing again. */
  push(piece: Uint8Array): Buffer {
    this.raw += piece.length;
    let bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    if (this.held) {
      bytes = Buffer.concat([this.held, bytes]);
      this.held = null;
    }
    if (this.atFileStart) {
      if (bytes.length < 3 && bytes.every((byte, i) => byte === [0xef, 0xbb, 0xbf][i])) {
        this.held = bytes.length > 0 ? Buffer.from(bytes) : null;
        return EMPTY;
      }
      this.atFileStart = false;
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    }
    const out = this.lineEnds(bytes);
    this.normalised += out.length;
    return out;
  }

  /** What is still held, at the end of the file. */
  end(): Buffer {
    const held = this.held;
    this.held = null;
    this.atFileStart = false;
    if (!held) return EMPTY;
    const out = held[0] === CR ? Buffer.from([LF]) : held;
    this.normalised += out.length;
    return out;
  }

  private lineEnds(bytes: Buffer): Buffer {
    let cr = bytes.indexOf(CR);
    if (cr === -1) return bytes;
    const out = Buffer.allocUnsafe(bytes.length);
    let length = 0;
    let from = 0;
    while (cr !== -1) {
      length += bytes.copy(out, length, from, cr);
      from = cr + 1;
      if (from === bytes.length) {
        this.held = Buffer.from([CR]);
        break;
      }
      if (bytes[from] !== LF) out[length++] = LF;
      cr = bytes.indexOf(CR, from);
    }
    length += bytes.copy(out, length, from);
    return out.subarray(0, length);
  }
}

/**
 * A place where reading a large file for an excerpt can start: byte `raw` of the file as stored,
 * after `lines` line feeds. One is kept per read, so reaching any line costs at most one read's
 * worth of bytes more.
 */
