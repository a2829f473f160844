/**
 * PGlite template snapshots on disk, so that the processes of one test run (node:test runs each
 * test file in a process of its own) make a migration set's snapshot once, not once each.
 *
 * Files are `<dir>/<template name>.tar` (template-name.ts), written under a temporary name and
 * renamed into place, so a reader never finds half of one. Two processes that miss at once both
 * build it and the second rename wins: the same bytes' worth of database, a build spent twice.
 * pgpair deletes only files in this directory whose names it gives: its temporary files, and a
 * snapshot of the same directory and table for an older set when it writes a new one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { kindOf } from './template-name.js';

/** The default cache directory: node_modules/.cache/pgpair under the working directory when it has node_modules (where tools keep caches), else none. */
export function defaultCacheDir(): string | null {
  return existsSync('node_modules') ? join(process.cwd(), 'node_modules', '.cache', 'pgpair') : null;
}

/** The snapshot of template `name`, or null when the cache has none (or cannot be read: then it is rebuilt). */
export async function readSnapshot(dir: string, name: string, logger: Logger): Promise<Blob | null> {
  try {
    const bytes = await readFile(join(dir, `${name}.tar`));
    return new Blob([bytes], { type: 'application/x-tar' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: error }, `cannot read the PGlite template snapshot in ${dir}; building it again`);
    return null;
  }
}

/** Stores a snapshot, then removes this prefix's other snapshots. Never throws: a cache that cannot be written only costs time. */
export async function writeSnapshot(dir: string, name: string, prefix: string, snapshot: Blob, logger: Logger): Promise<void> {
  const temporary = join(dir, `${name}.tar.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(temporary, new Uint8Array(await snapshot.arrayBuffer()));
    await rename(temporary, join(dir, `${name}.tar`));
    for (const entry of await readdir(dir)) {
      if (entry.endsWith('.tar') && entry !== `${name}.tar` && kindOf(entry.slice(0, -'.tar'.length), prefix) === 'template') {
        await unlink(join(dir, entry)).catch(() => {});
      }
    }
  } catch (error) {
    await unlink(temporary).catch(() => {});
    logger.warn({ err: error }, `cannot store the PGlite template snapshot in ${dir}; each process builds its own`);
  }
}

/** Removes corrupt snapshot `name` (PGlite could not load it). */
export async function forgetSnapshot(dir: string, name: string): Promise<void> {
  await unlink(join(dir, `${name}.tar`)).catch(() => {});
}
