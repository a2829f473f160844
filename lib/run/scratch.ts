/**
 * A scratch database for one run of `pgpair test` or `verify --schema`: made at the start,
 * always removed at the end (also when the run fails or is interrupted: withScratchDatabase's
 * finally), never one that existed before.
 *
 * - On a server (a postgres:// URL): a new database `pgpair_test_<random>` on that server, made
 *   with CREATE DATABASE … TEMPLATE template0 (never what a DBA added to template1) through a
 *   connection to the URL's own database, and dropped through the
 *   same connection after its sessions are terminated (PostgreSQL 12 has no DROP … WITH FORCE).
 * - Without a URL: an embedded PGlite in memory, closed at the end; nothing is written to disk.
 *
 * The scratch database is reached two ways, both given here: `db`, a connection of the caller's
 * own (for fingerprints and extensions), and `target`, what migrator() takes to run migrations on
 * the same database (its URL, or the PGlite instance itself: an in-memory database has no URL
 * another connection could open).
 */
import { randomBytes } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import { ConfigError, DatabaseError, InterruptedError } from '../core/errors.js';
import { quoteIdent, quoteLiteral } from '../core/ident.js';
import { pgErrorFields } from '../db/errors.js';
import { connect } from '../db/index.js';
import type { Connection } from '../db/types.js';
import { maskUrl, urlScheme } from '../db/url.js';
import { interruptedBefore, silent } from './session.js';

/** An extension to create on the scratch database before anything else runs. */
export interface ScratchExtension {
  name: string;
  /** The schema to create it in; default the server's choice. */
  schema?: string | null;
  /** The version to create; default the server's default version. */
  version?: string | null;
}

export interface ScratchOptions {
  /** A postgres:// (or postgresql://) URL: the scratch database is made on its server. Absent: embedded PGlite in memory. */
  serverUrl?: string | undefined;
  /** Extensions to create first (CREATE EXTENSION IF NOT EXISTS … CASCADE). */
  extensions?: readonly ScratchExtension[];
  logger?: Logger | undefined;
  /** Seconds to wait for a connection; default 10. */
  connectTimeout?: number | undefined;
  /** Aborting it stops the making of the database (what was made is still removed). */
  signal?: AbortSignal | undefined;
}

export interface ScratchDatabase {
  readonly kind: 'server' | 'embedded';
  /** The database's name on the server (`pgpair_test_…`), or null for the embedded one. */
  readonly name: string | null;
  /** How messages name it, without any password. */
  readonly displayUrl: string;
  /** The caller's own session on it. */
  readonly db: Connection;
  /** What migrator() needs to run on it: spread it into MigratorOptions. */
  readonly target: { url: string } | { connection: PGlite; displayUrl: string };
}

/** The scratch database's URL: `url` with its database replaced by `name` (only the path changes; the query string stays). */
export function scratchUrl(url: string, name: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/s.exec(url);
  if (!match) throw new ConfigError(`Cannot make a scratch database from ${maskUrl(url)}: expected postgres://user:password@host:port/database.`);
  return `${match[1]}/${encodeURIComponent(name)}${match[3]}`;
}

/** A fresh name no other run picks: pgpair_test_ and 12 random hex digits. */
export function scratchName(): string {
  return `pgpair_test_${randomBytes(6).toString('hex')}`;
}

/** Runs `fn`; a server error becomes a DatabaseError saying what could not be done (`context`), so the CLI reports it plainly. */
async function explained<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const fields = pgErrorFields(error);
    if (fields === null) throw error;
    throw new DatabaseError(context, fields);
  }
}

async function createExtensions(db: Connection, extensions: readonly ScratchExtension[]): Promise<void> {
  for (const ext of extensions) {
    const schema = ext.schema ? ` SCHEMA ${quoteIdent(ext.schema)}` : '';
    const version = ext.version ? ` VERSION ${quoteLiteral(ext.version)}` : '';
    await explained(`Cannot create extension ${ext.name}${ext.version ? ` ${ext.version}` : ''} on the scratch database (the live database has it)`, async () => {
      if (ext.schema) await db.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(ext.schema)}`);
      await db.exec(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(ext.name)} WITH${schema}${version} CASCADE`);
    });
  }
}

/** Removes a server scratch database: its sessions ended first, then DROP DATABASE. Never throws: a failure is logged with the name to drop by hand. */
async function dropServerDatabase(admin: Connection | null, serverUrl: string, name: string, options: ScratchOptions, logger: Logger): Promise<void> {
  let conn = admin;
  try {
    if (!conn || conn.lost) conn = await connect({ url: serverUrl, onNotice: () => {}, connectTimeout: options.connectTimeout ?? 10 });
    await conn.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    await conn.exec(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    logger.debug(`dropped the scratch database ${name}`);
  } catch (error) {
    logger.error({ err: error }, `could not drop the scratch database ${name}: drop it by hand (DROP DATABASE ${quoteIdent(name)})`);
  } finally {
    if (conn && conn !== admin) await conn.close();
  }
}

async function onServer<T>(serverUrl: string, options: ScratchOptions, logger: Logger, fn: (scratch: ScratchDatabase) => Promise<T>): Promise<T> {
  const name = scratchName();
  const url = scratchUrl(serverUrl, name);
  const signal = options.signal;
  const admin = await connect({ url: serverUrl, onNotice: () => {}, connectTimeout: options.connectTimeout ?? 10, ...(signal ? { signal } : {}) });
  let created = false;
  let db: Connection | null = null;
  try {
    if (signal?.aborted) throw interruptedBefore(signal, 'before the scratch database was made');
    await explained(`Cannot create the scratch database ${name} on ${maskUrl(serverUrl)} (the user needs the CREATEDB privilege)`, () => admin.exec(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`));
    created = true;
    const displayUrl = maskUrl(url);
    logger.debug(`made the scratch database ${name} on ${maskUrl(serverUrl)}`);
    if (signal?.aborted) throw interruptedBefore(signal, 'after the scratch database was made');
    db = await connect({ url, onNotice: () => {}, connectTimeout: options.connectTimeout ?? 10, ...(signal ? { signal } : {}) });
    await createExtensions(db, options.extensions ?? []);
    return await fn({ kind: 'server', name, displayUrl, db, target: { url } });
  } finally {
    await db?.close();
    if (created) await dropServerDatabase(admin, serverUrl, name, options, logger);
    await admin.close();
  }
}

/**
 * A fresh embedded database's data directory, dumped once per process: PGlite.create() runs
 * initdb (seconds), and an instance loaded from the dump starts in a fraction of that. It costs
 * about 40 MB of memory and 0.2 s once, and makes every later scratch database in the process
 * (a test suite's) several times cheaper.
 */
let pristine: Promise<Blob> | null = null;

async function newInstance(): Promise<PGlite> {
  // The one place outside lib/db that starts PGlite: migrator() takes the instance itself, since an in-memory database has no URL.
  const { PGlite } = await import('@electric-sql/pglite');
  const dump = pristine ? await pristine.catch(() => null) : null;
  if (dump) return PGlite.create({ loadDataDir: dump });
  const instance = await PGlite.create();
  pristine = instance.dumpDataDir('none');
  await pristine.catch(() => {
    pristine = null;
  });
  return instance;
}

async function embedded<T>(options: ScratchOptions, fn: (scratch: ScratchDatabase) => Promise<T>): Promise<T> {
  const displayUrl = 'pglite:memory (scratch)';
  const { pgliteConnection } = await import('../db/pglite/index.js');
  const instance = await newInstance();
  try {
    const db = await pgliteConnection(instance, { displayUrl, onNotice: () => {} });
    try {
      if (options.signal?.aborted) throw interruptedBefore(options.signal, 'after the scratch database was made');
      await createExtensions(db, options.extensions ?? []);
      return await fn({ kind: 'embedded', name: null, displayUrl, db, target: { connection: instance, displayUrl } });
    } finally {
      await db.close();
    }
  } finally {
    await instance.close().catch(() => {});
  }
}

/**
 * Runs `fn` with a new scratch database (on the server of `serverUrl`, else embedded) and
 * removes the database afterwards, whatever `fn` did. `fn` must have closed every connection it
 * opened to the database by the time it returns (their sessions are terminated anyway).
 */
export async function withScratchDatabase<T>(options: ScratchOptions, fn: (scratch: ScratchDatabase) => Promise<T>): Promise<T> {
  const logger = options.logger ?? silent;
  const serverUrl = options.serverUrl;
  if (serverUrl !== undefined) {
    const scheme = urlScheme(serverUrl);
    if (scheme !== 'postgres' && scheme !== 'postgresql') {
      throw new ConfigError(`A scratch database is made on a PostgreSQL server: ${maskUrl(serverUrl)} is not a postgres:// URL. Give a server URL (postgres://user:password@host:port/database), or none for an embedded scratch database.`);
    }
  }
  let scratchName: string | null = null;
  const named = (scratch: ScratchDatabase) => {
    scratchName = scratch.name ?? scratch.displayUrl;
    return fn(scratch);
  };
  try {
    return serverUrl === undefined ? await embedded(options, named) : await onServer(serverUrl, options, logger, named);
  } catch (error) {
    // The migrator's own message speaks of a database being migrated ("run pgpair up again"); this one was thrown away.
    if (error instanceof InterruptedError && scratchName !== null) {
      const stopped = new InterruptedError(error.reason, error.version, `Interrupted by ${error.reason}${error.version ? ` during ${error.version}` : ''} on the scratch database ${scratchName}, which is removed; nothing else was changed.`);
      stopped.failed = error.failed;
      stopped.applied = error.applied;
      throw stopped;
    }
    throw error;
  }
}
