/**
 * pglite:PATH and pglite:memory: an embedded PostgreSQL (PGlite, PostgreSQL
 * compiled to WebAssembly) inside this process; nothing to install or start.
 *
 * Imported only for pglite: URLs (lib/db/index.ts), and PGlite itself only
 * when a connection is opened: it costs about a second to load.
 *
 * What this driver adds to PGlite, one file each:
 * - lock.ts: PGlite serves one process at a time, and two processes on one
 *   data directory corrupt it; DIR.lock beside the directory refuses a second.
 * - directory.ts, open.ts: PGlite opens whatever directory it is given, and
 *   writes a new database into one without PG_VERSION. pgpair creates, clears
 *   or re-initialises only a directory it can prove it made, and a read-only
 *   command (ConnectOptions.readOnly) never creates one. Everything else is
 *   refused before anything is written, a lock file included.
 * - copy.ts: a statement runs synchronously in this thread, so `COPY … FROM
 *   STDIN` must come through copyFrom (PGlite reads the data from a blob).
 * - connection.ts: the Connection itself; borrowed.ts: the same over an
 *   instance the application already holds (pgliteConnection).
 */
import type { PGlite } from '@electric-sql/pglite';
import { ConnectionError } from '../../core/errors.js';
import type { Connection, ConnectOptions, Driver } from '../types.js';
import { markReady } from './directory.js';
import { PgliteConnection } from './connection.js';
import { absentNote, openDirectory, openFailure, parseTarget } from './open.js';

export { pgliteConnection, type PgliteConnectionOptions } from './borrowed.js';

export const pgliteDriver: Driver = {
  schemes: ['pglite'],
  async connect(options: ConnectOptions): Promise<Connection> {
    const target = parseTarget(options.url);
    const opened = target.memory ? null : await openDirectory(target.dir, target.display, options.readOnly ?? false);
    const onDisk = opened !== null && opened.dir !== null ? opened : null;
    const release = onDisk ? onDisk.release : async () => {};
    let db: PGlite;
    try {
      const { PGlite } = await import('@electric-sql/pglite');
      db = await PGlite.create(onDisk ? onDisk.dir : undefined);
    } catch (error) {
      await release();
      throw onDisk ? openFailure(target.display, onDisk.dir, onDisk.found, error) : new ConnectionError(target.display, `Cannot start the embedded database: PGlite failed with "${(error as Error).message}".`);
    }
    const connection = new PgliteConnection(db, target.display, options.onNotice, async () => {
      try {
        if (!db.closed) await db.close();
      } catch {
        // PGlite could not shut down cleanly: what was committed is on disk, the rest is rolled back on the next open.
      } finally {
        await release().catch(() => {});
      }
    });
    try {
      if (onDisk?.marker) await markReady(onDisk.dir, onDisk.marker);
      await connection.init();
    } catch (error) {
      await connection.close();
      throw error instanceof ConnectionError ? error : new ConnectionError(target.display, `Cannot use the embedded database ${target.display}: ${(error as Error).message}.`);
    }
    if (opened && !onDisk) options.onNotice?.({ severity: 'INFO', message: absentNote(target.display, opened.found) });
    return connection;
  },
};
