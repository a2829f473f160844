/**
 * postgres:// and postgresql:// through postgres.js, on one dedicated
 * connection (max: 1) that is never silently replaced: session state such as
 * the advisory lock must not vanish behind a transparent reconnect.
 */
import { Writable } from 'node:stream';
import postgres from 'postgres';
import { ConfigError, ConnectionError } from '../../core/errors.js';
import { Dialer } from '../dial.js';
import { copyFrom, refuseUnexpectedCopy } from './copy.js';
import { connectFailure, connectionFailure, scrub } from './failures.js';
import { pgErrorFields } from '../errors.js';
import { inlineParams } from '../../core/literal.js';
import type { Connection, ConnectOptions, Driver, LockWait, Queryable, Row, ServerInfo } from '../types.js';
import { LOCK_WAIT_SQL, lockWaitFromRow } from '../lock-wait.js';
import { formatTarget, postgresTarget } from '../target.js';
import { maskUrl, splitSchema, urlPassword } from '../url.js';
import { quoteIdent } from '../../core/ident.js';

export type Sql = postgres.Sql<Record<string, never>>;

/** pgpair's session on a postgres.js Sql; exported for the borrowed session (postgres/borrowed.ts), not beyond lib/db. */
export class PostgresConnection implements Connection {
  readonly scheme = 'postgres';
  readonly pipelining = true;
  readonly interruptible = true;
  lost = false;
  server!: ServerInfo;
  protected closing = false;
  protected connected = false;
  private cancelling: Promise<void> | null = null;

  constructor(
    protected readonly sql: Sql,
    private readonly url: string,
    readonly displayUrl: string,
    private readonly secret: string | null,
    /** A dialer for one more connection to the host this session is on (for cancel). */
    private readonly sideDialer: () => Dialer,
  ) {}

  /** Whether the socket under the session is still there; a borrowed session checks its pool's connection (see BorrowedConnection). */
  protected alive(): boolean {
    return true;
  }

  markClosed(): void {
    if (this.connected && !this.closing) this.lost = true;
  }

  async init(): Promise<void> {
    const rows = await this.run(() =>
      this.sql.unsafe(
        `SELECT current_setting('server_version_num')::int AS num, version() AS version, current_database() AS database,
                current_user AS "user", current_schema() AS schema, pg_backend_pid() AS pid`,
        [],
      ),
    );
    const row = rows[0] as unknown as { num: number; version: string; database: string; user: string; schema: string | null; pid: number };
    this.connected = true;
    this.server = { versionNum: row.num, version: row.version, database: row.database, user: row.user, schema: row.schema, backendPid: row.pid };
  }

  /** Every call goes through here: a lost session fails loudly, socket errors become ConnectionErrors. */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.lost && this.connected && !this.alive()) this.lost = true;
    if (this.lost) throw this.lostError();
    try {
      return await fn();
    } catch (error) {
      // Before the session is ready, connect() says what went wrong.
      if (!this.connected) throw error;
      const failure = connectionFailure(error, this.secret);
      if (failure) {
        this.lost = true;
        throw this.lostError(failure);
      }
      throw error;
    }
  }

  protected lostError(detail?: string): ConnectionError {
    return new ConnectionError(
      this.displayUrl,
      `Lost the connection to ${this.displayUrl}${detail ? ` (${detail.replace(/\.$/, '')})` : ''}. The server rolled back any transaction in progress and released the migration lock; run pgpair status to see where the database stands.`,
    );
  }

  private queryable(target: Sql): Queryable {
    return {
      query: <T extends Row = Row>(text: string, params: readonly unknown[] = []) =>
        // pgpair's own statements, their values written in as literals and sent as simple queries: postgres.js
        // pipelines those, where it would describe a statement with parameters first and wait (lib/literal.ts).
        this.run(async () => {
          const result: unknown = await target.unsafe(params.length > 0 ? inlineParams(text, params) : text);
          // A COPY … FROM STDIN here would hand back a stream as the "rows" and leave the session waiting for data.
          if (result instanceof Writable) throw await refuseUnexpectedCopy(result);
          return result as T[];
        }),
      exec: (text: string) =>
        this.run(async () => {
          const result: unknown = await target.unsafe(text);
          if (result instanceof Writable) throw await refuseUnexpectedCopy(result);
        }),
      copyFrom: (statement: string, data: AsyncIterable<string | Uint8Array> | string) => this.run(() => copyFrom(target, statement, data)),
    };
  }

  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]> {
    return this.queryable(this.sql).query<T>(text, params);
  }
  exec(text: string): Promise<void> {
    return this.queryable(this.sql).exec(text);
  }
  copyFrom(statement: string, data: AsyncIterable<string | Uint8Array> | string): Promise<void> {
    return this.queryable(this.sql).copyFrom(statement, data);
  }

  /**
   * BEGIN/COMMIT on the one connection, rather than sql.begin(): when the
   * server ends the session mid-transaction, sql.begin() writes its ROLLBACK
   * to the dead socket and postgres.js crashes the process with an uncaught
   * TypeError (postgres.js #1208/#1154). Here a lost session is never written to.
   */
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const q = this.queryable(this.sql);
    // The first server error of a statement sent through tx: it aborted the transaction, even when fn caught it.
    let aborted: unknown = null;
    const seen = <R>(pending: Promise<R>): Promise<R> => {
      pending.catch((error: unknown) => {
        if (aborted === null && pgErrorFields(error)) aborted = error;
      });
      return pending;
    };
    const tx: Queryable = {
      query: (text, params) => seen(q.query(text, params)),
      exec: (text) => seen(q.exec(text)),
      copyFrom: (statement, data) => seen(q.copyFrom(statement, data)),
    };
    // Not awaited: BEGIN travels with the first statements. It can only fail with the connection, and then so do they.
    const begin = q.exec('BEGIN');
    begin.catch(() => {});
    let result: T;
    try {
      result = await fn(tx);
      await begin;
    } catch (error) {
      if (!this.lost) {
        try {
          await q.exec('ROLLBACK');
        } catch {
          // The original error matters more; a failed ROLLBACK means the session is gone anyway.
        }
      }
      throw error;
    }
    // After an error that fn caught (or left pending), the server answers COMMIT with ROLLBACK and no
    // error: nothing was committed, so the call rejects, with the error that aborted the transaction.
    const commit = (await this.run(() => this.sql.unsafe('COMMIT'))) as unknown as { command?: string };
    if (commit.command === 'ROLLBACK') {
      throw aborted ?? Object.assign(new Error('the transaction was rolled back instead of committed, after an error that was caught'), { code: '25P02', severity: 'ERROR' });
    }
    return result;
  }

  /**
   * Asks the server to cancel the statement running on this session, from a second short-lived
   * connection to the same host. Calls while one is on its way share it: a second cancel could
   * arrive after the first had done its work and cancel what runs next (the rollback, the record
   * of the failure).
   */
  cancel(): Promise<void> {
    if (this.lost || !this.connected) return Promise.resolve();
    this.cancelling ??= this.cancelOnServer().finally(() => {
      this.cancelling = null;
    });
    return this.cancelling;
  }

  protected async cancelOnServer(): Promise<void> {
    const dialer = this.sideDialer();
    const side = postgres(this.url, {
      max: 1,
      connect_timeout: 6,
      onnotice: () => {},
      fetch_types: false,
      connection: { application_name: 'pgpair-cancel' },
      ...({ socket: () => dialer.open() } as object),
    });
    try {
      await Promise.race([side.unsafe('SELECT pg_cancel_backend($1)', [this.server.backendPid]), dialer.failed]);
    } catch {
      // Best effort: if the cancel cannot be sent, the statement simply runs to its end.
    } finally {
      dialer.ready();
      await side.end({ timeout: 1 }).catch(() => {});
    }
  }

  async lockWait(): Promise<LockWait | null> {
    if (this.lost || !this.connected) return null;
    const side = this.sideSql('pgpair-watch');
    try {
      const rows = await side.unsafe(LOCK_WAIT_SQL, [this.server.backendPid]);
      return lockWaitFromRow(rows[0]);
    } catch {
      return null;
    } finally {
      await side.end({ timeout: 1 }).catch(() => {});
    }
  }

  /** A short-lived second connection to the same database, for looking at this session from outside. */
  protected sideSql(applicationName: string): Sql {
    return postgres(this.url, { max: 1, connect_timeout: 5, onnotice: () => {}, fetch_types: false, prepare: false, connection: { application_name: applicationName } }) as unknown as Sql;
  }

  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.sql.end({ timeout: 5 });
    } catch {
      // Closing is best effort; the server ends the session (and its lock) when the socket goes.
    }
  }
}

export const postgresDriver: Driver = {
  schemes: ['postgres', 'postgresql'],
  /**
   * One attempt per host, over sockets pgpair opens itself (lib/db/dial.ts):
   * it ends within `connectTimeout` whatever the peer does, and at once when
   * `signal` is aborted.
   */
  async connect(options: ConnectOptions): Promise<Connection> {
    // A fleet target's `?schema=NAME` (lib/db/url.ts) is pgpair's, not the driver's: the session starts with that search_path.
    const { url, schema } = splitSchema(options.url);
    const secret = urlPassword(url);
    const target = postgresTarget(url);
    let connection: PostgresConnection | null = null;
    let dialer: Dialer | null = null;
    let sql: Sql;
    const timeoutSeconds = options.connectTimeout ?? 10;
    try {
      if (!target) throw new Error('the URL cannot be read');
      sql = postgres(url, {
        max: 1,
        idle_timeout: 0,
        max_lifetime: null,
        // pgpair's own clock (the dialer) covers the whole attempt; this one only backs it up.
        connect_timeout: timeoutSeconds > 0 && (timeoutSeconds + 1) * 1000 <= 2 ** 31 - 1 ? timeoutSeconds + 1 : 0,
        prepare: false,
        fetch_types: false,
        onnotice: (notice) =>
          options.onNotice?.({
            severity: String(notice.severity ?? 'NOTICE'),
            message: String(notice.message ?? ''),
            detail: notice.detail as string | undefined,
            hint: notice.hint as string | undefined,
            where: notice.where as string | undefined,
          }),
        onclose: () => connection?.markClosed(),
        connection: { application_name: 'pgpair', ...(schema !== null ? { search_path: quoteIdent(schema) } : {}) },
        // Undocumented in postgres.js's types, but part of its API: a function that returns the connected socket.
        ...({ socket: () => dialer!.open() } as object),
      }) as unknown as Sql;
    } catch (error) {
      const message = scrub(error instanceof Error ? error.message : String(error), secret);
      throw new ConfigError(`Invalid database URL ${maskUrl(options.url)}: ${message}. Use postgres://user:password@host:port/database.`);
    }
    // User and database as postgres.js sends them; hosts as the dialer reaches them.
    const parsed = sql.options as unknown as { user: string; database: string; ssl: unknown; sslnegotiation: unknown };
    const displayUrl = `${formatTarget({ user: parsed.user, database: parsed.database, hosts: target.hosts })}${schema !== null ? `?schema=${schema}` : ''}`;
    const sslRequestFirst = Boolean(parsed.ssl) && parsed.sslnegotiation !== 'direct';
    // postgres.js goes on without SSL after a refusal only under sslmode=prefer.
    const sslRequired = Boolean(parsed.ssl) && parsed.ssl !== 'prefer';
    const mainDialer = new Dialer({
      hosts: target.hosts,
      display: displayUrl,
      timeoutMs: timeoutSeconds * 1000,
      signal: options.signal,
      sslRequestFirst,
      sslRequired,
      // Statements queued behind a lost session are failed, never sent on a new one.
      onRedialAfterReady: () => void sql.end({ timeout: 0 }).catch(() => {}),
    });
    dialer = mainDialer;
    const sideDialer = () =>
      new Dialer({ hosts: mainDialer.connectedHost ? [mainDialer.connectedHost] : target.hosts, display: displayUrl, timeoutMs: 5000, sslRequestFirst, sslRequired, onRedialAfterReady: () => {} });
    connection = new PostgresConnection(sql, url, displayUrl, secret, sideDialer);
    const ready = connection.init();
    ready.catch(() => {});
    try {
      await Promise.race([ready, mainDialer.failed]);
      mainDialer.ready();
    } catch (error) {
      mainDialer.fail(connectFailure(error, displayUrl, secret, mainDialer.elapsedMs()));
      await sql.end({ timeout: 0 }).catch(() => {});
      throw await mainDialer.failed.catch((failure: unknown) => failure);
    }
    if (schema !== null && connection.server.schema !== schema) {
      await connection.close();
      throw new ConfigError(`Schema ${quoteIdent(schema)} does not exist in ${displayUrl.replace(/\?schema=.*$/, '')} (or ${connection.server.user} may not use it): create it first, or correct schema= in the target's URL.`);
    }
    return connection;
  },
};
