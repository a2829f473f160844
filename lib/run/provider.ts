/**
 * A reusable migrator (after goose v3's Provider): made once from where the migrations are and
 * which database they go to, it reads and checks the migration files once, and each call then
 * works from that set. See `migrator`.
 */
import type { Logger } from 'pino';
import { ConfigError, UsageError, VerificationError, type VerifyProblem } from '../core/errors.js';
import { parseMigrationDirectory, type DirectoryEntry, type MigrationSet } from '../core/files.js';
import { quoteIdent, type TableName } from '../core/ident.js';
import { splitSchema } from '../db/url.js';
import type { Plan } from '../core/plan.js';
import { downFileWarnings, verifyProblems, type StatusReport } from '../core/status.js';
import { readMigrations } from '../read/source.js';
import { applicationLender, urlLender, type ApplicationConnection, type Lender } from './lend.js';
import {
  assumedState,
  plannerFor,
  readState,
  runPlan,
  scriptFrom,
  scriptText,
  type DownRequest,
  type PlanRequest,
  type RunCallOptions,
  type ScriptSettings,
  type ScriptStream,
  type StampRequest,
  type UpRequest,
} from './operations.js';
import { currentStatus, DEFAULT_DIR, interruptedBefore, noticeLogger, readOptions, sessionOn, silent, tableOf, underSignal, type RunResult, type Session } from './session.js';

export interface MigratorOptions {
  /** Database URL: postgres://…, postgresql://…, pglite:PATH or pglite:memory. pgpair connects on the first call and keeps the connection until close(). */
  url?: string;
  /**
   * Instead of `url`: a postgres.js `Sql` or a PGlite instance the application holds. pgpair opens
   * no connection of its own on it (but a short one to cancel a statement when a call's signal is
   * aborted) and never closes it. From a postgres.js pool it reserves one session per call and
   * gives it back after; a PGlite instance must not be used for anything else while a call runs.
   */
  connection?: ApplicationConnection;
  /** What to call a PGlite `connection` in messages and results; default `pglite:instance`. */
  displayUrl?: string;
  /** Migration directory, read and checked when the migrator is made; default `sql`. */
  dir?: string;
  /** Instead of reading `dir`: the migrations, already read (a MigrationSet), or the directory's files as entries (checked as a directory would be). */
  files?: MigrationSet | readonly DirectoryEntry[];
  /** History table, `[schema.]name`; default `pgpair_history` in the current schema. */
  table?: string;
  /** pino logger for progress, notices and lock waits; default: silent. */
  logger?: Logger;
  /** Seconds to wait for a connection (with `url`); default 10. */
  connectTimeout?: number;
  /** Files larger than this (bytes) are read in pieces (see BaseOptions.largeFileBytes). */
  largeFileBytes?: number;
}

/** What every call may be given. */
export interface CallOptions {
  /** Aborting it stops the call (see BaseOptions.signal); the migrator stays usable. */
  signal?: AbortSignal;
}

export interface VerifyResult {
  ok: boolean;
  problems: VerifyProblem[];
  /** Down files of applied versions that changed or are gone: not failures unless `strict` (then they are in `problems`). */
  warnings: VerifyProblem[];
  report: StatusReport;
}

export interface ScriptRequest extends ScriptSettings, CallOptions {
  command: Plan['command'];
  /** As for up, down and stamp (required for stamp). */
  target?: string | import('../core/plan.js').Target;
  steps?: number;
  allowOutOfOrder?: boolean;
  /**
   * 'base' or a version: no database is read; the history is assumed to hold exactly the file
   * versions up to this one, with the current files' checksums (the script checks that first).
   */
  from?: string;
}

export interface ScriptResult {
  /** The psql script: `psql -X -v ON_ERROR_STOP=1 -f FILE` runs it. */
  text: string;
  /** The plan it carries out, as the executor would run it. */
  plan: Plan;
}

/**
 * A migrator's calls. They run one at a time: a call made while another runs waits for it (two
 * calls never share the session). After close() every call is refused with a UsageError.
 */
export interface Migrator {
  /** The migrations as read when the migrator was made: every call works from these. */
  readonly files: MigrationSet;
  /** Every migration with its state. Read-only: creates nothing, takes no lock. */
  status(options?: CallOptions): Promise<StatusReport>;
  /** Files against history; `strict` also counts pending versions and changed or deleted down files. Never throws for disagreement: see `ok`. */
  verify(options?: CallOptions & { strict?: boolean }): Promise<VerifyResult>;
  /** Like verify, but throws VerificationError when there is a problem. */
  assertVerified(options?: CallOptions & { strict?: boolean }): Promise<StatusReport>;
  /** What up, down or stamp with this request would do now (read-only: no lock, nothing created). */
  plan(request: PlanRequest & CallOptions): Promise<Plan>;
  /** Applies pending migrations up to the target (default head). */
  up(options?: UpRequest & RunCallOptions): Promise<RunResult>;
  /** Reverts to the target; without target and steps, one step. */
  down(options?: DownRequest & RunCallOptions): Promise<RunResult>;
  /** Records the database as being at the target without running any migration SQL. */
  stamp(options: StampRequest & RunCallOptions): Promise<RunResult>;
  /** The psql script that does what up, down or stamp would; writes nothing, and with `from` reads no database. */
  script(options: ScriptRequest): Promise<ScriptResult>;
  /** `script`, in pieces, for a script that may be too large to hold. */
  scriptStream(options: ScriptRequest): Promise<ScriptStream>;
  /** Waits for a call in progress, then closes what pgpair opened (its own connection); never what the application lent. Never throws. */
  close(): Promise<void>;
}

function filesFrom(options: MigratorOptions): Promise<MigrationSet> | MigrationSet {
  if (options.files === undefined) return readMigrations(options.dir ?? DEFAULT_DIR, readOptions(options));
  if (Array.isArray(options.files)) return parseMigrationDirectory(options.dir ?? DEFAULT_DIR, options.files as readonly DirectoryEntry[]);
  return options.files as MigrationSet;
}

class MigratorImpl implements Migrator {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private active: Session | null = null;
  private readonly lender: Lender | null;
  /** The schema a fleet target's `?schema=NAME` names (lib/db/url.ts), which a psql script cannot honour. */
  private readonly schema: string | null;

  constructor(
    readonly files: MigrationSet,
    private readonly table: TableName,
    private readonly logger: Logger,
    options: MigratorOptions,
  ) {
    const onNotice = noticeLogger(logger, () => this.active?.running ?? null);
    if (options.connection !== undefined) this.lender = applicationLender(options.connection, { displayUrl: options.displayUrl, onNotice, logger });
    else if (options.url !== undefined) this.lender = urlLender(options.url, options.connectTimeout ?? 10, onNotice);
    else this.lender = null;
    this.schema = options.url !== undefined ? splitSchema(options.url).schema : null;
  }

  /** Runs `fn` after every call made before it has ended, and never two at once. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => {});
    return result;
  }

  /** One call: a session, under the call's signal, given back afterwards. */
  private call<T>(options: CallOptions & { readOnly: boolean; createSchema?: boolean | undefined }, fn: (session: Session) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      if (this.closed) throw new UsageError('This migrator was closed: make a new one with migrator().');
      const lender = this.lender;
      if (!lender) throw new ConfigError('This migrator has no database: give migrator() a url or a connection.');
      const signal = options.signal;
      if (signal?.aborted) throw interruptedBefore(signal, 'before connecting');
      const db = await lender.acquire(options.readOnly, signal);
      try {
        return await underSignal(db, signal, async () => {
          const session = sessionOn(db, this.files, this.table, this.logger, options.createSchema ?? false);
          this.active = session;
          try {
            return await fn(session);
          } finally {
            this.active = null;
          }
        });
      } finally {
        await lender.giveBack(db);
      }
    });
  }

  status(options: CallOptions = {}): Promise<StatusReport> {
    return this.call({ ...options, readOnly: true }, (session) => currentStatus(session));
  }

  async verify(options: CallOptions & { strict?: boolean } = {}): Promise<VerifyResult> {
    const report = await this.status(options);
    const strict = options.strict ?? false;
    const problems = verifyProblems(report, { strict });
    return { ok: problems.length === 0, problems, warnings: strict ? [] : downFileWarnings(report), report };
  }

  async assertVerified(options: CallOptions & { strict?: boolean } = {}): Promise<StatusReport> {
    const result = await this.verify(options);
    if (!result.ok) throw new VerificationError(result.problems);
    return result.report;
  }

  plan(request: PlanRequest & CallOptions): Promise<Plan> {
    const planner = plannerFor(request);
    return this.call({ ...request, readOnly: true }, async (session) => planner(await currentStatus(session)));
  }

  private run(options: RunCallOptions, planner: (report: StatusReport) => Plan): Promise<RunResult> {
    return this.call({ ...options, readOnly: false }, (session) => runPlan(session, options, planner));
  }

  up(options: UpRequest & RunCallOptions = {}): Promise<RunResult> {
    return this.run(options, plannerFor({ ...options, command: 'up' }));
  }

  down(options: DownRequest & RunCallOptions = {}): Promise<RunResult> {
    return this.run(options, plannerFor({ ...options, command: 'down' }));
  }

  stamp(options: StampRequest & RunCallOptions): Promise<RunResult> {
    return this.run(options, plannerFor({ ...options, command: 'stamp' }));
  }

  async scriptStream(options: ScriptRequest): Promise<ScriptStream> {
    // psql does not know schema=: the script's RESET ALL would run each migration in psql's search_path (public) while recording it in the tenant's history.
    if (this.schema !== null) {
      throw new UsageError(
        `--sql cannot honour schema=${this.schema}: psql does not know it, so the migrations would run in psql's own search_path while the script records them in ${quoteIdent(this.schema)}'s history. Run pgpair ${options.command} on the URL directly, or generate the script from the URL without schema= and --table ${quoteIdent(this.schema)}.${this.table.name}, and run it with PGOPTIONS='-c search_path=${quoteIdent(this.schema)}' psql.`,
      );
    }
    const planner = plannerFor(options);
    if (options.from !== undefined) {
      if (this.closed) throw new UsageError('This migrator was closed: make a new one with migrator().');
      return scriptFrom(assumedState(this.files, this.table, options.from), planner, options, this.logger);
    }
    if (!this.lender) throw new ConfigError('A script needs the current state of the database: give a database URL, or --from VERSION|base to work from the files alone.');
    const state = await this.call({ ...options, readOnly: true }, readState);
    return scriptFrom(state, planner, options, this.logger);
  }

  async script(options: ScriptRequest): Promise<ScriptResult> {
    const stream = await this.scriptStream(options);
    return { text: await scriptText(stream), plan: stream.plan };
  }

  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.lender?.close();
    });
  }
}

/**
 * Reads and checks the migrations (`dir`, or `files`) once and returns a Migrator on `url` or on
 * the application's `connection`. Throws what reading the directory throws (DirectoryError,
 * ConfigError) before anything touches the database; connects on the first call, not here.
 *
 * The migrator keeps the set it read: files changed, added or removed afterwards are not seen
 * (make a new migrator to see them). What it runs is what it checked and what it records the
 * checksums of. A large file (read in pieces) is read again when its COPY data runs, and a change
 * since it was checked stops the run (FileChangedError) before that migration commits.
 */
export async function migrator(options: MigratorOptions): Promise<Migrator> {
  if (options.url !== undefined && options.connection !== undefined) throw new UsageError('Give migrator() a url or a connection, not both.');
  if (options.dir !== undefined && options.files !== undefined && !Array.isArray(options.files)) throw new UsageError('Give migrator() a dir or a MigrationSet as files, not both.');
  const table = tableOf(options);
  const files = await filesFrom(options);
  return new MigratorImpl(files, table, options.logger ?? silent, options);
}
