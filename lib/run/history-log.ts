/**
 * Reading the history without the migration files: the current version
 * (`pgpair current`) and the append-only log (`pgpair history`). Read-only:
 * nothing is created, no lock is taken, and a database that pgpair never
 * touched reads as base with an empty log.
 */
import { readdirSync } from 'node:fs';
import { connect } from '../db/index.js';
import { maskUrl } from '../db/url.js';
import type { Connection } from '../db/types.js';
import { ConfigError } from '../core/errors.js';
import { wrapDatabaseError } from './executor.js';
import { historyTables, type HistoryTables } from '../core/history.js';
import { readHistory } from './read-history.js';
import { tableOf, type BaseOptions } from './session.js';
import { compareVersions } from '../core/version.js';

/**
 * Whether a `pglite:PATH` URL names a directory that holds nothing yet: opening it would create a
 * database, and a read-only command must not (SPEC section 6). Such a database has no history.
 */
function absentEmbedded(url: string): boolean {
  const match = /^pglite:(.*)$/i.exec(url);
  if (!match || match[1] === 'memory') return false;
  try {
    return readdirSync(match[1]!).length === 0;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** One connection and the history's table names, closed afterwards; the directory is not read. `absent`: the answer when there is no database to open. */
async function withHistory<T>(options: BaseOptions, absent: () => T, fn: (db: Connection, tables: HistoryTables) => Promise<T>): Promise<T> {
  const table = tableOf(options);
  if (absentEmbedded(options.url)) return absent();
  const db = await connect({ url: options.url, connectTimeout: options.connectTimeout ?? 10 });
  try {
    if (db.server.schema === null && table.schema === null) {
      throw new ConfigError(`The connection has no current schema (search_path names no existing schema), so pgpair cannot find its history table; pass --table schema.${table.name}.`);
    }
    return await fn(db, historyTables(table, db.server.schema ?? 'public'));
  } finally {
    await db.close();
  }
}

export interface CurrentResult {
  /** The newest recorded version as spelled, whatever its state; null for base. */
  current: string | null;
  /** The state of that version's row: ok, or running/failed for an unfinished non-transactional migration. */
  state: 'ok' | 'running' | 'failed' | null;
  database: string;
}

/** The current version as `status` computes it (the newest recorded one), from the history alone. */
export async function currentVersion(options: BaseOptions): Promise<CurrentResult> {
  return withHistory(options, () => ({ current: null, state: null, database: maskUrl(options.url) }), async (db, tables) => {
    const { rows } = await readHistory(db, tables);
    const newest = [...rows].sort((a, b) => compareVersions(a.key, b.key)).pop();
    return { current: newest?.version ?? null, state: newest?.state ?? null, database: db.displayUrl };
  });
}

export interface LogRow {
  id: string;
  at: Date;
  /** up, down, stamp, unstamp, repair or failed. */
  action: string;
  version: string | null;
  name: string | null;
  checksum: string | null;
  how: string | null;
  durationMs: number | null;
  detail: string | null;
  /** The database user (current_user) that made the change. */
  by: string;
  applicationName: string | null;
  pgpairVersion: string;
}

export interface LogResult {
  /** Newest first. */
  entries: LogRow[];
  /** All entries in the log; more than entries.length when the limit cut it. */
  total: number;
  /** The log's qualified name, unquoted. */
  log: string;
  exists: boolean;
  database: string;
}

/** The newest `limit` entries of the append-only log (default 50), newest first. */
export async function readLog(options: BaseOptions & { limit?: number }): Promise<LogResult> {
  const limit = options.limit ?? 50;
  const table = tableOf(options);
  const absent = () => ({ entries: [], total: 0, log: `${table.schema ?? 'public'}.${table.name}_log`, exists: false, database: maskUrl(options.url) });
  return withHistory(options, absent, async (db, tables) => {
    const log = `${tables.schema}.${tables.logName}`;
    try {
      const [probe] = await db.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [tables.log]);
      if (!probe?.exists) return { entries: [], total: 0, log, exists: false, database: db.displayUrl };
      const [count] = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${tables.log}`);
      const rows = await db.query(
        `SELECT id, at, action, version, name, checksum, how, duration_ms, detail, db_user, application_name, pgpair_version
           FROM ${tables.log} ORDER BY id DESC LIMIT $1`,
        [limit],
      );
      const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
      return {
        entries: rows.map((r) => ({
          id: String(r.id),
          at: r.at instanceof Date ? r.at : new Date(String(r.at)),
          action: String(r.action),
          version: text(r.version),
          name: text(r.name),
          checksum: text(r.checksum),
          how: text(r.how),
          durationMs: r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
          detail: text(r.detail),
          by: String(r.db_user),
          applicationName: text(r.application_name),
          pgpairVersion: String(r.pgpair_version),
        })),
        total: Number(count?.n ?? 0),
        log,
        exists: true,
        database: db.displayUrl,
      };
    } catch (error) {
      throw wrapDatabaseError(error, `Cannot read the log ${log}`);
    }
  });
}

