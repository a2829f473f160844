/**
 * Opening pglite:PATH and pglite:memory: the URL read, and for a path the
 * directory made ready for PGlite under its lock (what may be used, created or
 * cleared is directory.ts's rule; the lock is lock.ts's).
 */
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, ConnectionError, PgpairError } from '../../core/errors.js';
import { inspectDirectory, prepareNewDatabase, type Found, type Marker } from './directory.js';
import { lockDirectory } from './lock.js';

export type Target = { memory: true; display: string } | { memory: false; display: string; dir: string };

/** What a pglite: URL names: the in-memory database, or a directory (absolute; ~ and ~/ expanded). */
export function parseTarget(url: string): Target {
  const rest = url.replace(/^pglite:(\/\/)?/i, '');
  if (rest === 'memory' || rest === ':memory:') return { memory: true, display: 'pglite:memory' };
  if (rest === '') throw new ConfigError(`The URL "${url}" names no database: use pglite:PATH (a directory, created if missing) or pglite:memory.`);
  // No shell expands ~ after "pglite:": do it here, or a directory named "~" would appear in the working directory.
  if (rest === '~' || rest.startsWith('~/')) return { memory: false, display: `pglite:${rest}`, dir: resolve(homedir(), rest.slice(2)) };
  if (rest.startsWith('~')) throw new ConfigError(`The URL "${url}" starts with ~ followed by a name: pgpair expands only ~ and ~/ (your home directory); write the path out.`);
  return { memory: false, display: `pglite:${rest}`, dir: resolve(rest) };
}

/** Creates the parent of DIR; a new .pgpair/ gets a .gitignore so that the database stays out of commits. */
async function prepareParent(dir: string, display: string): Promise<void> {
  const parent = dirname(dir);
  try {
    const created = await mkdir(parent, { recursive: true });
    // Only the default location (pglite:.pgpair/dev): elsewhere the user chose the place and decides about git.
    if (created !== undefined && basename(parent) === '.pgpair') {
      await writeFile(join(parent, '.gitignore'), `# Created by pgpair: ${basename(dir)} is an embedded development database.\n*\n`, { flag: 'wx' }).catch(() => {});
    }
  } catch (error) {
    throw new ConnectionError(display, `Cannot create the directory ${parent} for the embedded database ${display}: ${(error as Error).message}.`);
  }
}

/** The path the lock is keyed on: one lock per directory, however it is reached (a symlink, another relative path…). */
async function canonicalPath(dir: string): Promise<string> {
  return realpath(dir).catch(async () => join(await realpath(dirname(dir)), basename(dir)));
}

export function openFailure(display: string, dir: string, found: Found, error: unknown): ConnectionError {
  const reason = error instanceof Error ? error.message || error.name : String(error);
  if (found.kind === 'database') {
    return new ConnectionError(
      display,
      `Cannot open the embedded database ${display}: PGlite failed with "${reason}". The directory ${dir} is damaged, or was made by another PGlite version (its PG_VERSION says ${found.version || 'nothing'}). It is a development database: move it aside (mv ${dir} ${dir}.broken) and run again to start a new one.`,
    );
  }
  return new ConnectionError(display, `Cannot create the embedded database ${display} in ${dir}: PGlite failed with "${reason}". Run again: pgpair starts the creation over.`);
}

/** Why a read-only command found no database, and what makes one. */
export function absentNote(display: string, found: Found): string {
  const why = found.kind === 'creating' ? 'holds no database yet (its creation was cut short, or its files were removed)' : 'does not exist yet';
  return `The embedded database ${display} ${why}: showing an empty database, and nothing was created. pgpair up creates it.`;
}

/**
 * For pglite:PATH: the directory to open, under its lock, made ready for PGlite
 * (a new one created with its marker); or null when a read-only command finds
 * no database, to be served as an empty in-memory one.
 */
export async function openDirectory(path: string, display: string, readOnly: boolean): Promise<{ found: Found; dir: string; marker: Marker | null; release: () => Promise<void> } | { found: Found; dir: null }> {
  // Read first, change nothing: whatever is refused is refused before a lock file or a parent is made.
  let found = await inspectDirectory(path, display);
  if (readOnly && (found.kind === 'absent' || found.kind === 'empty')) return { found, dir: null };
  if (found.kind !== 'database' && !readOnly) await prepareParent(path, display);
  const dir = await canonicalPath(path);
  const release = await lockDirectory(dir, display);
  try {
    // Again under the lock: another process may have created or finished it meanwhile.
    found = await inspectDirectory(path, display);
    if (found.kind === 'database') return { found, dir, marker: null, release };
    if (readOnly) {
      await release();
      return { found, dir: null };
    }
    return { found, dir, marker: await prepareNewDatabase(path, display, found), release };
  } catch (error) {
    await release();
    if (error instanceof PgpairError) throw error;
    throw new ConnectionError(display, `Cannot create the embedded database ${display} in ${path}: ${(error as Error).message}.`);
  }
}
