/**
 * The driver boundary. Everything above lib/db/ talks to a database through
 * these interfaces only; one module per URL scheme implements them.
 */
import type { PgErrorFields } from '../core/errors.js';

export type Row = Record<string, unknown>;

export interface Queryable {
  /**
   * Runs exactly one of pgpair's own statements with its `$n` parameters and
   * returns its rows. The postgres driver writes the values in as literals and
   * sends a simple query (lib/literal.ts: it pipelines); PGlite binds them. Values come back as the driver decodes them: text,
   * booleans and integers as JS values, bigint and numeric as strings,
   * timestamps as Date. Other types (arrays, for one) come back as each driver
   * decodes them, which differs: pgpair's statements do not select them.
   * A `COPY … FROM STDIN` is refused here (with an error), never left waiting.
   */
  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * Runs SQL text that may hold several statements (simple protocol, no
   * parameters), as psql would send a file. Error positions refer to `text`.
   * A `COPY … FROM STDIN` in it is refused (it needs copyFrom), never left waiting.
   */
  exec(text: string): Promise<void>;
  /**
   * Runs one `COPY … FROM STDIN` statement and streams `data` (the lines that
   * psql would send, without the terminating `\.`; byte pieces are UTF-8) to
   * it, taking each piece only when the previous one is on its way. Resolves
   * when the server has accepted all of it; rejects with the server's error
   * otherwise, or with the error of `data` itself when reading it failed.
   */
  copyFrom(statement: string, data: AsyncIterable<string | Uint8Array> | string): Promise<void>;
}

export interface Notice {
  severity: string;
  message: string;
  detail?: string | undefined;
  hint?: string | undefined;
  where?: string | undefined;
}

export interface ConnectOptions {
  url: string;
  /** Receives NOTICE/WARNING/INFO messages. Without it they are dropped, never printed. */
  onNotice?: (notice: Notice) => void;
  /** Seconds to wait for a connection. */
  connectTimeout?: number;
  /**
   * The command only reads (status, verify, --sql): the driver must not create
   * a database. For pglite:PATH, a database that does not exist yet is served as
   * an empty in-memory one (and said so through onNotice); nothing is written.
   */
  readOnly?: boolean;
  /** Aborting it ends a connection attempt in progress at once (with an InterruptedError). */
  signal?: AbortSignal;
}

export interface ServerInfo {
  /** server_version_num, e.g. 150004. */
  versionNum: number;
  version: string;
  database: string;
  user: string;
  schema: string | null;
  backendPid: number;
}

/**
 * One dedicated session. Session state (the advisory lock, SET) lives as long
 * as the connection; when the connection is lost, `lost` becomes true and every
 * later call rejects with a ConnectionError instead of silently reconnecting.
 */
export interface Connection extends Queryable {
  readonly scheme: string;
  /** The URL with any password masked: safe to print. */
  readonly displayUrl: string;
  readonly server: ServerInfo;
  readonly lost: boolean;
  /**
   * True when queries issued without waiting are sent at once and answered in
   * order (a network round trip saved per query); false for in-process drivers.
   */
  readonly pipelining: boolean;
  /**
   * True when a statement in progress can be stopped: by cancel() and by
   * statement_timeout. False for an in-process database (PGlite), which runs
   * each statement to its end in this thread.
   */
  readonly interruptible: boolean;
  /**
   * Runs `fn` inside BEGIN … COMMIT; rolls back when it throws and rethrows.
   * Queries made through `tx` belong to the transaction. When a statement in it
   * failed and fn did not throw (it caught the error, or left the statement's
   * promise to the caller), COMMIT can only roll back: the call then rejects
   * rather than resolve as though it had committed, with the failed statement's
   * own error (postgres) or a 25P02 error saying so (PGlite, for now).
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Asks the server to cancel the statement in progress (used on SIGINT/SIGTERM); never throws. No-op where unsupported. */
  cancel(): Promise<void>;
  /**
   * What this session's statement in progress waits for, read from a second short-lived
   * connection: the lock it waits for and the sessions that hold it. null when it waits for no
   * lock, when that cannot be read, or where there is no second session (PGlite). Never throws.
   */
  lockWait(): Promise<LockWait | null>;
  /** Closes the session; never throws. */
  close(): Promise<void>;
}

/** A driver-neutral view of an error a driver threw, or null when it is not a PostgreSQL error. */
export type ErrorFieldsReader = (error: unknown) => PgErrorFields | null;

export interface Driver {
  /** URL schemes it serves, e.g. ['postgres', 'postgresql']. */
  schemes: string[];
  connect(options: ConnectOptions): Promise<Connection>;
}

/** A statement waiting for a lock (Connection.lockWait). */
export interface LockWait {
  /** The relation waited for (schema-qualified as regclass prints it), or null for another kind of lock. */
  relation: string | null;
  /** The lock mode asked for, e.g. AccessExclusiveLock; the lock type when it is not a relation lock. */
  mode: string | null;
  locktype: string | null;
  /** The sessions blocking it (pg_blocking_pids), without their query texts (they may hold secrets). */
  blockers: { pid: number; applicationName: string | null; user: string | null; state: string | null; since: string | null }[];
}
