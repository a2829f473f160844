/**
 * pglite:PATH and pglite:memory: an embedded PostgreSQL (PGlite, PostgreSQL
 * compiled to WebAssembly) inside this process; nothing to install or start.
 *
 * Imported only for pglite: URLs (lib/db/index.ts), and PGlite itself only
 * when a connection is opened: it costs about a second to load.
 *
 * What this module adds to PGlite, and why:
 * - PGlite serves one process at a time, and two processes on one data
 *   directory corrupt it. A lock file beside the directory (DIR.lock) refuses a
 *   second process with an error naming the pid that holds it.
 * - PGlite opens whatever directory it is given, and writes a new database
 *   into one without PG_VERSION. pgpair creates, clears or re-initialises only
 *   a directory it can prove it made, and a read-only command (ConnectOptions
 *   .readOnly) never creates one: see pglite-directory.ts. Everything else is
 *   refused before anything is written, a lock file included.
 * - A statement runs synchronously in this thread, so a statement that waits
 *   for input never returns: `COPY … FROM STDIN` must come through copyFrom
 *   (PGlite reads COPY data from an attached blob), never through exec/query.
 * - Errors keep PGlite's DatabaseError (SQLSTATE in `code`, `position`,
 *   `internalPosition`, `internalQuery`, `where`, …), which db/errors.ts reads;
 *   anything else PGlite throws means the instance is dead (`lost`).
 */
import { unlinkSync } from 'node:fs';
import { link, mkdir, readFile, realpath, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { PGlite, QueryOptions } from '@electric-sql/pglite';
import { ConfigError, ConnectionError, EmbeddedDirectoryError, PgpairError } from '../core/errors.js';
import { inspectDirectory, markReady, prepareNewDatabase, type Found, type Marker } from './pglite-directory.js';
import { pgErrorFields } from './errors.js';
import type { Connection, ConnectOptions, Driver, Notice, Queryable, Row, ServerInfo } from './types.js';

type Target = { memory: true; display: string } | { memory: false; display: string; dir: string };

function parseTarget(url: string): Target {
  const rest = url.replace(/^pglite:(\/\/)?/i, '');
  if (rest === 'memory' || rest === ':memory:') return { memory: true, display: 'pglite:memory' };
  if (rest === '') throw new ConfigError(`The URL "${url}" names no database: use pglite:PATH (a directory, created if missing) or pglite:memory.`);
  // No shell expands ~ after "pglite:": do it here, or a directory named "~" would appear in the working directory.
  if (rest === '~' || rest.startsWith('~/')) return { memory: false, display: `pglite:${rest}`, dir: resolve(homedir(), rest.slice(2)) };
  if (rest.startsWith('~')) throw new ConfigError(`The URL "${url}" starts with ~ followed by a name: pgpair expands only ~ and ~/ (your home directory); write the path out.`);
  return { memory: false, display: `pglite:${rest}`, dir: resolve(rest) };
}

// ---------------------------------------------------------------------------
// The directory lock

/** Directories this process has open: a pid in a lock file equal to ours is stale unless listed here. */
const openHere = new Set<string>();

interface LockInfo {
  pid: number;
  host: string | null;
  /** Process start time (Linux: /proc/PID/stat field 22), to tell a reused pid from the holder. */
  start: string | null;
}

async function processStart(pid: number): Promise<string | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 is "(comm)" and may hold spaces; count fields after its closing parenthesis.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function parseLock(text: string): LockInfo | null {
  try {
    const value = JSON.parse(text) as Partial<LockInfo>;
    if (typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 0) {
      return { pid: value.pid, host: typeof value.host === 'string' ? value.host : null, start: typeof value.start === 'string' ? value.start : null };
    }
  } catch {
    // not a lock of pgpair's (it writes them whole): see lockDirectory
  }
  return null;
}

/** Whether the process that wrote `lock` still runs (on this machine: other hosts cannot be checked and count as running). */
async function holderRunning(lock: LockInfo, dir: string): Promise<boolean> {
  if (lock.host !== null && lock.host !== hostname()) return true;
  if (lock.pid === process.pid) return openHere.has(dir);
  try {
    process.kill(lock.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid runs; if it started at another time than the writer did, it was reused.
  const start = lock.start === null ? null : await processStart(lock.pid);
  return start === null || start === lock.start;
}

/**
 * Takes DIR.lock (beside the directory: PGlite copies a fresh database into
 * DIR, and a file of ours inside would be in its way). The file is written
 * under a temporary name and linked into place, so that it never exists
 * half-written (so a file there that is not a lock is not pgpair's, and is
 * refused, never replaced); a stale one (its process is gone) is moved aside atomically
 * and checked again before it is removed, so that two processes replacing
 * the same stale lock cannot both win.
 */
async function lockDirectory(dir: string, display: string): Promise<() => Promise<void>> {
  const path = `${dir}.lock`;
  const mine: LockInfo = { pid: process.pid, host: hostname(), start: await processStart(process.pid) };
  const text = `${JSON.stringify(mine)}\n`;
  const unique = `${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}`;
  const temporary = `${path}.${unique}.tmp`;
  try {
    await writeFile(temporary, text, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    throw new ConnectionError(display, `Cannot take the lock ${path} on the embedded database ${display}: ${(error as Error).message}. pgpair needs to write beside the directory.`);
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(temporary, path);
        openHere.add(dir);
        // Removed synchronously, and on process.exit() too (a second Ctrl-C exits at once): the next run
        // would replace a stale lock, but need not.
        const remove = () => {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        };
        process.once('exit', remove);
        return async () => {
          openHere.delete(dir);
          remove();
          process.removeListener('exit', remove);
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const seen = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : ''));
      if (seen === null) continue;
      const holder = parseLock(seen);
      // pgpair links its lock into place whole: a file there that is not one is someone else's (db.lock, Cargo.lock…).
      if (!holder) {
        throw new EmbeddedDirectoryError(display, path, `${display} needs the lock file ${path} beside the directory, and a file that pgpair did not write is there. Nothing was changed: rename that file, or point pglite: at another path.`);
      }
      if (await holderRunning(holder, dir)) {
        const who = holder.pid === process.pid ? 'this process (it is already open here)' : `another process (pid ${holder.pid}${holder.host && holder.host !== hostname() ? ` on ${holder.host}` : ''})`;
        throw new ConnectionError(
          display,
          `The embedded database ${display} is in use by ${who}. PGlite serves one process at a time: wait for that run to finish, or use a PostgreSQL server (DATABASE_URL=postgres://…) for concurrent runs. If no such process is running, delete ${path}.`,
        );
      }
      const aside = `${path}.${unique}.stale`;
      try {
        await rename(path, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      if ((await readFile(aside, 'utf8').catch(() => null)) !== seen) {
        // Another process replaced the stale lock between our read and our rename: put its lock back.
        await link(aside, path).catch(() => {});
      }
      await rm(aside, { force: true });
    }
    throw new ConnectionError(display, `Could not take the lock ${path} on the embedded database ${display}; delete it if no pgpair process is running.`);
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// The data directory (what may be used, created or cleared: pglite-directory.ts)

/** Creates the parent of DIR; a new .pgpair/ gets a .gitignore so that the database stays out of commits. */
async function prepareParent(dir: string, display: string): Promise<void> {
  const parent = dirname(dir);
  try {
    const created = await mkdir(parent, { recursive: true });
    // Only the default location (pglite:.pgpair/dev): elsewhere the user chose the place and decides about git.
    if (created !== undefined && basename(parent) === '.pgpair') {
      await writeFile(join(parent, '.gitignore'), `# Created by pgpair: ${basename(dir)} is an embedded development database.\n*\n`, { flag: 'wx' }).catch(() => {});
    }
  } catch (error) {
    throw new ConnectionError(display, `Cannot create the directory ${parent} for the embedded database ${display}: ${(error as Error).message}.`);
  }
}

/** The path the lock is keyed on: one lock per directory, however it is reached (a symlink, another relative path…). */
async function canonicalPath(dir: string): Promise<string> {
  return realpath(dir).catch(async () => join(await realpath(dirname(dir)), basename(dir)));
}

function openFailure(display: string, dir: string, found: Found, error: unknown): ConnectionError {
  const reason = error instanceof Error ? error.message || error.name : String(error);
  if (found.kind === 'database') {
    return new ConnectionError(
      display,
      `Cannot open the embedded database ${display}: PGlite failed with "${reason}". The directory ${dir} is damaged, or was made by another PGlite version (its PG_VERSION says ${found.version || 'nothing'}). It is a development database: move it aside (mv ${dir} ${dir}.broken) and run again to start a new one.`,
    );
  }
  return new ConnectionError(display, `Cannot create the embedded database ${display} in ${dir}: PGlite failed with "${reason}". Run again: pgpair starts the creation over.`);
}

/** Why a read-only command found no database, and what makes one. */
function absentNote(display: string, found: Found): string {
  const why = found.kind === 'creating' ? 'holds no database yet (its creation was cut short, or its files were removed)' : 'does not exist yet';
  return `The embedded database ${display} ${why}: showing an empty database, and nothing was created. pgpair up creates it.`;
}

// ---------------------------------------------------------------------------
// COPY … FROM STDIN

interface Word {
  upper: string;
  start: number;
  end: number;
  depth: number;
}

/**
 * The statements of `text` (SQL, possibly several statements) as lists of
 * their bare words, skipping comments, quoted strings and identifiers and
 * dollar-quoted bodies. Enough to recognise COPY … FROM STDIN; the real
 * splitting is lib/lexer.ts's.
 */
function statementWords(text: string): Word[][] {
  const statements: Word[][] = [[]];
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '-' && text[i + 1] === '-') {
      const eol = text.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      let nest = 1;
      i += 2;
      while (i < n && nest > 0) {
        if (text[i] === '/' && text[i + 1] === '*') (nest++, (i += 2));
        else if (text[i] === '*' && text[i + 1] === '/') (nest--, (i += 2));
        else i++;
      }
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]/.test(text[i - 1] ?? '') && !/[\w$]/.test(text[i - 2] ?? '');
      i++;
      while (i < n) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text[i] === c && text[i + 1] === c) i += 2;
        else if (text[i] === c) break;
        else i++;
      }
      i++;
    } else if (c === '$' && !/[\w$]/.test(text[i - 1] ?? '') && /^\$([A-Za-z_][\w]*)?\$/.test(text.slice(i, i + 66))) {
      const tag = /^\$([A-Za-z_][\w]*)?\$/.exec(text.slice(i, i + 66))![0];
      const close = text.indexOf(tag, i + tag.length);
      i = close === -1 ? n : close + tag.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[\w$]/.test(text[i]!)) i++;
      statements[statements.length - 1]!.push({ upper: text.slice(start, i).toUpperCase(), start, end: i, depth });
    } else {
      if (c === '(') depth++;
      else if (c === ')') depth = Math.max(0, depth - 1);
      else if (c === ';') {
        statements.push([]);
        depth = 0;
      }
      i++;
    }
  }
  return statements;
}

/** The STDIN word of each `COPY … FROM STDIN` statement in `text`. */
function copyFromStdin(text: string): Word[] {
  if (!/stdin/i.test(text)) return [];
  const found: Word[] = [];
  for (const words of statementWords(text)) {
    if (words[0]?.upper !== 'COPY') continue;
    const top = words.filter((w) => w.depth === 0);
    const at = top.findIndex((w, k) => w.upper === 'STDIN' && top[k - 1]?.upper === 'FROM');
    if (at !== -1) found.push(top[at]!);
  }
  return found;
}

/** An error in the shape db/errors.ts reads, for what PGlite cannot do. */
class PgliteRefusal extends Error {
  readonly severity = 'ERROR';
  constructor(
    message: string,
    readonly code: string,
    readonly position: string | undefined,
    readonly hint: string | undefined,
  ) {
    super(message);
  }
}

/** 1-based code point position of UTF-16 `index` in `text`, as PostgreSQL counts. */
function codePointPosition(text: string, index: number): number {
  return Array.from(text.slice(0, index)).length + 1;
}

/** Refuses COPY … FROM STDIN outside copyFrom: PGlite would wait for the data forever, in this thread. */
function refuseCopyFromStdin(text: string): void {
  const stdin = copyFromStdin(text)[0];
  if (!stdin) return;
  throw new PgliteRefusal(
    'COPY … FROM STDIN needs its data sent with it, and this statement came without it',
    '0A000',
    String(codePointPosition(text, stdin.start)),
    'In a migration file, put the data lines right after the COPY statement, ended by a line holding only \\.',
  );
}

/** The COPY data as one Blob, which PGlite needs whole: its pieces are copied into it once, never joined into one string first. */
async function collect(data: AsyncIterable<string | Uint8Array> | string): Promise<Blob> {
  if (typeof data === 'string') return new Blob([data]);
  const pieces: (string | Uint8Array)[] = [];
  for await (const piece of data) pieces.push(piece);
  return new Blob(pieces);
}

// ---------------------------------------------------------------------------
// The connection

type Runner = Pick<PGlite, 'query' | 'exec'>;

/** int8 as text, like the interface promises (PGlite would give a number, or a BigInt past 2^53). */
const PARSERS: NonNullable<QueryOptions['parsers']> = { 20: (value: string) => value };

export class PgliteConnection implements Connection {
  readonly scheme = 'pglite';
  readonly interruptible = false;
  /** In-process: there is no round trip to save. */
  readonly pipelining = false;
  lost = false;
  server!: ServerInfo;
  private closed = false;
  private readonly options: QueryOptions;

  constructor(
    private readonly db: PGlite,
    readonly displayUrl: string,
    private readonly release: () => Promise<void>,
    onNotice: ((notice: Notice) => void) | undefined,
    /** False for an instance the application opened (lib/db/pglite-instance.ts): close() then leaves it open. */
    private readonly ownsInstance = true,
  ) {
    // Without a handler PGlite drops notices (it prints them only in debug mode, which is never set here).
    this.options = {
      parsers: PARSERS,
      ...(onNotice
        ? { onNotice: (n) => onNotice({ severity: n.severity ?? 'NOTICE', message: n.message ?? '', detail: n.detail, hint: n.hint, where: n.where }) }
        : {}),
    };
  }

  /** `name`: set application_name (not on an instance the application opened: that setting is the application's). */
  async init(name = true): Promise<void> {
    if (name) await this.query(`SELECT set_config('application_name', 'pgpair', false)`);
    const [row] = await this.query<{ num: number; version: string; database: string; user: string; schema: string | null; pid: number }>(
      `SELECT current_setting('server_version_num')::int AS num, version() AS version, current_database() AS database,
              current_user AS "user", current_schema() AS schema, pg_backend_pid() AS pid`,
    );
    this.server = { versionNum: row!.num, version: row!.version, database: row!.database, user: row!.user, schema: row!.schema, backendPid: row!.pid };
  }

  /** Every call goes through here: PostgreSQL errors pass unchanged; anything else means PGlite itself failed. */
  private async run<T>(fn: (db: Runner) => Promise<T>): Promise<T> {
    if (this.lost || this.closed) throw this.lostError();
    // PGlite answers through promises that settle without ever returning to the event loop: without
    // this turn, a SIGINT handler (and any timer) would wait until the whole run is over.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.lost || this.closed) throw this.lostError();
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

  /** PGlite reads COPY data from a blob attached to the query, as the file '/dev/blob'. */
  async copyFrom(statement: string, data: AsyncIterable<string | Uint8Array> | string): Promise<void> {
    const stdin = copyFromStdin(statement)[0];
    if (!stdin) throw new PgliteRefusal('copyFrom needs a COPY … FROM STDIN statement', '42601', undefined, undefined);
    const source = `'/dev/blob'`;
    const rewritten = statement.slice(0, stdin.start) + source + statement.slice(stdin.end);
    const blob = await collect(data);
    try {
      await this.run((db) => db.query(rewritten, [], { ...this.options, blob }));
    } catch (error) {
      // Positions past the file name refer to the rewritten text: shift them back onto the statement.
      const e = error as { position?: unknown };
      if (pgErrorFields(error) && typeof e.position === 'string') {
        const at = codePointPosition(statement, stdin.start);
        const shift = source.length - (stdin.end - stdin.start);
        const position = Number(e.position);
        if (position >= at + source.length) e.position = String(position - shift);
        else if (position > at) e.position = String(at);
      }
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
    try {
      if (this.ownsInstance && !this.db.closed) await this.db.close();
    } catch {
      // PGlite could not shut down cleanly: what was committed is on disk, the rest is rolled back on the next open.
    } finally {
      await this.release().catch(() => {});
    }
  }
}

/**
 * For pglite:PATH: the directory to open, under its lock, made ready for PGlite
 * (a new one created with its marker); or null when a read-only command finds
 * no database, to be served as an empty in-memory one.
 */
async function openDirectory(path: string, display: string, readOnly: boolean): Promise<{ found: Found; dir: string; marker: Marker | null; release: () => Promise<void> } | { found: Found; dir: null }> {
  // Read first, change nothing: whatever is refused is refused before a lock file or a parent is made.
  let found = await inspectDirectory(path, display);
  if (readOnly && (found.kind === 'absent' || found.kind === 'empty')) return { found, dir: null };
  if (found.kind !== 'database' && !readOnly) await prepareParent(path, display);
  const dir = await canonicalPath(path);
  const release = await lockDirectory(dir, display);
  try {
    // Again under the lock: another process may have created or finished it meanwhile.
    found = await inspectDirectory(path, display);
    if (found.kind === 'database') return { found, dir, marker: null, release };
    if (readOnly) {
      await release();
      return { found, dir: null };
    }
    return { found, dir, marker: await prepareNewDatabase(path, display, found), release };
  } catch (error) {
    await release();
    if (error instanceof PgpairError) throw error;
    throw new ConnectionError(display, `Cannot create the embedded database ${display} in ${path}: ${(error as Error).message}.`);
  }
}

export const pgliteDriver: Driver = {
  schemes: ['pglite'],
  async connect(options: ConnectOptions): Promise<Connection> {
    const target = parseTarget(options.url);
    const opened = target.memory ? null : await openDirectory(target.dir, target.display, options.readOnly ?? false);
    const onDisk = opened !== null && opened.dir !== null ? opened : null;
    const release = onDisk ? onDisk.release : async () => {};
    let db: PGlite;
    try {
      const { PGlite } = await import('@electric-sql/pglite');
      db = await PGlite.create(onDisk ? onDisk.dir : undefined);
    } catch (error) {
      await release();
      throw onDisk ? openFailure(target.display, onDisk.dir, onDisk.found, error) : new ConnectionError(target.display, `Cannot start the embedded database: PGlite failed with "${(error as Error).message}".`);
    }
    const connection = new PgliteConnection(db, target.display, release, options.onNotice);
    try {
      if (onDisk?.marker) await markReady(onDisk.dir, onDisk.marker);
      await connection.init();
    } catch (error) {
      await connection.close();
      throw error instanceof ConnectionError ? error : new ConnectionError(target.display, `Cannot use the embedded database ${target.display}: ${(error as Error).message}.`);
    }
    if (opened && !onDisk) options.onNotice?.({ severity: 'INFO', message: absentNote(target.display, opened.found) });
    return connection;
  },
};
