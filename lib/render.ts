/**
 * Pure: a Plan → one psql script that does what the executor would do with
 * it. `pgpair up|down|stamp --sql` prints this text for a DBA to review and
 * run with `psql -X -v ON_ERROR_STOP=1 -f FILE`.
 *
 * The script is another consumer of the same plan, not a second
 * implementation: migration statements are the lexer's statements the
 * executor sends, and every history and log statement comes from the builders
 * in history.ts that the executor binds, with the values inlined as literals.
 * What only a live run can know is computed by the server instead: durations,
 * and whether the history is still the one the plan was made from (checked
 * under pgpair's own advisory lock before anything changes).
 */
import type { FileAnalysis } from './analyze.js';
import { DirectoryError, type FileProblem } from './errors.js';
import type { Migration, MigrationFile } from './files.js';
import {
  createHistorySql,
  deleteHistorySql,
  historyValues,
  insertHistorySql,
  insertLogSql,
  logValues,
  markOkSql,
  markRunningSql,
  progressSql,
  type HistoryRow,
  type HistoryTables,
} from './history.js';
import { guardSettings, SET_GUARD_SQL } from './guards.js';
import { quoteLiteral } from './ident.js';
import { inlineParams, SqlExpression } from './literal.js';

export { inlineParams, sqlLiteral } from './literal.js';
import type { CopyDataLocation } from './lexer.js';
import { LOCK_KEY_SQL } from './lock.js';
import { PGPAIR_VERSION } from './meta.js';
import type { Plan, Step } from './plan.js';

export interface RenderInput {
  plan: Plan;
  tables: HistoryTables;
  /**
   * The history the plan was made from. The script stops at its first check,
   * changing nothing, unless the database holds exactly these rows (version,
   * state, up checksum).
   */
  history: {
    rows: readonly HistoryRow[];
    /**
     * true when the rows were not read but assumed (`--from`): details a
     * history row holds beyond version, state and checksum (e.g. how it was
     * recorded) are then read by the script instead of written into it.
     */
    assumed: boolean;
    /** Whether the history table exists; null when unknown. Unless true, the script creates it if missing. */
    tableExists: boolean | null;
  };
  /** The executor's view of a file: its statements and run mode (analyzeFile). */
  analyze: (file: MigrationFile) => FileAnalysis;
  /** When the script was generated, for its header. */
  generatedAt: Date;
  /** Where the starting state came from, for the header, e.g. "read from postgres://…/app" or "--from 0003 (files only)". */
  source: string;
  /** The command line that asked for it, for the header, e.g. "pgpair up 0005 --sql". */
  request?: string;
  /** How long the script waits for the migration lock (lock_timeout), ms. */
  lockTimeoutMs: number;
  /** statement_timeout for migration SQL, ms, as `--statement-timeout`. */
  statementTimeoutMs?: number;
  /** lock_timeout for migration SQL, ms, as `--migration-lock-timeout`. */
  migrationLockTimeoutMs?: number;
}

/**
 * A piece of a script: text, or the COPY data of a large file (lib/large-file.ts), which is read
 * from the file as the script is written (lib/source.ts readCopyData) and never held whole.
 */
export type ScriptPart = string | { file: MigrationFile; copyData: CopyDataLocation };

/** A line of the script; the COPY of a large file is its command, its data and `\.`. */
type Line = string | ScriptPart[];

/** The lock key, computed by the server exactly as lib/lock.ts computes it. */
export function lockKeySql(t: HistoryTables): string {
  // With the schema unknown, pgpair's own key uses the connection's current schema.
  const display = t.schema === null ? `current_schema() || ${quoteLiteral(`.${t.historyName}`)}` : quoteLiteral(t.display);
  return LOCK_KEY_SQL.replace('$1', display);
}

/** Measured by the server in a transactional step: from BEGIN to now. */
const TRANSACTION_DURATION = new SqlExpression('(1000 * extract(epoch FROM clock_timestamp() - transaction_timestamp()))::integer');
/** Measured by the server at the end of a non-transactional up: since its `running` row was written. */
const SINCE_RUNNING_ROW = new SqlExpression('(1000 * extract(epoch FROM clock_timestamp() - applied_at))::integer');

const RULE = `-- ${'-'.repeat(76)}`;

function stepLabel(step: Step): string {
  return step.action === 'unstamp' ? `${step.row.version}_${step.row.name}` : `${step.migration.version}_${step.migration.slug}`;
}

function fileOf(step: Step): MigrationFile | null {
  if (step.action === 'up' || step.action === 'stamp') return step.migration.up;
  if (step.action === 'down') return step.migration.down;
  return null;
}

/** Comment lines from the text between statements (the file's own comments), as comments; anything else there is dropped. */
function commentLines(gap: string): string[] {
  return gap
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('--'));
}

/** The SQL segment of a large file that holds `offset` (its last segment starting at or before it). */
function segmentAt(segments: readonly { text: string; offset: number }[], offset: number): number {
  let low = 0;
  let high = segments.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (segments[middle]!.offset <= offset) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** The file's text from `from` to `to` (default: its end), where no COPY data lies in between (the text between statements). */
function textBetween(file: MigrationFile, from: number, to?: number): string {
  if (!file.large) return file.text.slice(from, to);
  const segment = file.large.segments[segmentAt(file.large.segments, from)]!;
  return segment.text.slice(from - segment.offset, to === undefined ? undefined : to - segment.offset);
}

/** Where a statement's source ends in the file: after its text, or after the `\.` line of its COPY data. */
function endOf(file: MigrationFile, statement: FileAnalysis['statements'][number]): number {
  if (!statement.copyData) return statement.offset + statement.text.length;
  // In a large file, the SQL after the `\.` line is the next segment.
  if (file.large) return file.large.segments[segmentAt(file.large.segments, statement.offset) + 1]?.offset ?? Infinity;
  const dataEnd = statement.copyData.offset + statement.copyData.text!.length;
  const lineEnd = file.text.indexOf('\n', dataEnd);
  return lineEnd === -1 ? file.text.length : lineEnd + 1;
}

/**
 * The file's statements as psql must see them, each after a `-- FILE:LINE`
 * marker and the file's comments before it; COPY … FROM stdin is followed by
 * its data lines and `\.`. `after(done)` adds what the executor does after
 * each statement (progress of non-transactional migrations).
 */
function renderStatements(file: MigrationFile, analysis: FileAnalysis, after?: (done: number) => string): Line[] {
  const out: Line[] = [];
  let cursor = 0;
  for (const [index, statement] of analysis.statements.entries()) {
    out.push(...commentLines(textBetween(file, cursor, statement.offset)));
    out.push(`-- ${file.path}:${statement.line}`);
    const text = statement.text.endsWith(';') ? statement.text : `${statement.text};`;
    const copyData = statement.copyData;
    // The `\.` line ends as in the file: psql sends it, and the server wants it to end like the data lines.
    const terminator = copyData?.terminator ?? '\\.';
    out.push(!copyData ? text : copyData.location ? [`${text}\n`, { file, copyData: copyData.location }, terminator] : `${text}\n${copyData.text}${terminator}`);
    if (after) out.push(after(index + 1));
    out.push('');
    cursor = endOf(file, statement);
  }
  const trailing = commentLines(textBetween(file, cursor));
  if (trailing.length > 0) out.push(...trailing, '');
  if (analysis.statements.length === 0) out.push(`-- (${file.path} holds no statement: a no-op)`, '');
  return out;
}

function setGuards(input: RenderInput, local: boolean): string[] {
  return guardSettings(input).map(([name, value]) => inlineParams(SET_GUARD_SQL, [name, value, local]));
}

function resetGuards(input: RenderInput): string[] {
  return guardSettings(input).map(([name]) => `RESET ${name};`);
}

/** A transactional up or down: statements, history change and log entry between BEGIN and COMMIT, as runInTransaction does. */
function renderTransactional(input: RenderInput, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis): Line[] {
  const t = input.tables;
  const out: Line[] = ['-- Runs in one transaction together with its history row and log entry: all of it or none of it.', 'BEGIN;', ...setGuards(input, true), ''];
  out.push(...renderStatements(file, analysis));
  out.push(
    direction === 'up'
      ? inlineParams(insertHistorySql(t), historyValues(migration, 'script', { durationMs: TRANSACTION_DURATION }))
      : inlineParams(deleteHistorySql(t), [migration.key]),
  );
  out.push(inlineParams(insertLogSql(t), logValues(direction, { version: migration.version, name: migration.slug, checksum: file.checksum, how: 'script', durationMs: TRANSACTION_DURATION })));
  out.push('COMMIT;');
  return out;
}

/** A non-transactional (or own-transaction) up or down, statement by statement with its progress recorded, as runOutsideTransaction does. */
function renderOutside(input: RenderInput, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis): Line[] {
  const t = input.tables;
  const total = analysis.statements.length;
  const out: Line[] = [
    `-- Runs outside any transaction, statement by statement, because ${analysis.reason ?? 'it must'}.`,
    `-- Its history row says 'running' until the last statement is done. If psql stops in between, the statements`,
    `-- before stay done and pgpair status shows ${migration.version} as failed: finish or undo it by hand, then run`,
    `-- pgpair repair --applied ${migration.version} or pgpair repair --reverted ${migration.version}.`,
    direction === 'up'
      ? inlineParams(insertHistorySql(t), historyValues(migration, 'script', { state: 'running', transactional: false, done: 0, total }))
      : inlineParams(markRunningSql(t), [migration.key, total]),
    ...setGuards(input, false),
    '',
  ];
  out.push(...renderStatements(file, analysis, (done) => inlineParams(progressSql(t), [migration.key, done])));
  out.push(...resetGuards(input));
  out.push('-- Done: record it.', 'BEGIN;');
  out.push(direction === 'up' ? inlineParams(markOkSql(t), [migration.key, total, SINCE_RUNNING_ROW]) : inlineParams(deleteHistorySql(t), [migration.key]));
  out.push(inlineParams(insertLogSql(t), logValues(direction, { version: migration.version, name: migration.slug, checksum: file.checksum, how: 'script', durationMs: null, detail: analysis.reason })));
  out.push('COMMIT;');
  return out;
}

/** Stamp and unstamp steps: rows only, all in one transaction, as runStamp does. */
function renderStamp(input: RenderInput, steps: Step[]): string[] {
  const t = input.tables;
  const out = ['-- Records rows only (no migration SQL runs), all in one transaction.', 'BEGIN;', ''];
  for (const step of steps) {
    if (step.action === 'stamp') {
      const m = step.migration;
      const transactional = input.analyze(m.up).mode === 'transaction';
      out.push(`-- stamp ${m.version}_${m.slug}: recorded as applied; ${m.up.path} is not run.`);
      out.push(inlineParams(insertHistorySql(t), historyValues(m, 'stamped', { transactional })));
      out.push(inlineParams(insertLogSql(t), logValues('stamp', { version: m.version, name: m.slug, checksum: m.up.checksum, how: 'stamped', durationMs: null })), '');
    } else if (step.action === 'unstamp') {
      const row = step.row;
      out.push(`-- unstamp ${row.version}_${row.name}: removed from the history; nothing of it is reverted.`);
      const remove = inlineParams(deleteHistorySql(t), [row.key]);
      if (input.history.assumed) {
        // How the row was recorded is not known without the database: the log entry reads it before the row goes.
        const how = new SqlExpression(`(SELECT how FROM ${t.history} WHERE version = ${quoteLiteral(row.key)})`);
        out.push(inlineParams(insertLogSql(t), logValues('unstamp', { version: row.version, name: row.name, checksum: row.upChecksum, how, durationMs: null })), remove, '');
      } else {
        out.push(remove, inlineParams(insertLogSql(t), logValues('unstamp', { version: row.version, name: row.name, checksum: row.upChecksum, how: row.how, durationMs: null })), '');
      }
    }
  }
  out.push('COMMIT;');
  return out;
}

/** Stops the script, changing nothing, unless the history holds exactly the rows the plan was made from. */
function renderHistoryCheck(input: RenderInput): string[] {
  const t = input.tables;
  const rows = [...input.history.rows].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const expected = rows.map((r) => `${r.key} ${r.state} ${r.upChecksum}`);
  const described = rows.length === 0 ? 'no version recorded' : `${rows.length} version${rows.length === 1 ? '' : 's'} recorded, current ${input.plan.from}`;
  const regenerate = input.request ? input.request.replace(/\s--from\s+\S+/, '') : `pgpair ${input.plan.command} --sql`;
  const lines = expected.length === 0 ? `'{}'::text[]` : `ARRAY[\n    ${expected.map(quoteLiteral).join(',\n    ')}\n  ]::text[]`;
  return [
    `-- Check that ${t.display} holds exactly the history this script was made for (${described}),`,
    '-- as "version state up_checksum"; otherwise stop here without changing anything (a second run, or a',
    '-- database that moved on since the script was generated).',
    'DO $pgpair_check$',
    'DECLARE',
    `  expected text[] := ${lines};`,
    `  recorded text[] := '{}';`,
    'BEGIN',
    `  IF to_regclass(${quoteLiteral(t.history)}) IS NOT NULL THEN`,
    `    SELECT coalesce(array_agg(version || ' ' || state || ' ' || up_checksum ORDER BY version COLLATE "C"), '{}')`,
    `      INTO recorded FROM ${t.history};`,
    '  END IF;',
    '  IF recorded IS DISTINCT FROM expected THEN',
    `    RAISE EXCEPTION 'pgpair script: the history in % is not the one this script was generated for; nothing was changed', ${quoteLiteral(t.display)}`,
    `      USING DETAIL = format('expected %s, found %s', expected, recorded),`,
    `            HINT = ${quoteLiteral(`Run pgpair status to see where the database stands, then generate a new script (${regenerate}).`)};`,
    '  END IF;',
    'END',
    '$pgpair_check$;',
  ];
}

function modeNote(analysis: FileAnalysis): string {
  if (analysis.mode === 'transaction') return 'in a transaction';
  return `outside a transaction: ${analysis.reason}`;
}

function header(input: RenderInput): string[] {
  const { plan, tables } = input;
  const verb = { up: 'apply', down: 'revert', stamp: 'record' }[plan.command];
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const stamped = plan.steps.filter((s) => s.action === 'stamp').length;
  const unstamped = plan.steps.length - stamped;
  const what =
    plan.steps.length === 0
      ? `nothing to ${verb}: it only checks the history${input.history.tableExists === true ? '' : ' and creates the history table if missing'}`
      : plan.command === 'stamp'
        ? [stamped > 0 ? `stamp ${count(stamped, 'version')}` : '', unstamped > 0 ? `unstamp ${count(unstamped, 'version')}` : ''].filter(Boolean).join(', ')
        : `${verb} ${count(plan.steps.length, 'migration')}`;
  const out = [
    RULE,
    `-- pgpair ${plan.command}: from ${plan.from ?? 'base'} to ${plan.to ?? 'base'} (${what}).`,
    `-- Generated ${input.generatedAt.toISOString()} by pgpair ${PGPAIR_VERSION}${input.request ? ` (${input.request})` : ''}.`,
    `-- Starting state: ${input.source}.`,
    `-- History table: ${tables.display}${tables.schema === null ? ' (unqualified: resolved in the current schema of the session that runs this; pass --table schema.name to pin it)' : ''}, log ${tables.schema === null ? '' : `${tables.schema}.`}${tables.logName}.`,
    '--',
    '-- Run it against the database it was generated for, as is:',
    '--   psql -X -v ON_ERROR_STOP=1 -f THIS_FILE',
    '-- (not with --single-transaction: each migration has its own transaction, and some run outside one).',
    '--',
    '-- It takes pgpair\'s migration lock, so a pgpair run and this script never interleave; stops before',
    '-- changing anything unless the history is exactly the one it was generated for;',
    `${input.history.tableExists === true ? '' : '-- creates the history table and its log if they do not exist;\n'}-- then runs each step and records it in the history (how = '${plan.command === 'stamp' ? 'stamped' : 'script'}') and the log, like pgpair ${plan.command} does.`,
  ];
  if (plan.steps.length > 0) {
    out.push('--', '-- Steps:');
    for (const step of plan.steps) {
      const file = fileOf(step);
      const note = step.action === 'up' || step.action === 'down' ? ` (${modeNote(input.analyze(file!))})` : '';
      out.push(`--   ${step.action} ${stepLabel(step)}${file && step.action !== 'stamp' ? `  ${file.path}` : ''}${note}`);
    }
  }
  out.push(RULE);
  return out;
}

/** Problems in the files about to run, all reported before anything is rendered, as the executor checks before it runs. */
function checkFiles(input: RenderInput): void {
  const problems: FileProblem[] = [];
  for (const step of input.plan.steps) {
    if (step.action === 'up' || step.action === 'down') problems.push(...input.analyze(fileOf(step)!).problems);
  }
  if (problems.length > 0) {
    const first = input.plan.steps[0];
    const dir = first && first.action !== 'unstamp' ? first.migration.up.path.replace(/\/[^/]*$/, '') : '.';
    throw new DirectoryError(dir, problems);
  }
}

/**
 * The script for a plan. Throws DirectoryError when a file about to run has
 * problems (psql meta-commands, unterminated quotes or COPY data), as the
 * executor would before running anything. A plan that runs a large file
 * needs renderScriptParts.
 */
export function renderScript(input: RenderInput): string {
  const parts = renderScriptParts(input);
  if (parts.some((part) => typeof part !== 'string')) throw new Error('the plan runs a large file, whose COPY data is not held: render it with renderScriptParts');
  return parts.join('');
}

/**
 * renderScript in parts: the script is the parts one after the other, the
 * COPY data of large files read from them. Only text when no large file runs.
 */
export function renderScriptParts(input: RenderInput): ScriptPart[] {
  checkFiles(input);
  const { plan, tables } = input;
  const key = lockKeySql(tables);
  const out: Line[] = [...header(input), '', '\\set ON_ERROR_STOP on', "SET client_encoding = 'UTF8';", ''];
  out.push(
    `-- Take pgpair's migration lock on ${tables.display} (waiting at most ${input.lockTimeoutMs} ms); it is released at the end, or when psql exits.`,
    `SET lock_timeout = ${quoteLiteral(`${input.lockTimeoutMs}ms`)};`,
    `SELECT pg_advisory_lock(${key});`,
    'RESET lock_timeout;',
    '',
  );
  out.push(...renderHistoryCheck(input), '');
  if (input.history.tableExists !== true) {
    out.push(`-- Create the history table ${tables.display} and its append-only log, if they do not exist yet.`, 'BEGIN;', createHistorySql(tables).trimEnd(), 'COMMIT;', '');
  }
  if (plan.command === 'stamp') {
    if (plan.steps.length > 0) out.push(RULE, ...renderStamp(input, plan.steps), '');
  } else {
    for (const step of plan.steps) {
      if (step.action !== 'up' && step.action !== 'down') throw new Error(`unexpected ${step.action} step in a ${plan.command} plan`);
      const file = fileOf(step)!;
      const analysis = input.analyze(file);
      out.push(RULE, `-- ${step.action} ${stepLabel(step)}: ${file.path}`);
      out.push(...(analysis.mode === 'transaction' ? renderTransactional(input, step.migration, step.action, file, analysis) : renderOutside(input, step.migration, step.action, file, analysis)), '');
    }
  }
  out.push(RULE, `-- Done: ${plan.command} from ${plan.from ?? 'base'} to ${plan.to ?? 'base'}. Release the migration lock.`, `SELECT pg_advisory_unlock(${key});`, '');
  return joinLines(out);
}

/** The lines joined with '\n', as parts: text runs joined into one string, large COPY data in between. */
function joinLines(lines: Line[]): ScriptPart[] {
  if (lines.every((line) => typeof line === 'string')) return [lines.join('\n')];
  const parts: ScriptPart[] = [];
  let run: string[] = [];
  for (const line of lines) {
    if (typeof line === 'string') {
      run.push(line);
      continue;
    }
    // A line in parts: its text before the data ends the run, the text after it starts the next.
    for (const [index, part] of line.entries()) {
      if (typeof part !== 'string') {
        parts.push(run.join('\n'));
        parts.push(part);
        run = [];
      } else if (index === 0) {
        run.push(part);
      } else {
        run.push(`${run.pop() ?? ''}${part}`);
      }
    }
  }
  parts.push(run.join('\n'));
  return parts;
}
