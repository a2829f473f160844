/**
 * Scratch databases on the benchmark server. Configuration is one URL,
 * BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/postgres): the
 * database it names is only used to create and drop `bench_…` databases and
 * to read pg_stat_database; every tool run gets a fresh database of its own.
 */
import pg from 'pg';
import { TABLE_PREFIX } from '../corpus.js';

export const DEFAULT_URL = 'postgres://root@127.0.0.1:5432/postgres';

/**
 * @typedef {object} Target  where one tool run goes; every form a tool may want
 * @property {string} database
 * @property {string} host
 * @property {number} port
 * @property {string} user
 * @property {string} password  '' when none
 * @property {string} url       postgres://user[:password]@host:port/database, no query string
 */

export function serverFromEnv() {
  const text = process.env.BENCH_DATABASE_URL || DEFAULT_URL;
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`BENCH_DATABASE_URL is not a URL: use postgres://user[:password]@host:port/database`);
  }
  if (!/^postgres(ql)?:$/.test(url.protocol)) throw new Error('BENCH_DATABASE_URL must start with postgres:// or postgresql://');
  return {
    host: url.hostname || '127.0.0.1',
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || process.env.USER || 'postgres'),
    password: decodeURIComponent(url.password || ''),
    adminDatabase: decodeURIComponent(url.pathname.replace(/^\//, '') || 'postgres'),
  };
}

/** The Target for `database` on `server`. */
export function targetFor(server, database) {
  const auth = server.password ? `${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}` : encodeURIComponent(server.user);
  return {
    database,
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    url: `postgres://${auth}@${server.host}:${server.port}/${encodeURIComponent(database)}`,
  };
}

function quoteIdent(name) {
  return `"${name.replace(/"/g, '""')}"`;
}

async function withClient(server, database, fn) {
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password || undefined, database, application_name: 'pgpair-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates and drops scratch databases; remembers what it created so that `dropAll` can clean up after a crash. */
export class Scratch {
  constructor(server) {
    this.server = server;
    this.created = new Set();
    this.serial = 0;
  }

  /** A new empty database named bench_<pid>_<label>_<serial>, at most 63 bytes. */
  async create(label) {
    const name = `bench_${process.pid}_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}_${++this.serial}`.slice(0, 63);
    await withClient(this.server, this.server.adminDatabase, async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    });
    this.created.add(name);
    return targetFor(this.server, name);
  }

  async drop(target) {
    await withClient(this.server, this.server.adminDatabase, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(target.database)} WITH (FORCE)`));
    this.created.delete(target.database);
  }

  async dropAll() {
    for (const database of [...this.created]) await this.drop({ database }).catch(() => {});
  }

  /** How much of the corpus is in the database: tables, their name indexes, their comments. */
  async corpusCounts(target) {
    return withClient(this.server, target.database, async (client) => {
      const { rows } = await client.query(
        `SELECT count(*) FILTER (WHERE c.relkind = 'r')::int AS tables,
                count(*) FILTER (WHERE c.relkind = 'i' AND c.relname LIKE '%\\_name\\_idx')::int AS indexes,
                count(*) FILTER (WHERE c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NOT NULL)::int AS comments
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relname LIKE $1`,
        [`${TABLE_PREFIX.replace(/_/g, '\\_')}%`],
      );
      return rows[0];
    });
  }

  /** Server-side counters of one database (pg_stat_database), for before/after deltas. */
  async stats(target) {
    return withClient(this.server, this.server.adminDatabase, async (client) => {
      await client.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await client.query(
        `SELECT xact_commit::bigint::float8 AS xact_commit, xact_rollback::bigint::float8 AS xact_rollback,
                tup_inserted::bigint::float8 AS tup_inserted, tup_deleted::bigint::float8 AS tup_deleted,
                tup_returned::bigint::float8 AS tup_returned, tup_fetched::bigint::float8 AS tup_fetched,
                active_time, session_time, idle_in_transaction_time, sessions::bigint::float8 AS sessions
           FROM pg_stat_database WHERE datname = $1`,
        [target.database],
      );
      return rows[0] ?? null;
    });
  }

  /** The server's version and the settings that decide commit cost. */
  async describe() {
    return withClient(this.server, this.server.adminDatabase, async (client) => {
      const { rows } = await client.query(
        `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
                current_setting('synchronous_commit') AS synchronous_commit, current_setting('shared_buffers') AS shared_buffers,
                current_setting('wal_level') AS wal_level`,
      );
      return rows[0];
    });
  }
}
