/** Decoding a file's bytes as UTF-8, and, when they are not, the line of the first bad byte sequence. */

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The line of the first byte sequence that is not UTF-8 (after the decoder refused the bytes),
 * taking the bytes in pieces: the line feeds before it, plus one.
 */
export class BadUtf8Finder {
  line = 1;
  found = false;
  private tail: Uint8Array = new Uint8Array(0);

  push(piece: Uint8Array, final: boolean): void {
    if (this.found) return;
    const bytes = this.tail.length > 0 ? Buffer.concat([this.tail, piece]) : piece;
    this.tail = new Uint8Array(0);
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x0a) this.line++;
      const b = bytes[i]!;
      if (b < 0x80) continue;
      const need = b >= 0xf0 && b <= 0xf4 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 && b < 0xe0 ? 1 : -1;
      if (need < 0) {
        this.found = true;
        return;
      }
      if (!final && i + need >= bytes.length) {
        // The sequence goes on in the next piece; its first byte is no line feed, so it is not counted twice.
        this.tail = new Uint8Array(bytes.subarray(i));
        return;
      }
      let ok = true;
      for (let k = 1; k <= need; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) ok = false;
      if (!ok) {
        this.found = true;
        return;
      }
      i += need;
    }
  }
}

export const invalidUtf8 = (line: number) => `is not valid UTF-8 text (first bad byte on line ${line}); save it as UTF-8`;

export function decode(bytes: Uint8Array): { text?: string; readError?: string } {
  try {
    return { text: decoder.decode(bytes) };
  } catch {
    // Find the first byte sequence that is not UTF-8, to point at its line.
    const finder = new BadUtf8Finder();
    finder.push(bytes, true);
    return { readError: invalidUtf8(finder.line) };
  }
}
