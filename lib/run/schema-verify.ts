/**
 * `pgpair verify --schema`: the live database's schema against what its recorded migrations
 * build. The recorded versions (exactly those, in version order) are applied to a scratch
 * database (lib/run/scratch.ts: on the live database's server, or embedded for a pglite: one),
 * both schemas are fingerprinted, and every difference is listed: an index added by hand, a
 * column altered, a function replaced.
 *
 * Extensions the live database has that no recorded up file creates (made by a DBA, or before
 * pgpair) are created on the scratch database first, at the live version; those the migrations
 * create are left to them.
 */
import type { Logger } from 'pino';
import { compareFingerprints, type SchemaDifference } from '../core/fingerprint.js';
import type { Migration, MigrationSet } from '../core/files.js';
import { connect } from '../db/index.js';
import { urlScheme } from '../db/url.js';
import { takeFingerprint } from './fingerprint.js';
import { migrator as makeMigrator, type VerifyResult } from './provider.js';
import { withScratchDatabase, type ScratchExtension } from './scratch.js';
import { silent, tableOf } from './session.js';

export interface SchemaVerifyOptions {
  /** The live database: postgres://… or pglite:PATH. */
  url: string;
  dir?: string | undefined;
  files?: MigrationSet | undefined;
  table?: string | undefined;
  strict?: boolean | undefined;
  logger?: Logger | undefined;
  connectTimeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface SchemaVerifyResult {
  /** No difference, and every recorded version could be built. */
  ok: boolean;
  /** `verify` of files against history, as without --schema. */
  verify: VerifyResult;
  /** The versions built on the scratch database (the recorded ones that have files). */
  built: string[];
  /** Recorded versions that could not be built: their files are gone, or they failed. */
  unbuilt: { version: string; reason: string }[];
  /** A: what the recorded migrations build; B: the live database. */
  differences: SchemaDifference[];
  /** Extensions created on the scratch database before the migrations ran. */
  extensions: ScratchExtension[];
}

const LIVE_EXTENSIONS_SQL = `SELECT e.extname AS name, n.nspname AS schema, e.extversion AS version
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname <> 'plpgsql' ORDER BY e.extname`;

const CREATE_EXTENSION = /\bcreate\s+extension\s+(?:if\s+not\s+exists\s+)?(?:"((?:[^"]|"")+)"|([a-z_][a-z0-9_$-]*))/gi;

/** Extension names the up files create (CREATE EXTENSION [IF NOT EXISTS] name), lower-cased unless quoted. */
export function extensionsCreatedBy(migrations: readonly Migration[]): Set<string> {
  const names = new Set<string>();
  for (const migration of migrations) {
    for (const statement of migration.up.analysis.statements) {
      for (const match of statement.text.matchAll(CREATE_EXTENSION)) names.add(match[1] !== undefined ? match[1].replace(/""/g, '"') : match[2]!.toLowerCase());
    }
  }
  return names;
}

/**
 * Compares the live schema of `url` with what its recorded migrations build. Returns the
 * differences as data; throws what reading the files, reaching either database or the signal
 * throws. Read-only on the live database.
 */
export async function verifySchema(options: SchemaVerifyOptions): Promise<SchemaVerifyResult> {
  const logger = options.logger ?? silent;
  const historyTable = tableOf(options);
  const live = await makeMigrator({
    url: options.url,
    ...(options.dir !== undefined ? { dir: options.dir } : {}),
    ...(options.files !== undefined ? { files: options.files } : {}),
    ...(options.table !== undefined ? { table: options.table } : {}),
    logger,
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
  });
  let verify: VerifyResult;
  try {
    verify = await live.verify({ strict: options.strict ?? false, signal: options.signal });
  } finally {
    await live.close();
  }
  const unbuilt: SchemaVerifyResult['unbuilt'] = [];
  const recorded: Migration[] = [];
  for (const entry of verify.report.migrations) {
    if (entry.row === null) continue;
    if (entry.migration === null) unbuilt.push({ version: entry.version, reason: 'its files are gone' });
    else if (entry.row.state !== 'ok') unbuilt.push({ version: entry.version, reason: `it is recorded as ${entry.row.state}` });
    else recorded.push(entry.migration);
  }
  const set: MigrationSet = { ...live.files, migrations: recorded };
  // The live database, read-only, for its extensions and its fingerprint (after the migrator closed: an embedded directory takes one opener at a time).
  const db = await connect({ url: options.url, readOnly: true, onNotice: () => {}, connectTimeout: options.connectTimeout ?? 10, ...(options.signal ? { signal: options.signal } : {}) });
  try {
    const createdByFiles = extensionsCreatedBy(recorded);
    const extensions = (await db.query<{ name: string; schema: string; version: string }>(LIVE_EXTENSIONS_SQL)).filter((e) => !createdByFiles.has(e.name));
    const liveFingerprint = await takeFingerprint(db, { historyTable });
    const serverUrl = urlScheme(options.url) === 'pglite' ? undefined : options.url;
    const built = await withScratchDatabase({ serverUrl, extensions, logger, connectTimeout: options.connectTimeout, signal: options.signal }, async (scratch) => {
      const builder = await makeMigrator({ ...scratch.target, files: set, ...(options.table !== undefined ? { table: options.table } : {}), logger: logger.child({}, { level: logger.levelVal <= 20 ? logger.level : 'warn' }) });
      try {
        if (recorded.length > 0) await builder.up({ signal: options.signal, createSchema: true, allowOutOfOrder: true });
        else await builder.stamp({ target: 'base', signal: options.signal, createSchema: true });
      } finally {
        await builder.close();
      }
      return takeFingerprint(scratch.db, { historyTable });
    });
    const differences = compareFingerprints(built, liveFingerprint, { a: "the migrations' schema", b: 'the live database' });
    return { ok: differences.length === 0 && unbuilt.length === 0, verify, built: recorded.map((m) => m.version), unbuilt, differences, extensions };
  } finally {
    await db.close();
  }
}
