/**
 * `testDatabase()`: a fresh database at head for one test (or one test file), in milliseconds,
 * from a template built once per migration set. On a PostgreSQL server (a postgres:// URL) it is
 * a new database cloned with CREATE DATABASE … TEMPLATE (lib/run/template.ts); without a URL,
 * or with pglite:memory, a new in-memory PGlite instance loaded from a snapshot
 * (lib/run/template-pglite.ts).
 */
import { resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { defaultCacheDir } from './template-cache.js';
import { interruptedBefore, silent, tableOf } from './session.js';
import { pgliteTestDatabase, type PgliteTestDatabase } from './template-pglite.js';
import { filesOf } from './template.js';
import { serverTestDatabase, type CloneOptions, type ServerTestDatabase } from './template-clone.js';

export type { PgliteTestDatabase } from './template-pglite.js';
export type { ServerTestDatabase } from './template-clone.js';

export type TestDatabase = ServerTestDatabase | PgliteTestDatabase;

export interface TestDatabaseOptions extends Omit<CloneOptions, 'url'> {
  /** postgres://… (a server: its database is only used to create the test databases), or pglite:memory / nothing (PGlite in this process). */
  url?: string | undefined;
  /**
   * PGlite only: the directory where snapshots are shared by the processes of a test run; default
   * node_modules/.cache/pgpair when the working directory has node_modules; false: none (each
   * process makes its own, in memory).
   */
  cacheDir?: string | false | undefined;
}

type ServerUrl = `postgres://${string}` | `postgresql://${string}`;

/** A fresh database on the server, cloned from the template: `{ url, name, drop() }`. */
export function testDatabase(options: TestDatabaseOptions & { url: ServerUrl }): Promise<ServerTestDatabase>;
/** A fresh in-memory PGlite instance at head: `{ db, drop() }`. */
export function testDatabase(options: TestDatabaseOptions & { url?: 'pglite:memory' | undefined }): Promise<PgliteTestDatabase>;
/** Either, by the URL (check `kind`). */
export function testDatabase(options: TestDatabaseOptions): Promise<TestDatabase>;
export async function testDatabase(options: TestDatabaseOptions): Promise<TestDatabase> {
  const url = options.url?.trim() || undefined;
  if (url === undefined || url === 'pglite:memory') {
    if (options.template !== undefined) throw new ConfigError('testDatabase({ template }) names a template database on a server: give a postgres:// url with it (PGlite snapshots are made from the files, in this process).');
    const table = tableOf(options);
    const files = await filesOf(options);
    if (options.signal?.aborted) throw interruptedBefore(options.signal, 'before making the test database');
    const cacheDir = options.cacheDir === false ? null : options.cacheDir === undefined ? defaultCacheDir() : resolve(options.cacheDir);
    return pgliteTestDatabase({ files, table, tableText: options.table, logger: options.logger ?? silent, signal: options.signal, cacheDir });
  }
  if (url.startsWith('pglite:')) {
    throw new ConfigError(`testDatabase() makes in-memory PGlite databases (no url, or pglite:memory), never one in a directory: ${url} is not used. Give a postgres:// URL for a server.`);
  }
  return serverTestDatabase({ ...options, url });
}
