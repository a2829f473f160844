/**
 * Files too large to hold whole (lib/core/large-file.ts scans them): read in pieces when the
 * directory is read, and again when their COPY data runs or an error excerpt needs their lines —
 * refused when the file is no longer the one that was read.
 */
import type { Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FileChangedError } from '../core/errors.js';
import type { DirectoryEntry, LargeFileSource, MigrationFile } from '../core/files.js';
import { LargeFileScanner, READ_CHUNK_BYTES, type Checkpoint } from '../core/large-file.js';
import type { CopyDataLocation } from '../core/lexer.js';
import { BadUtf8Finder, invalidUtf8 } from './utf8.js';
import { OPEN_FLAGS } from './open-flags.js';

/**
 * Reads a large file in pieces (lib/core/large-file.ts): its checksum, statements with COPY data
 * located, and the problems files.ts reports, as for a file read whole; or why it is not UTF-8.
 */
export async function readLargeFile(path: string, stats: Stats, chunkBytes: number): Promise<Pick<DirectoryEntry, 'large' | 'readError'>> {
  const handle = await open(path, OPEN_FLAGS);
  try {
    const scanner = new LargeFileScanner();
    const buffer = Buffer.allocUnsafe(chunkBytes);
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      scanner.push(buffer.subarray(0, bytesRead));
      if (scanner.invalidUtf8) break;
    }
    const scanned = scanner.end();
    if (!scanned) {
      // Rare: read it again for the line, exactly as a file read whole reports it.
      const finder = new BadUtf8Finder();
      await eachPiece(handle, chunkBytes, (piece, final) => {
        finder.push(piece, final);
        return finder.found;
      });
      return { readError: invalidUtf8(finder.line) };
    }
    const { checksum, hasNul, ...content } = scanned;
    const source: LargeFileSource = { readPath: path, size, mtimeMs: stats.mtimeMs, ...content };
    return { large: { checksum, nulLine: hasNul ? await firstNulLine(handle, chunkBytes) : null, source } };
  } finally {
    await handle.close();
  }
}

/** Calls `take` with the file's bytes in pieces, from its start, until it returns true or the file ends (`final`: the last call). */
async function eachPiece(handle: FileHandle, chunkBytes: number, take: (piece: Uint8Array, final: boolean) => boolean): Promise<void> {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  for (let position = 0; ;) {
    const { bytesRead } = await handle.read(buffer, 0, chunkBytes, position);
    position += bytesRead;
    if (take(buffer.subarray(0, bytesRead), bytesRead === 0) || bytesRead === 0) return;
  }
}

/** The line of the first NUL byte, counted as files.ts counts it in a file read whole: line feeds before it, plus one. */
async function firstNulLine(handle: FileHandle, chunkBytes: number): Promise<number> {
  let line = 1;
  await eachPiece(handle, chunkBytes, (piece) => {
    const bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    const nul = bytes.indexOf(0);
    const end = nul === -1 ? bytes.length : nul;
    for (let at = bytes.indexOf(0x0a); at !== -1 && at < end; at = bytes.indexOf(0x0a, at + 1)) line++;
    return nul !== -1;
  });
  return line;
}

/**
 * The bytes [start, end) of a large file as stored (end null: to its end), in pieces, each read
 * afresh (a consumer may keep them). Throws FileChangedError when the file is not the one that was
 * read.
 */
async function* storedBytes(file: MigrationFile, start: number, end: number | null, chunkBytes = READ_CHUNK_BYTES): AsyncGenerator<Buffer> {
  const source = file.large!;
  let handle: FileHandle;
  try {
    handle = await open(source.readPath, 'r');
  } catch {
    throw new FileChangedError(file.path, 'cannot be read any more');
  }
  try {
    const stats = await handle.stat();
    if (stats.size !== source.size || stats.mtimeMs !== source.mtimeMs) throw new FileChangedError(file.path, 'changed');
    let position = start;
    while (end === null || position < end) {
      const want = end === null ? chunkBytes : Math.min(chunkBytes, end - position);
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buffer, 0, want, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
    if (end !== null && position < end) throw new FileChangedError(file.path, 'changed');
  } finally {
    await handle.close();
  }
}

/**
 * The COPY data of a large file, as it runs: its bytes as stored (CRLF line ends stay CRLF, as psql
 * sends them), in pieces read as they are consumed.
 */
export function readCopyData(file: MigrationFile, location: CopyDataLocation): AsyncIterable<Uint8Array> {
  return storedBytes(file, location.start, location.end);
}

/** Lines `first` to `last` (1-based) of a large file's text, line ends removed (as position.ts excerpt shows them), for an error excerpt. */
export async function readLines(file: MigrationFile, first: number, last: number): Promise<string[]> {
  const source = file.large!;
  let checkpoint: Checkpoint = { raw: 0, lines: 0 };
  // A checkpoint on an earlier line: one on line `first` itself may be past its start.
  for (const candidate of source.checkpoints) if (candidate.lines + 1 < first) checkpoint = candidate;
  const lines: string[] = [];
  let line = checkpoint.lines + 1;
  let current: Buffer[] = [];
  const text = (parts: Buffer[]): string => {
    let bytes = Buffer.concat(parts);
    // A BOM at the start of the file is no part of its first line (MigrationFile.text drops it).
    if (line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    const decoded = bytes.toString('utf8');
    return decoded.endsWith('\r') ? decoded.slice(0, -1) : decoded;
  };
  for await (const bytes of storedBytes(file, checkpoint.raw, null)) {
    for (let at = 0; at < bytes.length;) {
      const newline = bytes.indexOf(0x0a, at);
      const end = newline === -1 ? bytes.length : newline;
      if (line >= first) current.push(bytes.subarray(at, end));
      if (newline === -1) break;
      if (line >= first) lines.push(text(current));
      current = [];
      if (++line > last) return lines;
      at = newline + 1;
    }
  }
  if (line >= first && current.length > 0) lines.push(text(current));
  return lines;
}
