/**
 * Every error pgpair throws on purpose is a PgpairError: a stable `code`, a
 * message that states the fact and the fix, and the data behind it. The CLI
 * renders them in one place and decides from the code how the process ends
 * (lib/cli/exit-codes.ts); the library picks no exit code.
 */

export class PgpairError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
  /** Data for `--json` output; subclasses add their fields. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message };
  }
}

/** A bad command line, option or configuration value. Exit 2. */
export class UsageError extends PgpairError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

export class ConfigError extends PgpairError {
  constructor(message: string) {
    super('E_CONFIG', message);
  }
}

export interface FileProblem {
  /** The file as the user would type it (directory included). */
  file: string;
  /** 1-based line, when the problem is inside the file. */
  line?: number;
  column?: number;
  message: string;
}

/** The migration directory is not a valid set of migrations. Every problem is listed. Exit 2. */
export class DirectoryError extends PgpairError {
  readonly dir: string;
  readonly problems: FileProblem[];
  constructor(dir: string, problems: FileProblem[]) {
    const lines = problems.map((p) => `  ${p.file}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}: ${p.message}`);
    super(
      'E_DIRECTORY',
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in migration directory ${dir}; fix ${problems.length === 1 ? 'it' : 'them'} and run again:\n${lines.join('\n')}`,
    );
    this.dir = dir;
    this.problems = problems;
  }
  override toJSON() {
    return { ...super.toJSON(), dir: this.dir, problems: this.problems };
  }
}

/**
 * A large migration file, whose COPY data is read from disk again when it runs rather than held in
 * memory, changed (or went away) since it was read and checksummed. Exit 1.
 */
export class FileChangedError extends PgpairError {
  readonly file: string;
  constructor(file: string, what: string) {
    super('E_FILE_CHANGED', `${file} ${what} since pgpair read and checksummed it (a large file's COPY data is read from disk when it runs, not held in memory); run pgpair again once nothing writes to it.`);
    this.file = file;
  }
  override toJSON() {
    return { ...super.toJSON(), file: this.file };
  }
}

/** A TARGET that names no known version, or one that the command cannot reach. Exit 2. */
export class TargetError extends PgpairError {
  readonly target: string;
  constructor(target: string, message: string) {
    super('E_TARGET', message);
    this.target = target;
  }
  override toJSON() {
    return { ...super.toJSON(), target: this.target };
  }
}

export type VerifyProblemKind = 'changed' | 'renamed' | 'missing' | 'failed' | 'running' | 'out-of-order' | 'pending' | 'down-changed' | 'down-deleted';

export interface VerifyProblem {
  kind: VerifyProblemKind;
  version: string;
  name: string | null;
  file: string | null;
  message: string;
  recordedChecksum?: string;
  actualChecksum?: string;
  /** kind 'renamed': the name the history records for the version (`name` is the file's). */
  recordedName?: string;
}

/**
 * `up --lint error` (lib/run/lint.ts): the migrations about to run have error-level lint findings,
 * so nothing was run. Exit 3. `findings` are lib/core/lint's, each with file, line, rule and fix.
 */
export class LintRefusedError extends PgpairError {
  readonly findings: { file: string; line: number; column: number; rule: string; severity: string; message: string; fix: string }[];
  constructor(findings: LintRefusedError['findings']) {
    const errors = findings.filter((f) => f.severity === 'error');
    super('E_LINT', `pgpair up --lint error: ${errors.length} error-level lint finding${errors.length === 1 ? '' : 's'} in the migrations about to run, so nothing was applied:\n${errors.map((f) => `  ${f.file}:${f.line}:${f.column} ${f.rule}: ${f.message}`).join('\n')}\nRewrite them as each finding says (pgpair lint shows how), silence one with -- pgpair:lint-ignore RULE reason above the statement, or run with --lint warn.`);
    this.findings = findings;
  }
  override toJSON() {
    return { ...super.toJSON(), findings: this.findings };
  }
}

/** Files and history disagree (changed, missing, failed, out of order). Exit 3. */
export class VerificationError extends PgpairError {
  readonly problems: VerifyProblem[];
  constructor(problems: VerifyProblem[], what = 'Files and history disagree') {
    super('E_VERIFY', `${what}:\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
    this.problems = problems;
  }
  override toJSON() {
    return { ...super.toJSON(), problems: this.problems };
  }
}

/** `down` would cross a migration that has no down file. Nothing was run. Exit 1. */
export class IrreversibleError extends PgpairError {
  readonly version: string;
  readonly file: string;
  constructor(version: string, file: string, message: string) {
    super('E_IRREVERSIBLE', message);
    this.version = version;
    this.file = file;
  }
  override toJSON() {
    return { ...super.toJSON(), version: this.version, file: this.file };
  }
}

export interface LockHolder {
  pid: number;
  applicationName: string | null;
  user: string | null;
  clientAddr: string | null;
  /** When the holder's session started (ISO-8601). */
  since: string | null;
  state: string | null;
}

/** Another run holds the migration lock longer than --lock-timeout. Exit 1. */
export class LockTimeoutError extends PgpairError {
  readonly holder: LockHolder | null;
  readonly waitedMs: number;
  constructor(holder: LockHolder | null, waitedMs: number) {
    const who = holder
      ? `pid ${holder.pid}${holder.applicationName ? ` (${holder.applicationName})` : ''}${holder.user ? ` user ${holder.user}` : ''}${holder.clientAddr ? ` from ${holder.clientAddr}` : ''}${holder.since ? `, connected since ${holder.since}` : ''}`
      : 'a session that has since gone';
    super(
      'E_LOCK_TIMEOUT',
      `Timed out after ${(waitedMs / 1000).toFixed(1)}s waiting for the migration lock, held by ${who}. Wait for that run to finish, or stop it (SELECT pg_terminate_backend(${holder?.pid ?? 'PID'})) if it is stuck; --lock-timeout sets how long to wait.`,
    );
    this.holder = holder;
    this.waitedMs = waitedMs;
  }
  override toJSON() {
    return { ...super.toJSON(), holder: this.holder, waitedMs: this.waitedMs };
  }
}

/** The database could not be reached, or the connection was lost. The message never holds a password. Exit 1. */
export class ConnectionError extends PgpairError {
  readonly target: string;
  constructor(target: string, message: string) {
    super('E_CONNECTION', message);
    this.target = target;
  }
  override toJSON() {
    return { ...super.toJSON(), target: this.target };
  }
}

/** Fields of a PostgreSQL error, whichever driver raised it. */
export interface PgErrorFields {
  sqlstate: string | null;
  severity: string | null;
  message: string;
  detail: string | null;
  hint: string | null;
  where: string | null;
  /** 1-based character position into the text sent, as PostgreSQL reports it. */
  position: number | null;
  internalPosition: number | null;
  internalQuery: string | null;
  /** The constraint, table and column the error concerns, where the server names them. */
  constraintName?: string | null;
  tableName?: string | null;
  columnName?: string | null;
}

/** Where in which migration a run stopped: what MigrationFailedError and MigrationIntegrityError share. */
export interface MigrationPlace {
  version: string;
  name: string;
  direction: 'up' | 'down';
  file: string;
  line: number | null;
  column: number | null;
  /** 1-based statement number, where statements were run one by one. */
  statement: number | null;
  /** false when some of the migration's work stayed applied. */
  rolledBack: boolean;
}

/**
 * A step a run carried out before it stopped (lib/run/executor.ts's StepResult): the `Applied`
 * of goose's PartialError.
 */
export interface AppliedStep {
  action: 'up' | 'down' | 'stamp' | 'unstamp';
  version: string;
  name: string;
  durationMs: number;
  /** How its SQL ran: in pgpair's transaction, statement by statement outside one, or as written with its own BEGIN/COMMIT. */
  mode?: 'transaction' | 'no-transaction' | 'own-transaction';
  /** How often pgpair tried it again after a lock timeout or a deadlock (--lock-retries); absent when it never did. */
  lockRetries?: number;
}

/** The step a run stopped at: the `Failed` of goose's PartialError. */
export interface FailedStep {
  action: 'up' | 'down';
  version: string;
  /** The migration's name (the up file's). */
  name: string;
  /** The file that was running. */
  file: string;
}

/**
 * A migration's run stopped at a place in its file. Exit 1. As data: `failed` (the step),
 * where in its file, and `applied`, the steps of the same run done before it (they stay done),
 * set by the executor that ran them (empty when the error did not come from a run).
 */
export abstract class MigrationStepError extends PgpairError {
  readonly version: string;
  readonly direction: 'up' | 'down';
  readonly file: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly statement: number | null;
  readonly rolledBack: boolean;
  /** The step the run stopped at (`failed.name` is the migration's name: Error reserves `name`). */
  readonly failed: FailedStep;
  applied: AppliedStep[] = [];
  constructor(code: string, message: string, place: MigrationPlace) {
    super(code, message);
    this.version = place.version;
    this.direction = place.direction;
    this.file = place.file;
    this.line = place.line;
    this.column = place.column;
    this.statement = place.statement;
    this.rolledBack = place.rolledBack;
    this.failed = { action: place.direction, version: place.version, name: place.name, file: place.file };
  }
  override toJSON() {
    return {
      ...super.toJSON(),
      version: this.version,
      name: this.failed.name,
      direction: this.direction,
      file: this.file,
      line: this.line,
      column: this.column,
      statement: this.statement,
      rolledBack: this.rolledBack,
      failed: this.failed,
      applied: this.applied,
    };
  }
}

export class MigrationFailedError extends MigrationStepError {
  readonly pg: PgErrorFields;
  readonly excerpt: string | null;
  constructor(init: MigrationPlace & { pg: PgErrorFields; excerpt: string | null; next: string }) {
    const where = `${init.file}${init.line ? `:${init.line}${init.column ? `:${init.column}` : ''}` : ''}`;
    const state = init.pg.sqlstate ? ` [${init.pg.sqlstate}]` : '';
    const parts = [`${where}: ${init.pg.severity ?? 'ERROR'}${state}: ${init.pg.message}`];
    if (init.pg.detail) parts.push(`DETAIL: ${init.pg.detail}`);
    if (init.pg.hint) parts.push(`HINT: ${init.pg.hint}`);
    if (init.pg.where) parts.push(`CONTEXT: ${init.pg.where}`);
    if (init.pg.constraintName) parts.push(`CONSTRAINT: ${init.pg.tableName ? `${init.pg.tableName}.` : ''}${init.pg.constraintName}`);
    if (init.excerpt) parts.push(init.excerpt);
    parts.push(init.next);
    super('E_MIGRATION_FAILED', parts.join('\n'), init);
    this.pg = init.pg;
    this.excerpt = init.excerpt;
  }
  override toJSON() {
    return { ...super.toJSON(), ...this.pg };
  }
}

/** The run was stopped by a signal (Ctrl-C, SIGTERM) or an AbortSignal. Exit 1. */
export class InterruptedError extends PgpairError {
  readonly reason: string;
  /** The version whose work was in progress, if any. */
  readonly version: string | null;
  /** When a run was interrupted: the step in progress (null between steps), and the steps done before it. */
  failed: FailedStep | null = null;
  applied: AppliedStep[] = [];
  constructor(reason: string, version: string | null, message: string) {
    super('E_INTERRUPTED', message);
    this.reason = reason;
    this.version = version;
  }
  override toJSON() {
    return { ...super.toJSON(), reason: this.reason, version: this.version, failed: this.failed, applied: this.applied };
  }
}

/** A database error outside any migration file (history table, permissions…). Exit 1. */
export class DatabaseError extends PgpairError {
  readonly pg: PgErrorFields;
  constructor(context: string, pg: PgErrorFields) {
    super('E_DATABASE', `${context}: ${pg.message}${pg.sqlstate ? ` [${pg.sqlstate}]` : ''}${pg.detail ? `\nDETAIL: ${pg.detail}` : ''}${pg.hint ? `\nHINT: ${pg.hint}` : ''}`);
    this.pg = pg;
  }
  override toJSON() {
    return { ...super.toJSON(), ...this.pg };
  }
}

/**
 * A migration broke what pgpair's bookkeeping relies on: a statement ended pgpair's transaction
 * (a COMMIT or ROLLBACK the splitter did not see), or released the migration lock. What stayed
 * applied is in the message and as data; the version is marked failed when its work was not all
 * rolled back. Exit 1.
 */
export class MigrationIntegrityError extends MigrationStepError {
  readonly problem: 'transaction-ended' | 'lock-released';
  constructor(init: MigrationPlace & { problem: 'transaction-ended' | 'lock-released'; message: string }) {
    super(init.problem === 'lock-released' ? 'E_LOCK_RELEASED' : 'E_TRANSACTION_ENDED', init.message, init);
    this.problem = init.problem;
  }
  override toJSON() {
    return { ...super.toJSON(), problem: this.problem };
  }
}

/**
 * pglite:PATH names something pgpair will not use as its embedded database: a
 * directory it cannot prove it created that is not a whole PGlite database, a
 * file, a dangling symlink, another PostgreSQL's data directory. Nothing was
 * touched. Exit 2.
 */
export class EmbeddedDirectoryError extends PgpairError {
  /** The URL as given (pglite:PATH). */
  readonly target: string;
  /** The absolute path it names. */
  readonly path: string;
  constructor(target: string, path: string, message: string) {
    super('E_EMBEDDED_DIRECTORY', message);
    this.target = target;
    this.path = path;
  }
  override toJSON() {
    return { ...super.toJSON(), target: this.target, path: this.path };
  }
}

export type HistoryTableProblem = 'not-pgpair' | 'missing-schema' | 'missing-log' | 'unguarded-log';

/**
 * The history table named by --table cannot be used as it is: a table of that name that pgpair did
 * not create, a schema that does not exist, or a pgpair history whose log or its guard is gone. Exit 2.
 */
export class HistoryTableError extends PgpairError {
  readonly table: string;
  readonly problem: HistoryTableProblem;
  constructor(table: string, problem: HistoryTableProblem, message: string) {
    super('E_HISTORY_TABLE', message);
    this.table = table;
    this.problem = problem;
  }
  override toJSON() {
    return { ...super.toJSON(), table: this.table, problem: this.problem };
  }
}

// --- Test templates (lib/run/template.ts) ---

/** A session on the server, as a busy template names it (no query text: it may hold secrets). */
export interface TemplateSession {
  pid: number;
  applicationName: string | null;
  user: string | null;
}

/**
 * A test template could not be used in time: sessions stayed connected to it, so PostgreSQL would
 * not clone it (`busy: 'sessions'`, SQLSTATE 55006), or another process kept building it longer
 * than the build timeout (`busy: 'building'`). Exit 1.
 */
export class TemplateBusyError extends PgpairError {
  readonly template: string;
  readonly busy: 'sessions' | 'building';
  readonly waitedMs: number;
  readonly sessions: TemplateSession[];
  constructor(template: string, busy: 'sessions' | 'building', waitedMs: number, sessions: TemplateSession[]) {
    const who = sessions.length
      ? sessions.map((s) => `pid ${s.pid}${s.applicationName ? ` (${s.applicationName})` : ''}${s.user ? ` user ${s.user}` : ''}`).join(', ')
      : 'a session that has since gone';
    const seconds = (waitedMs / 1000).toFixed(1);
    super(
      'E_TEMPLATE_BUSY',
      busy === 'sessions'
        ? `Cannot clone the template database ${template}: ${who} stayed connected to it for ${seconds}s, and PostgreSQL clones a database only when nobody is connected to it. Close that connection (or SELECT pg_terminate_backend(${sessions[0]?.pid ?? 'PID'})); pgpair template --clean drops the template, and the next run builds it again.`
        : `Timed out after ${seconds}s waiting for another process to finish building the template database ${template} (the build lock is held by ${who}). Wait for it, or stop it if it is stuck (SELECT pg_terminate_backend(${sessions[0]?.pid ?? 'PID'})).`,
    );
    this.template = template;
    this.busy = busy;
    this.waitedMs = waitedMs;
    this.sessions = sessions;
  }
  override toJSON() {
    return { ...super.toJSON(), template: this.template, busy: this.busy, waitedMs: this.waitedMs, sessions: this.sessions };
  }
}

/**
 * The run's session did not stay on one server connection: the URL goes through a connection
 * pooler in transaction (or statement) mode, where the migration lock and session state cannot
 * hold (lib/run/pooler.ts). `when` says whether it was found before any work ('start') or during
 * the run ('during': `applied` lists what committed, each one under a check that passed on the
 * run's own server connection, and `failed` the migration it stopped at). Exit 2.
 */
export class PoolerError extends PgpairError {
  readonly when: 'start' | 'during';
  /** Backend pids the run saw: the one it started on first. */
  readonly backends: number[];
  applied: AppliedStep[] = [];
  failed: FailedStep | null = null;
  constructor(when: 'start' | 'during', backends: number[], message: string, cause?: unknown) {
    super('E_POOLER', message);
    this.when = when;
    this.backends = backends;
    if (cause !== undefined) this.cause = cause;
  }
  override toJSON() {
    return { ...super.toJSON(), when: this.when, backends: this.backends, applied: this.applied, failed: this.failed };
  }
}
