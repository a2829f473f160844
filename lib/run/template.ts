/**
 * Test databases in milliseconds: a template database at head, built once per migration set, and
 * a fresh database cloned from it (`CREATE DATABASE … TEMPLATE`) for every test that asks.
 *
 * How a template comes to be, on the server's maintenance connection (the database of the URL):
 * - it is looked up by name (template-name.ts: the name holds a hash of the migration set, so
 *   an existing one is complete and current); found, it is used, with no lock taken;
 * - otherwise a session advisory lock keyed from the name is taken, so that parallel test
 *   workers build it once (the others wait, and then find it); under the lock the migrations run
 *   into a database with a temporary name, which is renamed to the template's name only once
 *   they all applied: a half-built template is never found, never cloned;
 * - the template is marked `IS_TEMPLATE true` (the catalog says what it is, a stray DROP refuses
 *   it) and `ALLOW_CONNECTIONS false`, so that no session can connect to it and make clones fail;
 * - after a build, this directory's other templates (older sets) are dropped.
 *
 * Cloning (template-clone.ts) retries while PostgreSQL refuses because a session is connected to
 * the template (SQLSTATE 55006), up to `busyTimeoutMs`, then fails with a TemplateBusyError naming them.
 */
import type { Logger } from 'pino';
import { ConfigError, DatabaseError, InterruptedError, PgpairError, TemplateBusyError, type TemplateSession } from '../core/errors.js';
import { parseMigrationDirectory, type DirectoryEntry, type MigrationSet } from '../core/files.js';
import { quoteIdent } from '../core/ident.js';
import { connect } from '../db/index.js';
import { pgErrorFields } from '../db/errors.js';
import type { Connection, Queryable } from '../db/types.js';
import { maskUrl, normalizeDatabaseUrl, urlScheme } from '../db/url.js';
import { readMigrations } from '../read/source.js';
import { lockHolder } from './lock.js';
import { migrator } from './provider.js';
import { builderName, clonePrefix, isCloneOf, kindOf, templateIdentity, templatePrefix, type TemplateIdentity } from './template-name.js';
import { DEFAULT_DIR, interruptedBefore, silent, tableOf, underSignal } from './session.js';

export interface TemplateOptions {
  /** The server: postgres://… or postgresql://…; its database is only used to create and drop others (e.g. …/postgres). */
  url: string;
  /** Migration directory; default `sql`. */
  dir?: string;
  /** Instead of reading `dir`: the migrations, already read, or the directory's files as entries. */
  files?: MigrationSet | readonly DirectoryEntry[];
  /** History table, `[schema.]name`; default `pgpair_history`. */
  table?: string;
  /** pino logger: builds, drops, waits; default silent. */
  logger?: Logger;
  /** Aborting it stops the call (the statement in progress is cancelled) with an InterruptedError. */
  signal?: AbortSignal;
  /** Seconds to wait for a connection; default 10. */
  connectTimeout?: number;
  /** How long to wait for another process that builds the same template; default 5 minutes (Infinity: no limit). */
  buildTimeoutMs?: number;
  /** Create the schema of `table` (schema.name) in the template when it does not exist (see RunCallOptions.createSchema). */
  createSchema?: boolean;
  /** How long a clone keeps retrying while sessions are connected to the template; default 10 s (PostgreSQL itself waits 5 s per attempt). */
  busyTimeoutMs?: number;
}

export interface TemplateResult {
  /** The template database's name. */
  name: string;
  /** True when this call built it (false: it was there, or another process built it meanwhile). */
  built: boolean;
  /** This directory's older templates that this call dropped. */
  dropped: string[];
}

/**
 * The given URL with another database name. Textual, not WHATWG URL: a multi-host URL
 * (postgres://h1:5432,h2:5433/db, which the drivers accept) is not one to `new URL`.
 */
export function urlWithDatabase(url: string, database: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(?:\/[^?#]*)?(.*)$/is.exec(url);
  if (!match) throw new ConfigError(`Cannot name another database in ${maskUrl(url)}: give a postgres://user@host:port/database URL.`);
  return `${match[1]}/${encodeURIComponent(database)}${match[2]}`;
}

export function serverUrl(url: string): string {
  const normalized = normalizeDatabaseUrl(url);
  const scheme = urlScheme(normalized);
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new ConfigError(`Test templates live on a PostgreSQL server, and ${maskUrl(normalized)} is not one: give a postgres://… URL (its database, e.g. /postgres, is only used to create the others). For PGlite, call testDatabase() without a url.`);
  }
  return normalized;
}

/** Refuses a wait bound that is not a number of milliseconds ≥ 0 (NaN compared as "never reached": a clone of a busy template retried forever). */
export function checkWaits(options: Pick<TemplateOptions, 'buildTimeoutMs' | 'busyTimeoutMs'>): void {
  for (const key of ['buildTimeoutMs', 'busyTimeoutMs'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && value >= 0)) {
      throw new ConfigError(`${key} must be a number of milliseconds, 0 or more (Infinity: no limit), not ${String(value)}.`);
    }
  }
}

/** The migrations of `files`, or of `dir` read. */
export async function filesOf(options: Pick<TemplateOptions, 'dir' | 'files'>): Promise<MigrationSet> {
  if (options.files === undefined) return readMigrations(options.dir ?? DEFAULT_DIR);
  if (Array.isArray(options.files)) return parseMigrationDirectory(options.dir ?? DEFAULT_DIR, options.files as readonly DirectoryEntry[]);
  return options.files as MigrationSet;
}

export function sqlstate(error: unknown): string | null {
  return pgErrorFields(error)?.sqlstate ?? null;
}

/** A server error as a DatabaseError saying what pgpair was doing; anything else as it is. */
export function explained(error: unknown, context: string): unknown {
  const fields = pgErrorFields(error);
  return fields && !(error instanceof PgpairError) ? new DatabaseError(context, fields) : error;
}

export async function exists(db: Queryable, name: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).length > 0;
}

export async function sessionsOn(db: Queryable, name: string): Promise<TemplateSession[]> {
  const rows = await db.query<{ pid: number; application_name: string | null; usename: string | null }>(
    // Client sessions only: an autovacuum worker on the template is ended by CREATE DATABASE itself.
    "SELECT pid, application_name, usename::text AS usename FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY pid",
    [name],
  );
  return rows.map((r) => ({ pid: Number(r.pid), applicationName: r.application_name || null, user: r.usename }));
}

/** Drops a database if it exists (a template is first unmarked: PostgreSQL refuses to drop one), ending its sessions first. */
export async function dropDatabase(db: Connection, name: string, template = true): Promise<void> {
  if (!(await exists(db, name))) return;
  if (template) await db.exec(`ALTER DATABASE ${quoteIdent(name)} WITH IS_TEMPLATE false`);
  if (db.server.versionNum >= 130000) {
    await db.exec(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    return;
  }
  await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  await db.exec(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
}

/** The databases of this prefix on the server, by kind. */
async function databasesOf(db: Queryable, prefix: string): Promise<{ name: string; kind: 'template' | 'builder' }[]> {
  const rows = await db.query<{ datname: string }>('SELECT datname FROM pg_database WHERE left(datname, length($1)) = $1 ORDER BY datname', [prefix]);
  return rows.flatMap((r) => {
    const kind = kindOf(r.datname, prefix);
    return kind ? [{ name: r.datname, kind }] : [];
  });
}

const LOCK_KEY = 'hashtextextended($1, 0)';

/** Takes the build lock of `name` (waiting at most `timeoutMs`), runs `fn`, releases it. */
async function underBuildLock<T>(db: Connection, name: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  // PostgreSQL holds at most 2147483647 ms; 0 would mean no limit, so at least 1 ms.
  await db.exec(`SET lock_timeout = ${Number.isFinite(timeoutMs) ? Math.min(2_147_483_647, Math.max(1, Math.round(timeoutMs))) : 0}`);
  try {
    await db.query(`SELECT pg_advisory_lock(${LOCK_KEY})`, [name]);
  } catch (error) {
    if (sqlstate(error) !== '55P03') throw error;
    const [row] = await db.query<{ key: string }>(`SELECT ${LOCK_KEY}::text AS key`, [name]);
    const holder = await lockHolder(db, row!.key);
    const sessions = holder ? [{ pid: holder.pid, applicationName: holder.applicationName, user: holder.user }] : [];
    throw new TemplateBusyError(name, 'building', Date.now() - started, sessions);
  } finally {
    await db.exec('RESET lock_timeout');
  }
  try {
    return await fn();
  } finally {
    if (!db.lost) await db.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`, [name]).catch(() => {});
  }
}

/** Migrates a new database to head and renames it into place as the template. */
/** Returns false when another process renamed its build into place first (ours is dropped). */
async function build(db: Connection, url: string, files: MigrationSet, identity: TemplateIdentity, options: TemplateOptions, logger: Logger): Promise<boolean> {
  // Under the lock nobody else builds this template: a builder left over is a build that was cut short.
  for (const stale of await databasesOf(db, identity.prefix)) {
    if (stale.kind === 'builder' && stale.name.startsWith(`${identity.name}_b`)) {
      logger.info(`dropping ${stale.name}, a build of the template that was cut short`);
      await dropDatabase(db, stale.name);
    }
  }
  const builder = builderName(identity.name);
  const started = Date.now();
  await db.exec(`CREATE DATABASE ${quoteIdent(builder)}`);
  try {
    const m = await migrator({ url: urlWithDatabase(url, builder), files, ...(options.table !== undefined ? { table: options.table } : {}), logger, connectTimeout: options.connectTimeout ?? 10 });
    try {
      await m.up({ ...(options.signal ? { signal: options.signal } : {}), createSchema: options.createSchema ?? false });
    } finally {
      await m.close();
    }
    // No session may connect to a template (a connected one makes every clone fail), and the catalog says what it is.
    await db.exec(`ALTER DATABASE ${quoteIdent(builder)} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true`);
    // The migrator's session may still be ending: PostgreSQL waits up to 5 s for it before refusing the rename.
    try {
      await db.exec(`ALTER DATABASE ${quoteIdent(builder)} RENAME TO ${quoteIdent(identity.name)}`);
    } catch (error) {
      // The build lock is an advisory lock, and those are per database: a process whose URL names
      // another maintenance database built the same template meanwhile. Theirs is as good as ours.
      if (sqlstate(error) !== '42P04') throw error;
      logger.info(`the template database ${identity.name} was built meanwhile by another process; dropping this build`);
      await dropDatabase(db, builder);
      return false;
    }
  } catch (error) {
    let kept = false;
    await dropDatabase(db, builder).catch((dropError: unknown) => {
      kept = true;
      logger.warn({ err: dropError }, `could not drop ${builder}, a template build that failed; pgpair template --clean drops it`);
    });
    if (error instanceof InterruptedError) {
      // The migrator's message speaks of `pgpair up`; here what matters is that no template was made.
      throw new InterruptedError(error.reason, error.version, `Interrupted by ${error.reason} while building the template database ${identity.name}: no template was made${kept ? '' : ' and the half-built database was dropped'}; the next call builds it again.`);
    }
    throw error;
  }
  logger.info(`built the template database ${identity.name} (${files.migrations.length} migrations, ${Date.now() - started} ms)`);
  return true;
}

/** Drops this directory's templates other than `keep` (older migration sets); a template in use stays, with a warning. */
async function dropOthers(db: Connection, prefix: string, keep: string | null, logger: Logger, builders: boolean): Promise<string[]> {
  const dropped: string[] = [];
  for (const other of await databasesOf(db, prefix)) {
    if (other.name === keep || (other.kind === 'builder' && !builders)) continue;
    try {
      await dropDatabase(db, other.name);
      dropped.push(other.name);
      logger.info(`dropped the template database ${other.name}`);
    } catch (error) {
      logger.warn({ err: error }, `could not drop ${other.name} (is it being cloned?); pgpair template --clean drops it later`);
    }
  }
  return dropped;
}

/** Makes sure the template exists, building it if needed (once, whoever else asks at the same time). */
export async function ensureTemplate(db: Connection, url: string, files: MigrationSet, identity: TemplateIdentity, options: TemplateOptions, logger: Logger): Promise<TemplateResult> {
  if (await exists(db, identity.name)) return { name: identity.name, built: false, dropped: [] };
  return underBuildLock(db, identity.name, options.buildTimeoutMs ?? 300_000, async () => {
    if (await exists(db, identity.name)) return { name: identity.name, built: false, dropped: [] };
    if (!(await build(db, url, files, identity, options, logger))) return { name: identity.name, built: false, dropped: [] };
    return { name: identity.name, built: true, dropped: await dropOthers(db, identity.prefix, identity.name, logger, false) };
  });
}

/** Runs `fn` on a maintenance connection to `url` under `signal`; always closes it. */
export async function onServer<T>(url: string, options: Pick<TemplateOptions, 'signal' | 'connectTimeout'>, fn: (db: Connection) => Promise<T>): Promise<T> {
  const signal = options.signal;
  if (signal?.aborted) throw interruptedBefore(signal, 'before connecting');
  const db = await connect({ url, connectTimeout: options.connectTimeout ?? 10, ...(signal ? { signal } : {}) });
  try {
    return await underSignal(db, signal, () => fn(db));
  } finally {
    await db.close();
  }
}

/** The template database of this migration set on the server, built if needed (see the module comment). */
export async function templateDatabase(options: TemplateOptions): Promise<TemplateResult> {
  const url = serverUrl(options.url);
  checkWaits(options);
  const files = await filesOf(options);
  const identity = templateIdentity(files, tableOf(options));
  return onServer(url, options, async (db) => {
    try {
      return await ensureTemplate(db, url, files, identity, options, options.logger ?? silent);
    } catch (error) {
      throw explained(error, `Cannot build the template database ${identity.name}`);
    }
  });
}

/** The test databases cloned from this place's templates that are still there (a test process that ended before drop()). */
async function clonesOf(db: Queryable, place: string): Promise<string[]> {
  const prefix = clonePrefix(place);
  const rows = await db.query<{ datname: string }>('SELECT datname FROM pg_database WHERE left(datname, length($1)) = $1 ORDER BY datname', [prefix]);
  return rows.map((r) => r.datname).filter((name) => isCloneOf(name, place));
}

/**
 * Drops every template of this directory and history table (and builds of them cut short), and
 * the test databases cloned from them that were never dropped; returns their names.
 */
export async function dropTemplates(options: Pick<TemplateOptions, 'url' | 'dir' | 'table' | 'logger' | 'signal' | 'connectTimeout'>): Promise<{ dropped: string[] }> {
  const url = serverUrl(options.url);
  const { prefix, place } = templatePrefix(options.dir ?? DEFAULT_DIR, tableOf(options));
  const logger = options.logger ?? silent;
  return onServer(url, options, async (db) => {
    try {
      const dropped = await dropOthers(db, prefix, null, logger, true);
      for (const name of await clonesOf(db, place)) {
        await dropDatabase(db, name, false);
        dropped.push(name);
        logger.info(`dropped the test database ${name}, left by a test that did not drop it`);
      }
      return { dropped };
    } catch (error) {
      throw explained(error, 'Cannot drop the template databases');
    }
  });
}

