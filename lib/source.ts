/** The only module that reads the migration directory from disk. */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checksum, normaliseSql } from './checksum.js';
import { ConfigError, DirectoryError } from './errors.js';
import { parseMigrationDirectory, type DirectoryEntry, type MigrationFile, type MigrationSet } from './files.js';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decode(bytes: Uint8Array): { text?: string; readError?: string } {
  try {
    return { text: decoder.decode(bytes) };
  } catch {
    let line = 1;
    // Find the first byte sequence that is not UTF-8, to point at its line.
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x0a) line++;
      const b = bytes[i]!;
      if (b < 0x80) continue;
      const need = b >= 0xf0 && b <= 0xf4 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 && b < 0xe0 ? 1 : -1;
      if (need < 0) break;
      let ok = true;
      for (let k = 1; k <= need; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) ok = false;
      if (!ok) break;
      i += need;
    }
    return { readError: `is not valid UTF-8 text (first bad byte on line ${line}); save it as UTF-8` };
  }
}

/** Reads and validates every migration file in `dir`. Throws ConfigError when the directory is missing, DirectoryError for bad files. */
export async function readMigrations(dir: string): Promise<MigrationSet> {
  let names: { name: string; isFile: boolean }[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).map((d) => ({ name: d.name, isFile: d.isFile() || d.isSymbolicLink() }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`Migration directory ${dir} does not exist. Create it (pgpair create SLUG does), or point --dir / PGPAIR_DIR at your migrations.`);
    if (code === 'ENOTDIR') throw new ConfigError(`${dir} is not a directory. Point --dir / PGPAIR_DIR at the directory that holds your migrations.`);
    throw new ConfigError(`Cannot read migration directory ${dir}: ${(error as Error).message}.`);
  }
  const entries: DirectoryEntry[] = [];
  for (const { name, isFile } of names) {
    if (!isFile || name.startsWith('.') || !/\.sql$/i.test(name)) continue;
    try {
      entries.push({ name, ...decode(await readFile(join(dir, name))) });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') continue;
      entries.push({ name, readError: `cannot be read (${code ?? (error as Error).message})` });
    }
  }
  return parseMigrationDirectory(dir, entries);
}

/** Writes a new file; refuses to overwrite. */
export async function writeNewFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { flag: 'wx' });
}

export async function ensureDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/** Reads one SQL file (the base schema for `load`) as a MigrationFile. Throws ConfigError when it is missing, DirectoryError when it is not UTF-8 text. */
export async function readSqlFile(path: string): Promise<MigrationFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${path} does not exist. Name the base schema file (pgpair load FILE), or put it at <dir>/schema.sql.`);
    throw new ConfigError(`Cannot read ${path}: ${(error as Error).message}.`);
  }
  const decoded = decode(bytes);
  const slash = path.lastIndexOf('/');
  const dir = slash === -1 ? '' : path.slice(0, slash);
  const name = path.slice(slash + 1);
  if (decoded.text === undefined) throw new DirectoryError(dir || '.', [{ file: path, message: decoded.readError ?? 'could not be read' }]);
  return { path, name, text: normaliseSql(decoded.text), checksum: checksum(decoded.text) };
}
