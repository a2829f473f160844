/**
 * Test databases on PGlite: the template is a snapshot of a data directory (PGlite's
 * `dumpDataDir()` tarball) of an in-memory database migrated to head, and every test database is
 * a fresh in-memory PGlite instance loaded from it (`loadDataDir`).
 *
 * The snapshots are kept in this process's memory, keyed by the template's name
 * (template-name.ts: a hash of the migration set, the history table and pgpair's version), and in
 * a cache directory shared by the processes of a test run (template-cache.ts; by default
 * node_modules/.cache/pgpair, `cacheDir: false` for none). A snapshot of an older set of the same
 * directory is forgotten when a new one is made.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import type { MigrationSet } from '../core/files.js';
import type { TableName } from '../core/ident.js';
import { migrator } from './provider.js';
import { forgetSnapshot, readSnapshot, writeSnapshot } from './template-cache.js';
import { templateIdentity } from './template-name.js';

export interface PgliteTestDatabase {
  kind: 'pglite';
  /** The PGlite instance, at head: query it, or give it to migrator({ connection }) or to your code. */
  db: PGlite;
  /** What to call it in messages: `pglite:memory`. */
  url: 'pglite:memory';
  /** A name for it, unique in this process. */
  name: string;
  /** The snapshot it was loaded from (named as the server template would be). */
  template: string;
  /** Closes the instance (its memory is freed); safe to call twice. */
  drop(): Promise<void>;
}

/** Snapshots by template name, and the name of each prefix's newest. */
const snapshots = new Map<string, Promise<{ dump: Blob; fromDisk: boolean }>>();
const newestOf = new Map<string, string>();
let count = 0;

async function snapshot(files: MigrationSet, table: string | undefined, logger: Logger, signal: AbortSignal | undefined): Promise<Blob> {
  const { PGlite } = await import('@electric-sql/pglite');
  const started = Date.now();
  const db = await PGlite.create();
  try {
    const m = await migrator({ connection: db, displayUrl: 'pglite:memory (template)', files, ...(table !== undefined ? { table } : {}), logger });
    try {
      await m.up(signal ? { signal } : {});
    } finally {
      await m.close();
    }
    const dump = await db.dumpDataDir('none');
    logger.info(`built the PGlite template snapshot (${files.migrations.length} migrations, ${Date.now() - started} ms, ${Math.round(dump.size / 1024 / 1024)} MiB)`);
    return dump;
  } finally {
    await db.close();
  }
}

async function load(dump: Blob): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  return PGlite.create({ loadDataDir: dump });
}

/** A snapshot from the cache directory, or built (and stored there). */
async function cachedOrBuilt(options: PgliteTemplateOptions, name: string, prefix: string): Promise<{ dump: Blob; fromDisk: boolean }> {
  const dir = options.cacheDir;
  if (dir) {
    const dump = await readSnapshot(dir, name, options.logger);
    if (dump) {
      options.logger.info(`loaded the PGlite template snapshot ${name} from ${dir}`);
      return { dump, fromDisk: true };
    }
  }
  const dump = await snapshot(options.files, options.tableText, options.logger, options.signal);
  if (dir) await writeSnapshot(dir, name, prefix, dump, options.logger);
  return { dump, fromDisk: false };
}

export interface PgliteTemplateOptions {
  files: MigrationSet;
  table: TableName;
  tableText: string | undefined;
  logger: Logger;
  signal: AbortSignal | undefined;
  /** Where snapshots are shared between processes; null: this process's memory only. */
  cacheDir: string | null;
}

/** A fresh in-memory PGlite at head, loaded from this migration set's snapshot (made by the first call in this process, or read from the cache directory). */
export async function pgliteTestDatabase(options: PgliteTemplateOptions): Promise<PgliteTestDatabase> {
  const identity = templateIdentity(options.files, options.table, `pglite ${pgliteVersion()}`);
  let pending = snapshots.get(identity.name);
  if (!pending) {
    pending = cachedOrBuilt(options, identity.name, identity.prefix);
    snapshots.set(identity.name, pending);
    // A failed build is not kept: the next call tries again (and reports its own error).
    pending.catch(() => snapshots.delete(identity.name));
    const older = newestOf.get(identity.prefix);
    if (older !== undefined && older !== identity.name) snapshots.delete(older);
    newestOf.set(identity.prefix, identity.name);
  }
  const { dump, fromDisk } = await pending;
  let db: PGlite;
  try {
    db = await load(dump);
  } catch (error) {
    if (!fromDisk || !options.cacheDir) throw error;
    // A damaged file in the cache: forget it and build the snapshot again.
    options.logger.warn({ err: error }, `the PGlite template snapshot ${identity.name} in ${options.cacheDir} cannot be loaded; building it again`);
    await forgetSnapshot(options.cacheDir, identity.name);
    snapshots.delete(identity.name);
    return pgliteTestDatabase(options);
  }
  count += 1;
  return {
    kind: 'pglite',
    db,
    url: 'pglite:memory',
    name: `pglite_test_${process.pid}_${count}`,
    template: identity.name,
    drop: async () => {
      if (!db.closed) await db.close();
    },
  };
}

let knownPgliteVersion: string | undefined;

/** The installed @electric-sql/pglite's version (its package.json is not exported: found from its entry point). */
export function pgliteVersion(): string {
  if (knownPgliteVersion !== undefined) return knownPgliteVersion;
  knownPgliteVersion = 'unknown';
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
    for (let i = 0; i < 6; i++, dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) {
        knownPgliteVersion = pkg.version;
        break;
      }
    }
  } catch {
    // Not found: 'unknown' keys the snapshot as before; a snapshot that fails to load is built again.
  }
  return knownPgliteVersion;
}
