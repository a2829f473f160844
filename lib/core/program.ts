/**
 * Pure: a Plan → the program both runners carry out, operation by operation.
 * The executor (lib/run/executor.ts) runs the operations on a connection; the
 * `--sql` renderer (render.ts) prints them as psql text. This is the only
 * description of what a step does: what is sent, in which order, inside or
 * outside a transaction, and which history and log rows record it.
 *
 * What only a runner can know is symbolic: an Elapsed value stands for the
 * step's duration (the executor binds the milliseconds it measured, the
 * script writes the server-side expression the Elapsed carries).
 */
import type { FileAnalysis, RunMode } from './analyze.js';
import type { MigrationFile, Migration } from './files.js';
import { guardSettings, type GuardOptions } from './guards.js';
import {
  deleteHistoryRowsSql,
  deleteHistorySql,
  historyValues,
  insertHistoryRowsSql,
  insertHistorySql,
  insertLogRowsSql,
  insertLogSql,
  logValues,
  markOkSql,
  markRunningSql,
  progressSql,
  type HistoryTables,
  Elapsed,
  type How,
} from './history.js';

export { Elapsed } from './history.js';
import type { SqlStatement } from './lexer.js';
import { SqlExpression } from './literal.js';
import type { Plan, Step } from './plan.js';

/** Measured by the server in a transactional step: from BEGIN to now. */
const SINCE_BEGIN = new Elapsed(new SqlExpression('(1000 * extract(epoch FROM clock_timestamp() - transaction_timestamp()))::integer'));
/** Measured by the server at the end of a non-transactional up: since its `running` row was written. */
const SINCE_RUNNING_ROW = new Elapsed(new SqlExpression('(1000 * extract(epoch FROM clock_timestamp() - applied_at))::integer'));
/** What the script does not know (the time of a non-transactional down): NULL there, measured in a run. */
const MEASURED_ONLY = new Elapsed(null);

/** A history or log statement: SQL from history.ts and its parameters (an Elapsed among them stands for the duration). */
export interface Record {
  sql: string;
  params: readonly unknown[];
  /** When set, the statement must change exactly one row; otherwise the step fails with this message (the executor checks it). */
  mustChangeOneRow?: string;
}

export type Op =
  /** Start pgpair's transaction for the step. */
  | { op: 'begin' }
  /** Read the id of the transaction just begun: the checks compare it. */
  | { op: 'capture-xid' }
  /** Set the guards (statement_timeout, lock_timeout) with SET_GUARD_SQL, for the transaction (`local`) or the session. */
  | { op: 'guards'; settings: [string, string][]; local: boolean }
  /** A statement of the file (its COPY data, if any, comes from the file). `index` is 0-based. */
  | { op: 'statement'; index: number; statement: SqlStatement }
  /** Before anything is recorded: the transaction is still pgpair's and the migration lock still held. */
  | { op: 'check' }
  /** Outside a transaction, after statement `done` (1-based): the lock is still held, then the progress row. */
  | { op: 'progress'; done: number; record: Record }
  /** Reset the guards set for the session. */
  | { op: 'reset-guards'; settings: [string, string][] }
  /** Put the session back as the run (or script) started it: role, search_path, settings. */
  | { op: 'restore' }
  /** A history or log statement. */
  | { op: 'record'; record: Record }
  | { op: 'commit' };

/** One migration's up or down: the file it runs, how, and the operations. */
export interface MigrationBlock {
  kind: 'migration';
  step: Extract<Step, { action: 'up' | 'down' }>;
  file: MigrationFile;
  analysis: FileAnalysis;
  mode: RunMode;
  ops: Op[];
}

/** All stamp and unstamp steps of a plan: rows only, in one transaction, whatever their number. */
export interface StampBlock {
  kind: 'stamp';
  steps: Extract<Step, { action: 'stamp' | 'unstamp' }>[];
  ops: Op[];
}

export type Block = MigrationBlock | StampBlock;

export interface ProgramOptions extends GuardOptions {
  tables: HistoryTables;
  /** How the history rows say the migrations ran: 'executed' by a run, 'script' by a `--sql` script. */
  how: Extract<How, 'executed' | 'script'>;
}

/** The blocks of a plan in order. Throws when a plan mixes stamps into up/down or migrations into a stamp (a planner bug). */
export function programOf(plan: Plan, options: ProgramOptions): Block[] {
  if (plan.command === 'stamp') {
    const steps = plan.steps.map((step) => {
      if (step.action !== 'stamp' && step.action !== 'unstamp') throw new Error(`unexpected ${step.action} step in a stamp plan`);
      return step;
    });
    return steps.length === 0 ? [] : [stampBlock(steps, options.tables)];
  }
  return plan.steps.map((step) => {
    if (step.action !== 'up' && step.action !== 'down') throw new Error(`unexpected ${step.action} step in a ${plan.command} plan`);
    return migrationBlock(step, options);
  });
}

function migrationBlock(step: Extract<Step, { action: 'up' | 'down' }>, options: ProgramOptions): MigrationBlock {
  const analysis = step.file.analysis;
  const ops = analysis.mode === 'transaction' ? transactionalOps(step, options) : outsideOps(step, options);
  return { kind: 'migration', step, file: step.file, analysis, mode: analysis.mode, ops };
}

function statementOps(analysis: FileAnalysis): Op[] {
  return analysis.statements.map((statement, index) => ({ op: 'statement', index, statement }));
}

/** Statements, history change and log entry in one transaction: all of it or none of it. */
function transactionalOps(step: Extract<Step, { action: 'up' | 'down' }>, options: ProgramOptions): Op[] {
  const t = options.tables;
  const m = step.migration;
  const history: Record =
    step.action === 'up'
      ? { sql: insertHistorySql(t), params: historyValues(m, options.how, { durationMs: SINCE_BEGIN }) }
      : { sql: deleteHistorySql(t), params: [m.key], mustChangeOneRow: `the history row of ${m.version} vanished while it was being reverted` };
  return [
    { op: 'begin' },
    { op: 'capture-xid' },
    { op: 'guards', settings: guardSettings(options), local: true },
    ...statementOps(step.file.analysis),
    { op: 'check' },
    { op: 'restore' },
    { op: 'record', record: history },
    { op: 'record', record: logRecord(t, step.action, m, step.file, options.how, SINCE_BEGIN, null) },
    { op: 'commit' },
  ];
}

/**
 * Statement by statement outside any transaction: the history row says `running` while they run
 * (so that a stop in between leaves a trace), counts finished statements, and ends `ok` (or is
 * deleted, for down) together with the log entry.
 */
function outsideOps(step: Extract<Step, { action: 'up' | 'down' }>, options: ProgramOptions): Op[] {
  const t = options.tables;
  const m = step.migration;
  const analysis = step.file.analysis;
  const total = analysis.statements.length;
  const settings = guardSettings(options);
  const ops: Op[] = [
    {
      op: 'record',
      record:
        step.action === 'up'
          ? { sql: insertHistorySql(t), params: historyValues(m, options.how, { state: 'running', transactional: false, done: 0, total }) }
          : { sql: markRunningSql(t), params: [m.key, total] },
    },
    { op: 'guards', settings, local: false },
  ];
  for (const [index, statement] of analysis.statements.entries()) {
    ops.push({ op: 'statement', index, statement }, { op: 'progress', done: index + 1, record: { sql: progressSql(t), params: [m.key, index + 1] } });
  }
  ops.push(
    { op: 'reset-guards', settings },
    { op: 'restore' },
    { op: 'begin' },
    {
      op: 'record',
      record: step.action === 'up' ? { sql: markOkSql(t), params: [m.key, total, SINCE_RUNNING_ROW] } : { sql: deleteHistorySql(t), params: [m.key] },
    },
    { op: 'record', record: logRecord(t, step.action, m, step.file, options.how, MEASURED_ONLY, analysis.reason) },
    { op: 'commit' },
  );
  return ops;
}

function logRecord(t: HistoryTables, action: 'up' | 'down', m: Migration, file: MigrationFile, how: How, elapsed: Elapsed, detail: string | null): Record {
  return { sql: insertLogSql(t), params: logValues(action, { version: m.version, name: m.name, checksum: file.checksum, how, durationMs: elapsed, detail }) };
}

/**
 * Stamp and unstamp steps: at most three statements whatever the number of versions (one pair per
 * version made `stamp head` over 10,000 files take 7 s). The log entries come first, in the order of
 * the steps: an unstamp's entry reads how its row was recorded from the row itself, before it goes,
 * so a run and a `--from` script (which never saw the rows) record the same.
 */
export function stampBlock(steps: Extract<Step, { action: 'stamp' | 'unstamp' }>[], t: HistoryTables): StampBlock {
  const removed: string[] = [];
  const added: unknown[][] = [];
  const entries: unknown[][] = [];
  for (const step of steps) {
    if (step.action === 'stamp') {
      const m = step.migration;
      added.push(historyValues(m, 'stamped', { transactional: m.up.analysis.mode === 'transaction' }));
      entries.push(logValues('stamp', { version: m.version, name: m.name, checksum: m.up.checksum, how: 'stamped', durationMs: null }));
    } else {
      const row = step.row;
      removed.push(row.key);
      entries.push([...logValues('unstamp', { version: row.version, name: row.name, checksum: row.upChecksum, how: null, durationMs: null }), row.key]);
    }
  }
  const ops: Op[] = [{ op: 'begin' }];
  if (entries.length > 0) ops.push({ op: 'record', record: { sql: insertLogRowsSql(t), params: [JSON.stringify(entries)] } });
  if (removed.length > 0) ops.push({ op: 'record', record: { sql: deleteHistoryRowsSql(t), params: [JSON.stringify(removed)] } });
  if (added.length > 0) ops.push({ op: 'record', record: { sql: insertHistoryRowsSql(t), params: [JSON.stringify(added)] } });
  ops.push({ op: 'commit' });
  return { kind: 'stamp', steps, ops };
}

/** The parameters with every Elapsed replaced by `value(elapsed)`. */
export function bindElapsed(params: readonly unknown[], value: (elapsed: Elapsed) => unknown): unknown[] {
  return params.map((param) => (param instanceof Elapsed ? value(param) : param));
}
