/**
 * Takes a schema fingerprint of the database behind a Queryable: one query (lib/run/fingerprint-sql.ts)
 * whose one value is the whole fingerprint as JSON, built on the server. A Connection gives the
 * server version it needs to pick the catalog columns; a bare Queryable (a transaction) costs one
 * more round trip to read it, unless `serverVersionNum` is passed.
 */
import { DatabaseError } from '../core/errors.js';
import { type Fingerprint, type FingerprintCategory, type FingerprintObject, sortObjects } from '../core/fingerprint.js';
import { guardName, historyTables } from '../core/history.js';
import type { TableName } from '../core/ident.js';
import { pgErrorFields } from '../db/errors.js';
import type { Queryable } from '../db/types.js';
import { fingerprintSql } from './fingerprint-sql.js';

export interface FingerprintOptions {
  /** pgpair's history table (its log, `NAME_log`, and the log's guard function are left out too). */
  historyTable: TableName;
  /** List each object's owner and its grants (off by default: role names differ between servers). */
  ownersAndGrants?: boolean;
  /** server_version_num, when the caller knows it and `db` is not a Connection. */
  serverVersionNum?: number;
}

interface Listed {
  c: FingerprintCategory;
  o: string;
  m: string | null;
  d: string | null;
  p: number | null;
  l: string[] | null;
}

async function versionOf(db: Queryable, options: FingerprintOptions): Promise<number> {
  if (options.serverVersionNum !== undefined) return options.serverVersionNum;
  const server = (db as { server?: { versionNum?: unknown } }).server;
  if (server !== undefined && typeof server.versionNum === 'number') return server.versionNum;
  const [row] = await db.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  return Number(row!.v);
}

function toObject(row: Listed): FingerprintObject {
  const o: FingerprintObject = { category: row.c, object: row.o, member: row.m, definition: row.d ?? '' };
  if (row.p !== null) o.position = row.p;
  if (row.l !== null) o.labels = row.l;
  return o;
}

/**
 * The fingerprint of the database's schema: every object outside the system schemas and outside
 * extensions, pgpair's own history, log and guard left out. Throws DatabaseError when the catalog
 * cannot be read.
 */
export async function takeFingerprint(db: Queryable, options: FingerprintOptions): Promise<Fingerprint> {
  const serverVersionNum = await versionOf(db, options);
  const text = fingerprintSql({ serverVersionNum, ownersAndGrants: options.ownersAndGrants === true });
  const { logName } = historyTables(options.historyTable, null);
  let rows: { body: string }[];
  try {
    rows = await db.query<{ body: string }>(text, [options.historyTable.schema, options.historyTable.name, logName, guardName({ logName })]);
  } catch (error) {
    const fields = pgErrorFields(error);
    if (fields === null) throw error;
    throw new DatabaseError('could not read the schema from the catalog', fields);
  }
  const listed = JSON.parse(rows[0]!.body) as Listed[];
  return { serverVersionNum, objects: sortObjects(listed.map(toObject)) };
}
