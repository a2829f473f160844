/**
 * A Connection over a PGlite instance that the application opened and keeps: pgpair runs its
 * statements on it and never closes it (close() only marks the Connection closed). Notices of
 * pgpair's statements go to `onNotice`, passed with each query, so the instance's own notice
 * handling is left as the application set it.
 *
 * PGlite is one session: while a pgpair call runs, statements the application sends to the same
 * instance run in that session too, inside pgpair's transactions. Do not use the instance for
 * anything else until the call has returned.
 */
import type { PGlite } from '@electric-sql/pglite';
import { PgliteConnection } from './pglite.js';
import type { Connection, Notice } from './types.js';

export interface PgliteInstanceOptions {
  /** What to call the database in messages and results; default `pglite:instance`. */
  displayUrl?: string;
  onNotice?: (notice: Notice) => void;
}

export async function pgliteConnection(db: PGlite, options: PgliteInstanceOptions = {}): Promise<Connection> {
  const connection = new PgliteConnection(db, options.displayUrl ?? 'pglite:instance', async () => {}, options.onNotice, false);
  await connection.init(false);
  return connection;
}
