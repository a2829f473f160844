/**
 * A session of the application's own postgres.js pool, for one call of a migrator
 * (lib/run/lend.ts): pgpair opens no connection of its own for it and never ends the pool.
 */
import postgres from 'postgres';
import { PgpairError } from '../../core/errors.js';
import { connectFailure } from './failures.js';
import { PostgresConnection, type Sql } from './connection.js';
import { formatTarget } from '../target.js';
import type { Connection } from '../types.js';

/** The part of a postgres.js pool connection that BorrowedConnection looks at (postgres.js 3.4, lib/connection.js). */
interface PoolConnection {
  reserved: unknown;
}

/**
 * A session reserved from the application's own postgres.js pool (`sql.reserve()`), for one call.
 * close() gives it back to the pool and never ends the pool.
 *
 * postgres.js crashes the process (an uncaught TypeError) when a reserved connection whose
 * socket closed is used again or given back (upstream #1208, #1154): so before every statement
 * and before giving it back, the pool's connection is checked. postgres.js sets its `reserved`
 * to null when the socket closes; while it is ours it holds the function reserve() put there,
 * which the first statement's `onexecute` hands over. A connection found closed is never touched
 * again: the pool opens a new one in its place when it needs one.
 */
class BorrowedConnection extends PostgresConnection {
  private pool: PoolConnection | null = null;
  private mark: unknown = null;

  constructor(
    private readonly reservedSql: postgres.ReservedSql<Record<string, never>>,
    private readonly app: Sql,
    displayUrl: string,
    secret: string | null,
  ) {
    super(reservedSql as unknown as Sql, '', displayUrl, secret, () => {
      throw new Error('a borrowed session dials no host itself');
    });
  }

  /** The first statement, sent with postgres.js's onexecute to learn which pool connection it went to. */
  async attach(): Promise<void> {
    await this.reservedSql.unsafe('SELECT 1', [], {
      onexecute: (connection: PoolConnection) => {
        this.pool = connection;
        this.mark = connection.reserved;
        return true;
      },
    } as never);
    if (!this.pool || typeof this.mark !== 'function') throw new Error('this postgres.js version does not say which connection a reserved session uses');
  }

  protected override alive(): boolean {
    return this.pool !== null && this.pool.reserved === this.mark;
  }

  /** The application's connection settings, for a second, short connection to the same server (never its pool). */
  protected override sideSql(applicationName: string): Sql {
    const o = this.app.options as unknown as { host: string[]; port: number[]; path?: string; user: string; pass?: string | null; database: string; ssl: unknown };
    return postgres({
      host: o.host,
      port: o.port,
      ...(o.path ? { path: o.path } : {}),
      user: o.user,
      ...(o.pass ? { pass: o.pass } : {}),
      database: o.database,
      ssl: o.ssl as never,
      max: 1,
      connect_timeout: 5,
      onnotice: () => {},
      fetch_types: false,
      prepare: false,
      connection: { application_name: applicationName },
    } as never) as unknown as Sql;
  }

  protected override async cancelOnServer(): Promise<void> {
    const side = this.sideSql('pgpair-cancel');
    try {
      await side.unsafe('SELECT pg_cancel_backend($1)', [this.server.backendPid]);
    } catch {
      // Best effort, as for a session of pgpair's own.
    } finally {
      await side.end({ timeout: 1 }).catch(() => {});
    }
  }

  /** Gives the session back to the pool, unless its connection is gone (then the pool replaces it). Never ends the pool. */
  override async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.lost && this.alive()) this.reservedSql.release();
  }
}

/**
 * A Connection over one session reserved from an application's postgres.js pool (see
 * BorrowedConnection): close() releases it to the pool. Notices on it go to the pool's own
 * `onnotice` (postgres.js prints them to stdout when the application gave none); pgpair leaves
 * that as the application set it.
 */
// biome-ignore lint/suspicious/noExplicitAny: postgres.Sql's type map is invariant; any map an application declares must be accepted
export async function borrowConnection(app: postgres.Sql<any>): Promise<Connection> {
  const o = app.options as unknown as { host: string[]; port: number[]; user: string; pass?: string | null; database: string };
  const hosts = o.host.map((host, index) => ({ host, port: Number(o.port[index] ?? o.port[0] ?? 5432) }));
  const displayUrl = formatTarget({ user: o.user, database: o.database, hosts });
  const secret = typeof o.pass === 'string' && o.pass !== '' ? o.pass : null;
  let reserved: postgres.ReservedSql<Record<string, never>>;
  try {
    reserved = (await app.reserve()) as unknown as postgres.ReservedSql<Record<string, never>>;
  } catch (error) {
    throw connectFailure(error, displayUrl, secret, 0);
  }
  const connection = new BorrowedConnection(reserved, app as unknown as Sql, displayUrl, secret);
  try {
    await connection.attach();
    await connection.init();
  } catch (error) {
    // Given back only when its socket is still there (see BorrowedConnection).
    await connection.close();
    if (error instanceof PgpairError) throw error;
    throw connectFailure(error, displayUrl, secret, 0);
  }
  return connection;
}
