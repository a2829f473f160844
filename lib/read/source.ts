/** The only module that reads the migration directory from disk. */
import { closeSync, fstatSync, openSync, readlinkSync, readSync, statSync, type Dirent, type Stats } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checksum, sqlAsWritten } from '../core/checksum.js';
import { ConfigError, DirectoryError } from '../core/errors.js';
import { analyzeFile } from '../core/analyze.js';
import { parseMigrationDirectory, type DirectoryEntry, type ParseOptions, type MigrationFile, type MigrationSet } from '../core/files.js';
import { LARGE_FILE_BYTES, READ_CHUNK_BYTES } from '../core/large-file.js';
import { readLargeFile } from './large-file-reader.js';
import { decode } from './utf8.js';
import { OPEN_FLAGS } from './open-flags.js';

export { readCopyData, readLines } from './large-file-reader.js';

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
