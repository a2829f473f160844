/** The only module that reads the migration directory from disk. */
import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync, statSync, type Dirent, type Stats } from 'node:fs';
import { mkdir, open, readdir, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { checksum, sqlAsWritten } from '../core/checksum.js';
import { ConfigError, DirectoryError, FileChangedError } from '../core/errors.js';
import { analyzeFile } from '../core/analyze.js';
import { parseMigrationDirectory, type DirectoryEntry, type ParseOptions, type LargeFileSource, type MigrationFile, type MigrationSet } from '../core/files.js';
import { LARGE_FILE_BYTES, LargeFileScanner, READ_CHUNK_BYTES, type Checkpoint } from '../core/large-file.js';
import type { CopyDataLocation } from '../core/lexer.js';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The line of the first byte sequence that is not UTF-8 (after the decoder refused the bytes),
 * taking the bytes in pieces: the line feeds before it, plus one.
 */
class BadUtf8Finder {
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

const invalidUtf8 = (line: number) => `is not valid UTF-8 text (first bad byte on line ${line}); save it as UTF-8`;

function decode(bytes: Uint8Array): { text?: string; readError?: string } {
  try {
    return { text: decoder.decode(bytes) };
  } catch {
    // Find the first byte sequence that is not UTF-8, to point at its line.
    const finder = new BadUtf8Finder();
    finder.push(bytes, true);
    return { readError: invalidUtf8(finder.line) };
  }
}

export interface ReadOptions extends ParseOptions {
  /** Files larger than this (bytes) are read in pieces and never held whole; their COPY data is read from disk when it runs. Default 8 MiB (LARGE_FILE_BYTES). */
  largeFileBytes?: number;
  /** Bytes per read of a large file; default 64 KiB. */
  chunkBytes?: number;
}

/** The `size` bytes of an open file (fewer if it ended sooner): what readFileSync does, without a second fstat. */
function readWhole(fd: number, size: number): Uint8Array {
  const bytes = Buffer.allocUnsafe(size);
  let length = 0;
  while (length < size) {
    const read = readSync(fd, bytes, length, size - length, length);
    if (read === 0) break;
    length += read;
  }
  return bytes.subarray(0, length);
}

/**
 * Flags for opening a migration file. O_NONBLOCK: should the entry have turned into a FIFO since
 * it was checked, open() returns at once instead of waiting for a writer (for a regular file the
 * flag changes nothing); fstat then refuses it. O_NOCTTY: a terminal never becomes ours.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** What a file system object that is not a regular file is, in words. */
function kindOf(entry: Stats | Dirent): string {
  if (entry.isDirectory()) return 'a directory';
  if (entry.isFIFO()) return 'a FIFO (named pipe)';
  if (entry.isSocket()) return 'a socket';
  if (entry.isCharacterDevice() || entry.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

const NOT_REGULAR_FIX = 'pgpair reads only regular files (a pipe could block it forever, a device have effects); replace it with the migration file, or move it out of the directory';

/**
 * Why `path` cannot be read as a migration file, or null when it is a regular file (itself or
 * through symbolic links). Only looks: a FIFO, socket or device is never opened. `entry` is what
 * readdir said, when it said it; a symbolic link (or an entry of unknown type) is followed with stat.
 */
function notRegular(path: string, entry?: Dirent): string | null {
  if (entry?.isFile()) return null;
  if (entry && !entry.isSymbolicLink() && (entry.isDirectory() || entry.isFIFO() || entry.isSocket() || entry.isCharacterDevice() || entry.isBlockDevice())) {
    if (entry.isDirectory()) return 'is a directory, not a migration file: migration files sit directly in the migration directory. Rename it (without .sql), or move it out of the directory';
    return `is ${kindOf(entry)}, not a regular file: ${NOT_REGULAR_FIX}`;
  }
  let link: string | null = null;
  try {
    link = readlinkSync(path);
  } catch {
    // Not a symbolic link.
  }
  const through = link === null ? '' : `is a symbolic link to ${link}, which `;
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && link !== null) return `${through}does not exist (a dangling link): point the link at the migration file, or remove it`;
    // Gone since it was listed, or never there: opening it says so.
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') return 'is a symbolic link that loops (it leads back to itself): point it at the migration file, or remove it';
    return `cannot be read (${code ?? (error as Error).message})`;
  }
  if (stats.isFile()) return null;
  if (link === null) return `is ${kindOf(stats)}, not a regular file: ${NOT_REGULAR_FIX}`;
  return `${through}is ${kindOf(stats)}, not a regular file: ${NOT_REGULAR_FIX}`;
}

/**
 * Reads one regular file of the directory (notRegular said so). Synchronous unless the file is
 * large: awaiting each of thousands of small files costs more than reading it. Should the file
 * have been replaced by something else since it was checked, it is reported, not read.
 */
function readEntry(path: string, name: string, options: ReadOptions): DirectoryEntry | Promise<DirectoryEntry> {
  const fd = openSync(path, OPEN_FLAGS);
  let stats: Stats;
  try {
    stats = fstatSync(fd);
    if (!stats.isFile()) return { name, readError: `is ${kindOf(stats)}, not a regular file: ${NOT_REGULAR_FIX}` };
    if (stats.size <= (options.largeFileBytes ?? LARGE_FILE_BYTES)) return { name, ...decode(readWhole(fd, stats.size)) };
  } finally {
    closeSync(fd);
  }
  return readLargeFile(path, stats, options.chunkBytes ?? READ_CHUNK_BYTES).then((read) => ({ name, ...read }));
}

/**
 * Reads a large file in pieces (lib/large-file.ts): its checksum, statements with COPY data
 * located, and the problems files.ts reports, as for a file read whole; or why it is not UTF-8.
 */
async function readLargeFile(path: string, stats: Stats, chunkBytes: number): Promise<Pick<DirectoryEntry, 'large' | 'readError'>> {
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

/**
 * Reads and validates every migration file in `dir` (and, unless `checkContents` is false, what
 * is in each: parseMigrationDirectory). Every `.sql` entry that is not a regular file, itself or
 * through a symbolic link (a directory, FIFO, socket, device, dangling link), is a problem
 * reported with the others and is never opened. Throws ConfigError when the directory is
 * missing, DirectoryError for bad files.
 */
export async function readMigrations(dir: string, options: ReadOptions = {}): Promise<MigrationSet> {
  let listed: Dirent[];
  try {
    listed = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`Migration directory ${dir} does not exist. Create it (pgpair create SLUG does), or point --dir / PGPAIR_DIR at your migrations.`);
    if (code === 'ENOTDIR') throw new ConfigError(`${dir} is not a directory. Point --dir / PGPAIR_DIR at the directory that holds your migrations.`);
    throw new ConfigError(`Cannot read migration directory ${dir}: ${(error as Error).message}.`);
  }
  const entries: DirectoryEntry[] = [];
  // Synchronous reads: for thousands of small files they are ~10x faster than awaiting
  // fs/promises.readFile one by one (bench/RESULTS.md), and a run cannot start before they are done.
  for (const dirent of listed) {
    const name = dirent.name;
    if (name.startsWith('.') || !/\.sql$/i.test(name)) continue;
    const path = join(dir, name);
    const refused = notRegular(path, dirent);
    if (refused !== null) {
      entries.push({ name, readError: refused });
      continue;
    }
    try {
      const read = readEntry(path, name, options);
      entries.push(read instanceof Promise ? await read : read);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      entries.push({ name, readError: `cannot be read (${code ?? (error as Error).message})` });
    }
  }
  return parseMigrationDirectory(dir, entries, options.checkContents === undefined ? {} : { checkContents: options.checkContents });
}

/** Writes a new file; refuses to overwrite. */
export async function writeNewFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { flag: 'wx' });
}

export async function ensureDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/**
 * Reads one SQL file (the base schema for `load`) as a MigrationFile; a large one in pieces, as in
 * readMigrations. Throws ConfigError when it is missing, DirectoryError when it is not UTF-8 text.
 */
export async function readSqlFile(path: string, options: ReadOptions = {}): Promise<MigrationFile> {
  const slash = path.lastIndexOf('/');
  const dir = slash === -1 ? '' : path.slice(0, slash);
  const name = path.slice(slash + 1);
  const refused = notRegular(path);
  if (refused !== null) throw new ConfigError(`Cannot read ${path}: it ${refused.replace(/; replace it with the migration file, or move it out of the directory$/, '; name the schema file itself (pgpair load FILE)').replace(/point the link at the migration file/, 'point the link at the schema file')}.`);
  let entry: DirectoryEntry;
  try {
    entry = await readEntry(path, name, options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${path} does not exist. Name the base schema file (pgpair load FILE), or put it at <dir>/schema.sql.`);
    throw new ConfigError(`Cannot read ${path}: ${(error as Error).message}.`);
  }
  if (entry.large) return { path, name, checksum: entry.large.checksum, large: entry.large.source, analysis: analyzeFile({ path, large: entry.large.source }) };
  if (entry.text === undefined) throw new DirectoryError(dir || '.', [{ file: path, message: entry.readError ?? 'could not be read' }]);
  const text = sqlAsWritten(entry.text);
  return { path, name, text, checksum: checksum(entry.text), analysis: analyzeFile({ path, text }) };
}
