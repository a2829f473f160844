/**
 * The directory lock of pglite:PATH. PGlite serves one process at a time, and
 * two processes on one data directory corrupt it: DIR.lock, beside the
 * directory, refuses a second process with an error naming the pid that holds it.
 */
import { unlinkSync } from 'node:fs';
import { link, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { ConnectionError, EmbeddedDirectoryError } from '../../core/errors.js';

/** Directories this process has open: a pid in a lock file equal to ours is stale unless listed here. */
const openHere = new Set<string>();

interface LockInfo {
  pid: number;
  host: string | null;
  /** Process start time (Linux: /proc/PID/stat field 22), to tell a reused pid from the holder. */
  start: string | null;
}

async function processStart(pid: number): Promise<string | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 is "(comm)" and may hold spaces; count fields after its closing parenthesis.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function parseLock(text: string): LockInfo | null {
  try {
    const value = JSON.parse(text) as Partial<LockInfo>;
    if (typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 0) {
      return { pid: value.pid, host: typeof value.host === 'string' ? value.host : null, start: typeof value.start === 'string' ? value.start : null };
    }
  } catch {
    // not a lock of pgpair's (it writes them whole): see lockDirectory
  }
  return null;
}

/** Whether the process that wrote `lock` still runs (on this machine: other hosts cannot be checked and count as running). */
async function holderRunning(lock: LockInfo, dir: string): Promise<boolean> {
  if (lock.host !== null && lock.host !== hostname()) return true;
  if (lock.pid === process.pid) return openHere.has(dir);
  try {
    process.kill(lock.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid runs; if it started at another time than the writer did, it was reused.
  const start = lock.start === null ? null : await processStart(lock.pid);
  return start === null || start === lock.start;
}

/**
 * Takes DIR.lock (beside the directory: PGlite copies a fresh database into
 * DIR, and a file of ours inside would be in its way). The file is written
 * under a temporary name and linked into place, so that it never exists
 * half-written (so a file there that is not a lock is not pgpair's, and is
 * refused, never replaced); a stale one (its process is gone) is moved aside atomically
 * and checked again before it is removed, so that two processes replacing
 * the same stale lock cannot both win.
 */
export async function lockDirectory(dir: string, display: string): Promise<() => Promise<void>> {
  const path = `${dir}.lock`;
  const mine: LockInfo = { pid: process.pid, host: hostname(), start: await processStart(process.pid) };
  const text = `${JSON.stringify(mine)}\n`;
  const unique = `${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}`;
  const temporary = `${path}.${unique}.tmp`;
  try {
    await writeFile(temporary, text, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    throw new ConnectionError(display, `Cannot take the lock ${path} on the embedded database ${display}: ${(error as Error).message}. pgpair needs to write beside the directory.`);
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(temporary, path);
        openHere.add(dir);
        // Removed synchronously, and on process.exit() too (a second Ctrl-C exits at once): the next run
        // would replace a stale lock, but need not.
        const remove = () => {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        };
        process.once('exit', remove);
        return async () => {
          openHere.delete(dir);
          remove();
          process.removeListener('exit', remove);
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const seen = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : ''));
      if (seen === null) continue;
      const holder = parseLock(seen);
      // pgpair links its lock into place whole: a file there that is not one is someone else's (db.lock, Cargo.lock…).
      if (!holder) {
        throw new EmbeddedDirectoryError(display, path, `${display} needs the lock file ${path} beside the directory, and a file that pgpair did not write is there. Nothing was changed: rename that file, or point pglite: at another path.`);
      }
      if (await holderRunning(holder, dir)) {
        const who = holder.pid === process.pid ? 'this process (it is already open here)' : `another process (pid ${holder.pid}${holder.host && holder.host !== hostname() ? ` on ${holder.host}` : ''})`;
        throw new ConnectionError(
          display,
          `The embedded database ${display} is in use by ${who}. PGlite serves one process at a time: wait for that run to finish, or use a PostgreSQL server (DATABASE_URL=postgres://…) for concurrent runs. If no such process is running, delete ${path}.`,
        );
      }
      const aside = `${path}.${unique}.stale`;
      try {
        await rename(path, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      if ((await readFile(aside, 'utf8').catch(() => null)) !== seen) {
        // Another process replaced the stale lock between our read and our rename: put its lock back.
        await link(aside, path).catch(() => {});
      }
      await rm(aside, { force: true });
    }
    throw new ConnectionError(display, `Could not take the lock ${path} on the embedded database ${display}; delete it if no pgpair process is running.`);
  } finally {
    await unlink(temporary).catch(() => {});
  }
}
