/**
 * pglite:PATH and pglite:memory: an embedded PostgreSQL (PGlite) in this
 * process. PGlite is single-user: a directory can be open in one process at a
 * time, so a lock file next to the data refuses a second process with a clear
 * error instead of letting two of them corrupt it.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { ConnectionError } from '../errors.js';
import type { Connection, ConnectOptions, Driver, Queryable, Row, ServerInfo } from './types.js';


function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock file beside the data directory (`DIR.lock`; inside it would
 * disturb initdb), replacing one left by a process that is gone.
 */
async function lockDirectory(dir: string, display: string): Promise<() => Promise<void>> {
  const path = `${dir}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new ConnectionError(
          display,
          `The embedded database ${display} is in use by another process (pid ${pid}). PGlite serves one process at a time: wait for it to finish, or use a PostgreSQL server for concurrent runs.`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new ConnectionError(display, `Could not lock the embedded database ${display}; remove ${path} if no pgpair process is running.`);
}

async function collect(data: AsyncIterable<string> | string): Promise<string> {
  if (typeof data === 'string') return data;
  let text = '';
  for await (const chunk of data) text += chunk;
  return text;
}

type NoticeOption = { onNotice?: (notice: PgliteNotice) => void };
interface PgliteNotice {
  severity?: string;
  message?: string;
  detail?: string;
  hint?: string;
  where?: string;
}

/** PGlite takes a notice handler per query, so every call carries it. */
function noticeOption(options: ConnectOptions): NoticeOption {
  const sink = options.onNotice;
  if (!sink) return {};
  return {
    onNotice: (n) => sink({ severity: n.severity ?? 'NOTICE', message: n.message ?? '', detail: n.detail, hint: n.hint, where: n.where }),
  };
}

function queryable(target: Pick<PGlite, 'query' | 'exec'>, notices: NoticeOption): Queryable {
  return {
    async query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const result = await target.query<T>(text, params as unknown[], notices);
      return result.rows;
    },
    async exec(text: string): Promise<void> {
      await target.exec(text, notices);
    },
    async copyFrom(statement: string, data: AsyncIterable<string> | string): Promise<void> {
      // PGlite reads COPY data from an attached blob rather than the wire protocol.
      const rewritten = statement.replace(/\bFROM\s+STDIN\b/i, `FROM '/dev/blob'`);
      const blob = new Blob([await collect(data)]);
      await target.query(rewritten, [], { ...notices, blob });
    },
  };
}

class PgliteConnection implements Connection {
  readonly scheme = 'pglite';
  readonly lost = false;
  server!: ServerInfo;
  private readonly q: Queryable;

  constructor(
    private readonly db: PGlite,
    readonly displayUrl: string,
    private readonly unlock: () => Promise<void>,
    private readonly notices: NoticeOption,
  ) {
    this.q = queryable(db, notices);
  }

  async init(): Promise<void> {
    const [row] = await this.q.query<{ num: number; version: string; database: string; user: string; schema: string | null; pid: number }>(
      `SELECT current_setting('server_version_num')::int AS num, version() AS version, current_database() AS database,
              current_user AS "user", current_schema() AS schema, pg_backend_pid() AS pid`,
    );
    this.server = { versionNum: row!.num, version: row!.version, database: row!.database, user: row!.user, schema: row!.schema, backendPid: row!.pid };
  }

  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]> {
    return this.q.query<T>(text, params);
  }
  exec(text: string): Promise<void> {
    return this.q.exec(text);
  }
  copyFrom(statement: string, data: AsyncIterable<string> | string): Promise<void> {
    return this.q.copyFrom(statement, data);
  }
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(queryable(tx, this.notices)));
  }
  async close(): Promise<void> {
    try {
      if (!this.db.closed) await this.db.close();
    } catch {
      // best effort
    } finally {
      await this.unlock();
    }
  }
}

export const pgliteDriver: Driver = {
  schemes: ['pglite'],
  async connect(options: ConnectOptions): Promise<Connection> {
    const target = options.url.replace(/^pglite:(\/\/)?/i, '');
    const memory = target === '' || target === 'memory' || target === ':memory:';
    const display = memory ? 'pglite:memory' : `pglite:${target}`;
    let unlock = async () => {};
    let dataDir: string | undefined;
    if (!memory) {
      dataDir = resolve(target);
      try {
        await mkdir(dirname(dataDir), { recursive: true });
      } catch (error) {
        throw new ConnectionError(display, `Cannot create the embedded database directory ${target}: ${(error as Error).message}.`);
      }
      unlock = await lockDirectory(dataDir, display);
    }
    let db: PGlite;
    try {
      const { PGlite } = await import('@electric-sql/pglite');
      db = await PGlite.create(dataDir);
    } catch (error) {
      await unlock();
      throw new ConnectionError(display, `Cannot open the embedded database ${display}: ${(error as Error).message}. If the directory holds something else, point pglite: at an empty directory.`);
    }
    const connection = new PgliteConnection(db, display, unlock, noticeOption(options));
    await connection.init();
    return connection;
  },
};

