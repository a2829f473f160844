/**
 * A Connection (db/types.ts) over a PGlite instance: the one the driver opened
 * for a pglite: URL, or one the application already holds (borrowed.ts).
 *
 * - A statement runs synchronously in this thread and cannot be interrupted:
 *   a run stops between statements.
 * - Errors keep PGlite's DatabaseError (SQLSTATE in `code`, `position`,
 *   `internalPosition`, `internalQuery`, `where`, …), which db/errors.ts reads;
 *   anything else PGlite throws means the instance is dead (`lost`).
 */
import type { PGlite, QueryOptions } from '@electric-sql/pglite';
import { ConnectionError } from '../../core/errors.js';
import { pgErrorFields } from '../errors.js';
import type { Connection, Notice, Queryable, Row, ServerInfo } from '../types.js';
import { collect, copyFromBlob, PgliteRefusal, refuseCopyFromStdin } from './copy.js';

type Runner = Pick<PGlite, 'query' | 'exec'>;

/** int8 as text, like the interface promises (PGlite would give a number, or a BigInt past 2^53). */
export const PARSERS: NonNullable<QueryOptions['parsers']> = { 20: (value: string) => value };

export class PgliteConnection implements Connection {
  readonly scheme = 'pglite';
  readonly interruptible = false;
  /** In-process: there is no round trip to save. */
  readonly pipelining = false;
  lost = false;
  server!: ServerInfo;
  private closed = false;
  private readonly options: QueryOptions;

  /**
   * `end` runs once, at close(): it closes the instance the driver opened, or gives a borrowed one
   * back as it was found. It must not throw.
   */
  constructor(
    private readonly db: PGlite,
    readonly displayUrl: string,
    onNotice: ((notice: Notice) => void) | undefined,
    private readonly end: () => Promise<void>,
  ) {
    // Without a handler PGlite drops notices (it prints them only in debug mode, which is never set here).
    this.options = {
      parsers: PARSERS,
      ...(onNotice
        ? { onNotice: (n) => onNotice({ severity: n.severity ?? 'NOTICE', message: n.message ?? '', detail: n.detail, hint: n.hint, where: n.where }) }
        : {}),
    };
  }

  async init(): Promise<void> {
    await this.query(`SELECT set_config('application_name', 'pgpair', false)`);
    const [row] = await this.query<{ num: number; version: string; database: string; user: string; schema: string | null; pid: number }>(
      `SELECT current_setting('server_version_num')::int AS num, version() AS version, current_database() AS database,
              current_user AS "user", current_schema() AS schema, pg_backend_pid() AS pid`,
    );
    this.server = { versionNum: row!.num, version: row!.version, database: row!.database, user: row!.user, schema: row!.schema, backendPid: row!.pid };
  }

  /** Every call goes through here: PostgreSQL errors pass unchanged; anything else means PGlite itself failed. */
  private async run<T>(fn: (db: Runner) => Promise<T>): Promise<T> {
    if (this.lost || this.closed || this.db.closed) throw this.lostError();
    // PGlite answers through promises that settle without ever returning to the event loop: without
    // this turn, a SIGINT handler (and any timer) would wait until the whole run is over.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.lost || this.closed || this.db.closed) throw this.lostError();
    try {
      return await fn(this.db);
    } catch (error) {
      if (pgErrorFields(error)) throw error;
      this.lost = true;
      throw this.lostError(error instanceof Error ? error.message || error.name : String(error));
    }
  }

  private lostError(detail?: string): ConnectionError {
    if (this.closed && !detail) return new ConnectionError(this.displayUrl, `The embedded database ${this.displayUrl} was already closed.`);
    if (this.db.closed && !detail) {
      this.lost = true;
      return new ConnectionError(this.displayUrl, `The embedded database ${this.displayUrl} was closed while pgpair was using it; run pgpair status to see where it stands.`);
    }
    return new ConnectionError(
      this.displayUrl,
      `The embedded database ${this.displayUrl} stopped working${detail ? ` (${detail.replace(/\.$/, '')})` : ''}. What was in progress is rolled back when it is next opened; run pgpair status to see where it stands.`,
    );
  }

  async query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    refuseCopyFromStdin(text);
    return this.run(async (db) => (await db.query<T>(text, params as unknown[], this.options)).rows);
  }

  async exec(text: string): Promise<void> {
    refuseCopyFromStdin(text);
    await this.run((db) => db.exec(text, this.options));
  }

  /** PGlite reads COPY data from a blob attached to the query (copy.ts). */
  async copyFrom(statement: string, data: AsyncIterable<string | Uint8Array> | string): Promise<void> {
    const rewritten = copyFromBlob(statement);
    const blob = await collect(data);
    try {
      await this.run((db) => db.query(rewritten.text, [], { ...this.options, blob }));
    } catch (error) {
      const e = error as { position?: unknown };
      if (pgErrorFields(error) && typeof e.position === 'string') e.position = String(rewritten.position(Number(e.position)));
      throw error;
    }
  }

  /**
   * BEGIN … COMMIT on the session, as the server driver does. (PGlite's own
   * transaction() holds a mutex: a query made outside `tx` while it runs would
   * wait forever.)
   */
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    await this.exec('BEGIN');
    let result: T;
    try {
      result = await fn(this);
    } catch (error) {
      if (!this.lost && this.db.isInTransaction()) await this.run((db) => db.exec('ROLLBACK')).catch(() => {});
      throw error;
    }
    const [commit] = await this.run((db) => db.exec('COMMIT', this.options));
    if (commit?.command === 'ROLLBACK') {
      throw new PgliteRefusal('the transaction was rolled back instead of committed, after an error that was caught', '25P02', undefined, undefined);
    }
    return result;
  }

  /** A statement runs synchronously in this thread and cannot be interrupted; a run stops between statements. */
  async cancel(): Promise<void> {}
  /** One session only: nothing else can hold a lock it waits for. */
  async lockWait(): Promise<null> {
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.end().catch(() => {});
  }
}
