/**
 * Which directories pgpair may use as an embedded database (pglite:PATH), and
 * how it makes a new one.
 *
 * The rule (SPEC §6): pgpair creates, clears or re-initialises only a
 * directory it can prove it created, and a read-only command never creates or
 * deletes one. Names of entries prove nothing (a user's `pg_dumps` looks like a
 * PostgreSQL directory entry; that is how an earlier version deleted one).
 *
 * The proof is the marker file MARKER, which pgpair writes into a directory it
 * has just made (or an empty one it claims) before PGlite's initdb runs. It
 * records the directory's device and inode, so a marker that was copied (with a
 * whole database by `cp -r`, or on its own into another directory) proves
 * nothing. Its `state` is "creating" until PGlite has finished the database,
 * then "ready".
 *
 * What is found at the path, and what may happen to it:
 * - nothing, or an empty directory (not through a symlink): a writing command
 *   makes the directory, writes the marker and lets PGlite create the database;
 *   a read-only command leaves it as it is.
 * - a proven directory in state "creating": a creation cut short (Ctrl-C,
 *   SIGKILL, a full disk). A writing command clears it and creates the database
 *   again, provided it holds nothing but what PGlite writes; a read-only command
 *   leaves it as it is. So is a proven directory that holds nothing but its
 *   marker (`rm -rf DIR/*` keeps dotfiles).
 * - a proven database ("ready"), or a database pgpair cannot prove it made (one
 *   made by pgpair before there were markers, or a copy): opened, never cleared
 *   or re-initialised. An unproven one must look like a whole PGlite data
 *   directory: PGlite's PostgreSQL version in PG_VERSION, global/pg_control,
 *   base/, no other files, and nothing a PostgreSQL server leaves (its
 *   postmaster.opts, or a postmaster.pid that is not PGlite's).
 * - anything else (other files, a file, a dangling symlink, a symlink to an
 *   empty directory, a data directory of another PostgreSQL, a lone PG_VERSION):
 *   refused with an EmbeddedDirectoryError (exit 2), nothing touched.
 */
import { randomUUID } from 'node:crypto';
import { link, lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Stats } from 'node:fs';
import { EmbeddedDirectoryError } from '../../core/errors.js';
import { PGPAIR_VERSION } from '../../core/meta.js';

/** The marker file pgpair writes into a directory it created. */
export const MARKER = '.pgpair-pglite.json';

/** The PostgreSQL major version of the bundled PGlite (test/e2e/pglite-safety.test.ts checks it against a new database). */
export const PGLITE_MAJOR = '18';

/** What PGlite keeps at the top of its data directory: exactly these names, not a pattern. */
const PGLITE_ENTRIES = new Set([
  'PG_VERSION', 'base', 'global', 'pg_commit_ts', 'pg_dynshmem', 'pg_hba.conf', 'pg_ident.conf', 'pg_logical', 'pg_multixact',
  'pg_notify', 'pg_replslot', 'pg_serial', 'pg_snapshots', 'pg_stat', 'pg_stat_tmp', 'pg_subtrans', 'pg_tblspc', 'pg_twophase',
  'pg_wal', 'pg_xact', 'postgresql.auto.conf', 'postgresql.conf', 'postmaster.pid',
]);

/** The marker and its temporary files (written under another name, then renamed into place). */
function isMarkerFile(name: string): boolean {
  return name === MARKER || (name.startsWith(`${MARKER}.`) && name.endsWith('.tmp'));
}

export interface Marker {
  format: 'pgpair-pglite';
  /** Names this database (random); a copy carries the same id, and its inode tells them apart. */
  id: string;
  createdBy: string;
  createdAt: string;
  state: 'creating' | 'ready';
  /** st_dev and st_ino of the directory, as decimal strings. */
  device: string;
  inode: string;
}

export type Found =
  | { kind: 'absent' }
  | { kind: 'empty' }
  | { kind: 'creating'; marker: Marker }
  | { kind: 'database'; proven: boolean; version: string };

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** Throws the refusal: what is at the path, an optional note, that nothing changed, and what to do (sentences without their final stop). */
function refuse(display: string, path: string, problem: string, fix: string, note = ''): never {
  throw new EmbeddedDirectoryError(
    display,
    path,
    `${display} (${path}) ${problem}.${note ? ` ${note}.` : ''} Nothing was changed: pgpair uses as its embedded database only a directory it created itself. ${fix}.`,
  );
}

const NEW_PATH = 'Point pglite: at a path that does not exist yet (pgpair creates it), e.g. pglite:.pgpair/dev';

function parseMarker(text: string): Marker | null {
  try {
    const value = JSON.parse(text) as Partial<Marker>;
    if (value.format !== 'pgpair-pglite' || (value.state !== 'creating' && value.state !== 'ready')) return null;
    if (typeof value.id !== 'string' || typeof value.device !== 'string' || typeof value.inode !== 'string') return null;
    return value as Marker;
  } catch {
    return null;
  }
}

async function identity(path: string): Promise<{ device: string; inode: string }> {
  const info = await stat(path, { bigint: true });
  return { device: info.dev.toString(), inode: info.ino.toString() };
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

function listed(names: string[]): string {
  return names.slice(0, 3).join(', ') + (names.length > 3 ? `, … (${names.length} in all)` : '');
}

/**
 * What is at `path` (absolute, as the user named it), without changing
 * anything; throws an EmbeddedDirectoryError for whatever pgpair must not use.
 */
export async function inspectDirectory(path: string, display: string): Promise<Found> {
  let info: Stats;
  try {
    info = await lstat(path);
  } catch (error) {
    if (errno(error) === 'ENOENT') return { kind: 'absent' };
    if (errno(error) === 'ENOTDIR') refuse(display, path, 'cannot be a directory: a part of that path is a file', NEW_PATH);
    refuse(display, path, `cannot be read (${(error as Error).message})`, 'Fix its permissions, or point pglite: at another path');
  }
  const viaLink = info.isSymbolicLink();
  if (viaLink) {
    const target = await realpath(path).catch(() => null);
    if (target === null) refuse(display, path, 'is a symbolic link to something that does not exist', `Create the database at the real path, or remove the link. ${NEW_PATH}`);
    info = await stat(target);
  }
  if (!info.isDirectory()) refuse(display, path, `is ${viaLink ? 'a symbolic link to ' : ''}a file, not a directory`, NEW_PATH);
  let entries: string[];
  try {
    entries = (await readdir(path)).sort();
  } catch (error) {
    refuse(display, path, `cannot be read (${(error as Error).message})`, 'Fix its permissions, or point pglite: at another path');
  }
  if (entries.length === 0) {
    if (viaLink) refuse(display, path, 'is a symbolic link to an empty directory; pgpair does not create a database through a link', 'Point pglite: at the real directory');
    return { kind: 'empty' };
  }
  const foreign = entries.filter((name) => !PGLITE_ENTRIES.has(name) && !isMarkerFile(name));
  const markerText = entries.includes(MARKER) ? await readText(join(path, MARKER)) : null;
  const marker = markerText === null ? null : parseMarker(markerText);
  let proven = false;
  if (marker) {
    const here = await identity(path);
    proven = marker.device === here.device && marker.inode === here.inode;
  }
  const copiedNote = entries.includes(MARKER) && !proven ? `Its ${MARKER} was ${marker ? 'copied from another directory' : 'not written by pgpair'}, so it proves nothing` : '';

  // Nothing but its own marker left (`rm -rf DIR/*` keeps dotfiles): nothing to lose, so it is made again like a creation cut short.
  const onlyMarker = entries.every(isMarkerFile);
  if (proven && (marker!.state === 'creating' || onlyMarker)) {
    if (foreign.length > 0) {
      refuse(display, path, `is a database pgpair began to create, but it now also holds other files (${listed(foreign)})`, 'Move those files elsewhere and run again, or delete the directory yourself');
    }
    if (viaLink) refuse(display, path, 'is a symbolic link to a database whose creation was cut short; pgpair does not re-create a database through a link', 'Point pglite: at the real directory');
    return { kind: 'creating', marker: { ...marker!, state: 'creating' } };
  }
  if (!entries.includes('PG_VERSION')) {
    if (proven) {
      refuse(display, path, 'is a database pgpair created, but its PG_VERSION file is gone, so it is damaged', `Move it aside (mv ${path} ${path}.broken) and run again to create a new one`);
    }
    if (foreign.length > 0) refuse(display, path, `is not an embedded database: it holds other files (${listed(foreign)})`, `${NEW_PATH}, or move these files away`, copiedNote);
    refuse(display, path, `holds PostgreSQL-like files but no PG_VERSION and no proof that pgpair made it, so it is not a database pgpair can open or replace`, `Delete or move it yourself if it is not needed. ${NEW_PATH}`, copiedNote);
  }
  const version = ((await readText(join(path, 'PG_VERSION'))) ?? '').trim();
  if (proven) return { kind: 'database', proven: true, version };

  // Not proven: open it only if it is plainly a whole PGlite database (made by pgpair before markers, or a copy of one).
  if (entries.includes('postmaster.opts')) {
    refuse(display, path, 'is the data directory of a PostgreSQL server (it holds postmaster.opts)', `Connect to that server with --url postgres://… instead. ${NEW_PATH}`);
  }
  const pidFile = entries.includes('postmaster.pid') ? await readText(join(path, 'postmaster.pid')) : null;
  // PGlite writes pid -42 and its own mount point; a server writes its real pid and the real path.
  if (pidFile !== null && !/^-42\n\/pglite\/data\n/.test(pidFile)) {
    refuse(display, path, 'is the data directory of a PostgreSQL server (its postmaster.pid is a server\'s)', `Connect to that server with --url postgres://… instead. ${NEW_PATH}`);
  }
  if (foreign.length > 0) refuse(display, path, `holds a PostgreSQL data directory together with other files (${listed(foreign)})`, `${NEW_PATH}, or move these files away`, copiedNote);
  const control = await stat(join(path, 'global', 'pg_control')).catch(() => null);
  const base = await stat(join(path, 'base')).catch(() => null);
  if (!control?.isFile() || !base?.isDirectory()) {
    refuse(display, path, `has a PG_VERSION but is not a whole database (${control?.isFile() ? 'base/' : 'global/pg_control'} is missing), and nothing proves that pgpair made it`, `Delete or move it yourself if it is not needed. ${NEW_PATH}`, copiedNote);
  }
  if (version !== PGLITE_MAJOR) {
    refuse(display, path, `is a data directory of PostgreSQL ${version || '(unknown version)'}, and the embedded database is PostgreSQL ${PGLITE_MAJOR}`, `Use it with its own PostgreSQL server (--url postgres://…). ${NEW_PATH}`);
  }
  return { kind: 'database', proven: false, version };
}

/** Writes `marker` into `dir` atomically (a temporary file renamed, or linked when `exclusive`, into place). */
async function writeMarker(dir: string, marker: Marker, exclusive: boolean): Promise<void> {
  const temporary = join(dir, `${MARKER}.${process.pid}.${randomUUID()}.tmp`);
  await writeFile(temporary, `${JSON.stringify(marker, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
  try {
    if (exclusive) await link(temporary, join(dir, MARKER));
    else await rename(temporary, join(dir, MARKER));
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

/**
 * Makes `path` ready for PGlite to create a database in it: holding only a
 * marker of state "creating". `found` is what inspectDirectory saw, under the
 * directory lock. Returns the marker, to be marked ready once PGlite is done.
 */
export async function prepareNewDatabase(path: string, display: string, found: Extract<Found, { kind: 'absent' | 'empty' | 'creating' }>): Promise<Marker> {
  const appeared = () => refuse(display, path, 'changed while pgpair was preparing it (another program wrote to it)', 'Run again');
  if (found.kind === 'creating') {
    for (const entry of await readdir(path)) {
      if (isMarkerFile(entry)) continue;
      // inspectDirectory allowed only PGlite's names; anything new since is not ours.
      if (!PGLITE_ENTRIES.has(entry)) appeared();
      await rm(join(path, entry), { recursive: true, force: true });
    }
    // Said again on disk, for a directory emptied after it was ready: a crash from here on must leave "creating".
    await writeMarker(path, found.marker, false);
    return found.marker;
  }
  if (found.kind === 'absent') {
    try {
      await mkdir(path, { mode: 0o755 });
    } catch (error) {
      if (errno(error) === 'EEXIST') appeared();
      throw error;
    }
  }
  const marker: Marker = {
    format: 'pgpair-pglite',
    id: randomUUID(),
    createdBy: `pgpair ${PGPAIR_VERSION}`,
    createdAt: new Date().toISOString(),
    state: 'creating',
    ...(await identity(path)),
  };
  try {
    await writeMarker(path, marker, true);
  } catch (error) {
    if (errno(error) === 'EEXIST') appeared();
    throw error;
  }
  // An empty directory claimed: it must still hold nothing else (PGlite would write the database among other files).
  if ((await readdir(path)).some((name) => !isMarkerFile(name))) {
    await unlink(join(path, MARKER)).catch(() => {});
    appeared();
  }
  return marker;
}

/** Records that PGlite finished creating the database: from now on it is opened, never cleared. */
export async function markReady(path: string, marker: Marker): Promise<void> {
  await writeMarker(path, { ...marker, state: 'ready' }, false);
}
