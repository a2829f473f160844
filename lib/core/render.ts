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
import { quoteIdent, quoteLiteral } from './ident.js';
import { dollarQuote, inlineParams, SqlExpression } from './literal.js';

export { inlineParams, sqlLiteral } from './literal.js';
import { splitStatements, type CopyDataLocation } from './lexer.js';
import { LOCK_KEY_SQL } from './session-state.js';
import { PGPAIR_VERSION } from './meta.js';
import type { Plan, Step } from './plan.js';
import { beforeCommitGuardSql, CAPTURE_TRANSACTION_ID_SQL, lockGuardSql, markTransactionSql, restoreSessionSql, TRANSACTION_ID_VARIABLE } from './session-state.js';

export interface RenderInput {
  plan: Plan;
  tables: HistoryTables;
  /**
   * Whether a missing schema of the history table is created with it (`--create-schema`), as a
   * run does; without it, a script on a database without that schema stops there, changing nothing.
   */
  createSchema?: boolean;
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

/**
 * One of pgpair's own psql meta-commands (`\set ON_ERROR_STOP on`, `\gset`): the only ones a script
 * may hold. `standIn` is text that psql and pgpair's lexer read the same way, with no meta-command,
 * for the check that nothing else in the script is one (checkScript).
 */
class OwnMetaCommand {
  constructor(
    readonly text: string,
    readonly standIn: string,
  ) {}
}

/** Marks where the text written for a statement of a migration file begins (or, with file null, where pgpair's own text resumes). */
class Origin {
  constructor(
    readonly file: string | null,
    readonly line?: number,
  ) {}
}

/**
 * Lines between Sampled(true) and Sampled(false) are left out of checkScript: a step like others
 * already checked, every value in it plain (see renderScriptParts), so that the check costs little
 * for a release of thousands of plain migrations.
 */
class Sampled {
  constructor(readonly skip: boolean) {}
}

/** A line of the script; the COPY of a large file is its command, its data and `\.`. */
type Line = string | ScriptPart[] | OwnMetaCommand | Origin | Sampled;

// ---------------------------------------------------------------------------------------------
// Text pgpair writes into a script: comments on one line, values as literals, names as quoted
// identifiers. psql ends a `--` comment at a line feed or a carriage return and then reads a
// backslash anywhere on the next line as a meta-command (`\! rm -rf`), so a name that holds one
// must never reach a comment as is.

/** Characters escaped in comments: ASCII controls (CR and LF end a comment for psql), C1 controls and the Unicode line separators. */
const NOT_IN_COMMENTS = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

/** Text for a `--` comment: one line whatever it holds; a control character is written as an escape (\n, \r, \t, \x07, \u2028). */
export function commentText(text: string): string {
  return text.replace(NOT_IN_COMMENTS, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

const c = commentText;

// ---------------------------------------------------------------------------------------------
// The history table's schema. Known when the script is made from the database or for
// `--table schema.name`; otherwise (`--from`, no schema) it is resolved once, when the script
// starts and before any migration runs, as the session's current schema, exactly as a pgpair
// run resolves it when it connects. It is then held in a psql variable (plain statements name the
// tables as :"pgpair_history_schema"."name", which psql quotes as an identifier), and carried into
// DO blocks, where psql interpolates no variable, in a session setting set again right before each
// use, since RESET ALL (the migration's or the script's own) clears it.

/** The psql variable holding the resolved schema. */
const SCHEMA_VARIABLE = 'pgpair_history_schema';
/** The session setting that carries it into DO blocks. */
const SCHEMA_SETTING = 'pgpair.history_schema';

interface ScriptTables {
  /** The names as plain statements of the script write them. */
  tables: HistoryTables;
  /** Whether the schema is resolved when the script runs. */
  resolved: boolean;
  /** The schema, as a server-side SQL expression of type text that holds no psql variable (usable in DO blocks). */
  schemaValue: string;
  /** The history table's `schema.table`, the same way: the lock key's text. */
  displayValue: string;
  /** The lock key, computed by the server as lib/lock.ts computes it, from displayValue. */
  lockKey: string;
  /** Statements that must run right before schemaValue, displayValue or lockKey is used (empty when the schema is known). */
  pin: string[];
  /** For comments: the history table and its log as named in the script. */
  displayHistory: string;
  displayLog: string;
}

/** LOCK_KEY_SQL with its $1 written as `display` (not String.replace, which reads `$'` and `$&` in a replacement). */
function lockKeyOf(display: string): string {
  return LOCK_KEY_SQL.split('$1').join(display);
}

function scriptTables(t: HistoryTables): ScriptTables {
  if (t.schema !== null) {
    return {
      lockKey: lockKeyOf(quoteLiteral(t.display)),
      tables: t,
      resolved: false,
      schemaValue: quoteLiteral(t.schema),
      displayValue: quoteLiteral(t.display),
      pin: [],
      displayHistory: t.display,
      displayLog: `${t.schema}.${t.logName}`,
    };
  }
  const schemaSql = `:"${SCHEMA_VARIABLE}"`;
  const schemaValue = `current_setting(${quoteLiteral(SCHEMA_SETTING)})`;
  return {
    lockKey: lockKeyOf(`${schemaValue} || ${quoteLiteral(`.${t.historyName}`)}`),
    tables: { ...t, schemaSql, history: `${schemaSql}.${quoteIdent(t.historyName)}`, log: `${schemaSql}.${quoteIdent(t.logName)}` },
    resolved: true,
    schemaValue,
    displayValue: `${schemaValue} || ${quoteLiteral(`.${t.historyName}`)}`,
    pin: [`SELECT set_config(${quoteLiteral(SCHEMA_SETTING)}, :'${SCHEMA_VARIABLE}', false) AS "history schema";`],
    displayHistory: `<current schema>.${t.historyName}`,
    displayLog: `<current schema>.${t.logName}`,
  };
}

/**
 * The lock key, computed by the server exactly as lib/lock.ts computes it. With the schema not
 * known when the script is made, from the schema the script resolved when it started (see
 * scriptTables; the setting must be pinned right before).
 */
export function lockKeySql(t: HistoryTables): string {
  return scriptTables(t).lockKey;
}

/** Measured by the server in a transactional step: from BEGIN to now. */
const TRANSACTION_DURATION = new SqlExpression('(1000 * extract(epoch FROM clock_timestamp() - transaction_timestamp()))::integer');
/** Measured by the server at the end of a non-transactional up: since its `running` row was written. */
const SINCE_RUNNING_ROW = new SqlExpression('(1000 * extract(epoch FROM clock_timestamp() - applied_at))::integer');

/**
 * pgpair's own settings, set again after each RESET ALL: the script is UTF-8 (a session that
 * started in another client encoding goes back to it on RESET ALL).
 */
const OWN_SETTINGS: [string, string][] = [['client_encoding', 'UTF8']];

const RULE = `-- ${'-'.repeat(76)}`;

function stepLabel(step: Step): string {
  return step.action === 'unstamp' ? `${step.row.version}_${step.row.name}` : `${step.migration.version}_${step.migration.name}`;
}

function fileOf(step: Step): MigrationFile | null {
  if (step.action === 'up' || step.action === 'stamp') return step.migration.up;
  if (step.action === 'down') return step.migration.down;
  return null;
}

/**
 * Comment lines from the text between statements (the file's own comments), as comments; anything
 * else there is dropped. A CR ends a line as psql reads it, so it splits lines here too.
 */
function commentLines(gap: string): string[] {
  return gap
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('--'))
    .map(commentText);
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
function renderStatements(file: MigrationFile, analysis: FileAnalysis, after?: (done: number) => string[]): Line[] {
  const out: Line[] = [];
  let cursor = 0;
  for (const [index, statement] of analysis.statements.entries()) {
    out.push(...commentLines(textBetween(file, cursor, statement.offset)));
    out.push(`-- ${c(file.path)}:${statement.line}`);
    const text = statement.text.endsWith(';') ? statement.text : `${statement.text};`;
    const copyData = statement.copyData;
    // The `\.` line ends as in the file: psql sends it, and the server wants it to end like the data lines.
    const terminator = copyData?.terminator ?? '\\.';
    out.push(new Origin(file.path, statement.line));
    out.push(!copyData ? text : copyData.location ? [`${text}\n`, { file, copyData: copyData.location }, terminator] : `${text}\n${copyData.text}${terminator}`);
    out.push(new Origin(null));
    if (after) out.push(...after(index + 1));
    out.push('');
    cursor = endOf(file, statement);
  }
  const trailing = commentLines(textBetween(file, cursor));
  if (trailing.length > 0) out.push(...trailing, '');
  if (analysis.statements.length === 0) out.push(`-- (${c(file.path)} holds no statement: a no-op)`, '');
  return out;
}

function setGuards(input: RenderInput, local: boolean): string[] {
  return guardSettings(input).map(([name, value]) => inlineParams(SET_GUARD_SQL, [name, value, local]));
}

function resetGuards(input: RenderInput): string[] {
  return guardSettings(input).map(([name]) => `RESET ${name};`);
}


/** Puts the session back as the script started it, as a new psql session would be (lib/session-state.ts), and pgpair's own settings. */
function restoreSession(): string[] {
  return [restoreSessionSql(null, OWN_SETTINGS)];
}

/** A transactional up or down: statements, history change and log entry between BEGIN and COMMIT, as runInTransaction does. */
function renderTransactional(input: RenderInput, st: ScriptTables, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis): Line[] {
  const t = st.tables;
  const out: Line[] = [
    '-- Runs in one transaction together with its history row and log entry: all of it or none of it.',
    'BEGIN;',
    new OwnMetaCommand(`${CAPTURE_TRANSACTION_ID_SQL} \\gset`, `${CAPTURE_TRANSACTION_ID_SQL} ;`),
    ...setGuards(input, true),
    '',
  ];
  out.push(...renderStatements(file, analysis));
  out.push(
    '-- Before it is recorded: the transaction must still be pgpair\'s and the migration lock still held; then the',
    '-- session goes back to how the script started it (role, search_path, settings), as a new psql session would be.',
    ...st.pin,
    markTransactionSql(`:'${TRANSACTION_ID_VARIABLE}'`),
    beforeCommitGuardSql(st.lockKey),
    ...restoreSession(),
  );
  out.push(
    direction === 'up'
      ? inlineParams(insertHistorySql(t), historyValues(migration, 'script', { durationMs: TRANSACTION_DURATION }))
      : inlineParams(deleteHistorySql(t), [migration.key]),
  );
  out.push(inlineParams(insertLogSql(t), logValues(direction, { version: migration.version, name: migration.name, checksum: file.checksum, how: 'script', durationMs: TRANSACTION_DURATION })));
  out.push('COMMIT;');
  return out;
}

/** A non-transactional (or own-transaction) up or down, statement by statement with its progress recorded, as runOutsideTransaction does. */
function renderOutside(input: RenderInput, st: ScriptTables, migration: Migration, direction: 'up' | 'down', file: MigrationFile, analysis: FileAnalysis): Line[] {
  const t = st.tables;
  const total = analysis.statements.length;
  // The lock half of the guard: stops the script, before its progress is recorded, when a statement released the lock.
  const lockCheck = lockGuardSql(st.lockKey);
  const out: Line[] = [
    `-- Runs outside any transaction, statement by statement, because ${c(analysis.reason ?? 'it must')}.`,
    `-- Its history row says 'running' until the last statement is done. If psql stops in between, the statements`,
    `-- before stay done and pgpair status shows ${c(migration.version)} as failed: finish or undo it by hand, then run`,
    `-- pgpair repair --applied ${c(migration.version)} or pgpair repair --reverted ${c(migration.version)}.`,
    `-- After each statement, the script checks that the migration lock is still held, then records its progress.`,
    direction === 'up'
      ? inlineParams(insertHistorySql(t), historyValues(migration, 'script', { state: 'running', transactional: false, done: 0, total }))
      : inlineParams(markRunningSql(t), [migration.key, total]),
    ...setGuards(input, false),
    '',
  ];
  out.push(...renderStatements(file, analysis, (done) => [...st.pin, lockCheck, inlineParams(progressSql(t), [migration.key, done])]));
  out.push(...resetGuards(input));
  out.push('-- The session goes back to how the script started it (role, search_path, settings), as a new psql session would be.', ...restoreSession());
  out.push('-- Done: record it.', 'BEGIN;');
  out.push(direction === 'up' ? inlineParams(markOkSql(t), [migration.key, total, SINCE_RUNNING_ROW]) : inlineParams(deleteHistorySql(t), [migration.key]));
  out.push(inlineParams(insertLogSql(t), logValues(direction, { version: migration.version, name: migration.name, checksum: file.checksum, how: 'script', durationMs: null, detail: analysis.reason })));
  out.push('COMMIT;');
  return out;
}

/** Stamp and unstamp steps: rows only, all in one transaction, as runStamp does. */
function renderStamp(input: RenderInput, st: ScriptTables, steps: Step[]): string[] {
  const t = st.tables;
  const out = ['-- Records rows only (no migration SQL runs), all in one transaction.', 'BEGIN;', ''];
  for (const step of steps) {
    if (step.action === 'stamp') {
      const m = step.migration;
      const transactional = input.analyze(m.up).mode === 'transaction';
      out.push(`-- stamp ${c(`${m.version}_${m.name}`)}: recorded as applied; ${c(m.up.path)} is not run.`);
      out.push(inlineParams(insertHistorySql(t), historyValues(m, 'stamped', { transactional })));
      out.push(inlineParams(insertLogSql(t), logValues('stamp', { version: m.version, name: m.name, checksum: m.up.checksum, how: 'stamped', durationMs: null })), '');
    } else if (step.action === 'unstamp') {
      const row = step.row;
      out.push(`-- unstamp ${c(`${row.version}_${row.name}`)}: removed from the history; nothing of it is reverted.`);
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
function renderHistoryCheck(input: RenderInput, st: ScriptTables): string[] {
  const t = input.tables;
  const rows = [...input.history.rows].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const expected = rows.map((r) => `${r.key} ${r.state} ${r.upChecksum}`);
  const described = rows.length === 0 ? 'no version recorded' : `${rows.length} version${rows.length === 1 ? '' : 's'} recorded, current ${input.plan.from}`;
  const regenerate = input.request ? input.request.replace(/\s--from\s+\S+/, '') : `pgpair ${input.plan.command} --sql`;
  const lines = expected.length === 0 ? `'{}'::text[]` : `ARRAY[\n    ${expected.map(quoteLiteral).join(',\n    ')}\n  ]::text[]`;
  // The body holds values read from the database: dollarQuote picks a tag that none of them holds.
  const body = [
    'DECLARE',
    `  history text := format('%I.%I', ${st.schemaValue}, ${quoteLiteral(t.historyName)});`,
    `  expected text[] := ${lines};`,
    `  recorded text[] := '{}';`,
    'BEGIN',
    '  IF to_regclass(history) IS NOT NULL THEN',
    `    EXECUTE 'SELECT coalesce(array_agg(version || '' '' || state || '' '' || up_checksum ORDER BY version COLLATE "C"), ''{}'') FROM ' || history`,
    '      INTO recorded;',
    '  END IF;',
    '  IF recorded IS DISTINCT FROM expected THEN',
    `    RAISE EXCEPTION 'pgpair script: the history in % is not the one this script was generated for; nothing was changed', ${st.displayValue}`,
    `      USING DETAIL = format('expected %s, found %s', expected, recorded),`,
    `            HINT = ${quoteLiteral(`Run pgpair status to see where the database stands, then generate a new script (${regenerate}).`)};`,
    '  END IF;',
    'END',
  ].join('\n');
  return [
    `-- Check that ${c(st.displayHistory)} holds exactly the history this script was made for (${c(described)}),`,
    '-- as "version state up_checksum"; otherwise stop here without changing anything (a second run, or a',
    '-- database that moved on since the script was generated).',
    `DO ${dollarQuote(body, 'pgpair_check')};`,
  ];
}

/**
 * Stops the script before anything else unless the session reads it as pgpair wrote it
 * (standard_conforming_strings on: with it off from the start, psql would read the migrations'
 * strings, and so their statements, differently from pgpair's lexer, and every RESET ALL would
 * turn it off again) and, when the schema is resolved here, has a current schema.
 */
function renderPreflight(input: RenderInput, st: ScriptTables): Line[] {
  const t = input.tables;
  const body = [
    'BEGIN',
    "  IF current_setting('standard_conforming_strings') <> 'on' THEN",
    `    RAISE EXCEPTION USING MESSAGE = 'pgpair script: standard_conforming_strings is off in this session, so psql would read the strings in the migrations differently from pgpair; nothing was changed',`,
    `      HINT = 'Run it with standard_conforming_strings on: PGOPTIONS=''-c standard_conforming_strings=on'' psql -X -v ON_ERROR_STOP=1 -f FILE';`,
    '  END IF;',
    ...(st.resolved
      ? [
          '  IF current_schema() IS NULL THEN',
          `    RAISE EXCEPTION USING MESSAGE = ${quoteLiteral(`pgpair script: the session has no current schema (its search_path names no existing schema), so the history table ${t.historyName} has nowhere to go; nothing was changed`)},`,
          `      HINT = ${quoteLiteral(`Set a search_path that names an existing schema, or generate the script with --table schema.${t.historyName}.`)};`,
          '  END IF;',
        ]
      : []),
    'END',
  ].join('\n');
  const out: Line[] = [
    st.resolved
      ? `-- This session must read the script as pgpair wrote it, and have a current schema: the history table goes there.`
      : '-- This session must read the script as pgpair wrote it.',
    `DO ${dollarQuote(body)};`,
  ];
  if (st.resolved) {
    out.push(
      `-- The schema of ${c(t.historyName)}, resolved once, before any migration can change search_path: every history and log`,
      `-- statement below names it (:"${SCHEMA_VARIABLE}"), as pgpair does with the current schema of its connection.`,
      new OwnMetaCommand(`SELECT current_schema() AS ${SCHEMA_VARIABLE} \\gset`, `SELECT current_schema() AS ${SCHEMA_VARIABLE} ;`),
    );
  }
  out.push('');
  return out;
}

function modeNote(analysis: FileAnalysis): string {
  if (analysis.mode === 'transaction') return 'in a transaction';
  return `outside a transaction: ${analysis.reason}`;
}

function header(input: RenderInput, st: ScriptTables): string[] {
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
    `-- pgpair ${plan.command}: from ${c(plan.from ?? 'base')} to ${c(plan.to ?? 'base')} (${what}).`,
    `-- Generated ${input.generatedAt.toISOString()} by pgpair ${PGPAIR_VERSION}${input.request ? ` (${c(input.request)})` : ''}.`,
    `-- Starting state: ${c(input.source)}.`,
    st.resolved
      ? `-- History table: ${c(tables.historyName)} in the current schema of the session that runs this (resolved when it starts; pass --table schema.name to pin it), log ${c(tables.logName)}.`
      : `-- History table: ${c(tables.display)}, log ${c(st.displayLog)}.`,
    '--',
    '-- Run it against the database it was generated for, as is:',
    '--   psql -X -v ON_ERROR_STOP=1 -f THIS_FILE',
    '-- (not with --single-transaction: each migration has its own transaction, and some run outside one).',
    '--',
    '-- It takes pgpair\'s migration lock, so a pgpair run and this script never interleave; stops before',
    '-- changing anything unless the history is exactly the one it was generated for;',
    ...(input.history.tableExists === true ? [] : ['-- creates the history table and its log if they do not exist;']),
    `-- then runs each step and records it in the history (how = '${plan.command === 'stamp' ? 'stamped' : 'script'}') and the log, like pgpair ${plan.command} does.`,
    '-- Each migration starts from the session the script started with (role, search_path, settings), as if',
    '-- psql ran each file in a new session.',
  ];
  if (plan.steps.length > 0) {
    out.push('--', '-- Steps:');
    for (const step of plan.steps) {
      const file = fileOf(step);
      const note = step.action === 'up' || step.action === 'down' ? ` (${modeNote(input.analyze(file!))})` : '';
      out.push(`--   ${step.action} ${c(stepLabel(step))}${file && step.action !== 'stamp' ? `  ${c(file.path)}` : ''}${c(note)}`);
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
    throw new DirectoryError(directoryOf(input), problems);
  }
}

function directoryOf(input: RenderInput): string {
  const first = input.plan.steps[0];
  return first && first.action !== 'unstamp' ? first.migration.up.path.replace(/\/[^/]*$/, '') : '.';
}

/**
 * Defence in depth: the whole script, read by pgpair's lexer as psql reads it, must hold no
 * meta-command but pgpair's own and no unterminated quote or comment. Whatever a name, a path, a
 * history row or a file holds, a script in which psql would find a `\!` is never written.
 * The COPY data of large files is left out (psql reads it as data up to the `\.` line).
 */
function checkScript(input: RenderInput, lines: readonly Line[]): void {
  let text = '';
  let lineNumber = 1;
  let origin = new Origin(null);
  const origins: { from: number; origin: Origin }[] = [];
  const add = (piece: string) => {
    text += piece;
    for (let at = piece.indexOf('\n'); at !== -1; at = piece.indexOf('\n', at + 1)) lineNumber++;
  };
  let first = true;
  let skipping = false;
  for (const line of lines) {
    if (line instanceof Sampled) {
      skipping = line.skip;
      continue;
    }
    if (line instanceof Origin) {
      origin = line;
      origins.push({ from: lineNumber + (first ? 0 : 1), origin });
      continue;
    }
    if (!first) add('\n');
    first = false;
    // A step left out keeps its lines, as empty ones, so that line numbers stay the script's.
    if (skipping) add(typeof line === 'string' ? line.replace(/[^\n]+/g, '') : '');
    else if (typeof line === 'string') add(line);
    else if (line instanceof OwnMetaCommand) add(line.standIn);
    else for (const part of line) if (typeof part === 'string') add(part);
  }
  const problems = splitStatements(text).problems;
  if (problems.length === 0) return;
  const found: FileProblem[] = problems.map((problem) => {
    let where = new Origin(null);
    for (const entry of origins) if (entry.from <= problem.line) where = entry.origin;
    const what = `${problem.message.replace(/ is not supported: .*$/, '')} at line ${problem.line} of the --sql script`;
    return where.file !== null
      ? {
          file: where.file,
          ...(where.line !== undefined ? { line: where.line } : {}),
          message: `psql would read ${what}, in the statement written from this file, and so run more than its SQL; the script was not written. pgpair's lexer and psql disagree about this statement: rewrite it, run pgpair ${input.plan.command} instead of a script, and report it`,
        }
      : {
          file: directoryOf(input),
          message: `psql would read ${what}, in text pgpair wrote itself; the script was not written. This is a pgpair bug: run pgpair ${input.plan.command} instead of a script, and report it`,
        };
  });
  throw new DirectoryError(directoryOf(input), found);
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
  const { plan } = input;
  const st = scriptTables(input.tables);
  const key = st.lockKey;
  const out: Line[] = [...header(input, st), '', new OwnMetaCommand('\\set ON_ERROR_STOP on', '-- ON_ERROR_STOP'), "SET client_encoding = 'UTF8';", ''];
  out.push(...renderPreflight(input, st));
  out.push(
    `-- Take pgpair's migration lock on ${c(st.displayHistory)} (waiting at most ${input.lockTimeoutMs} ms); it is released at the end, or when psql exits.`,
    `SET lock_timeout = ${quoteLiteral(`${input.lockTimeoutMs}ms`)};`,
    ...st.pin,
    `SELECT pg_advisory_lock(${key});`,
    'RESET lock_timeout;',
    '',
  );
  out.push(...renderHistoryCheck(input, st), '');
  if (input.history.tableExists !== true) {
    out.push(`-- Create the history table ${c(st.displayHistory)} and its append-only log, if they do not exist yet.`, 'BEGIN;', createHistorySql(st.tables, { createSchema: input.createSchema ?? false }).trimEnd(), 'COMMIT;', '');
  }
  if (plan.command === 'stamp') {
    if (plan.steps.length > 0) out.push(RULE, ...renderStamp(input, st, plan.steps), '');
  } else {
    const checkedOfKind = new Map<string, number>();
    const plainTables = [input.tables.display, input.tables.logName].every(isPlain);
    for (const step of plan.steps) {
      if (step.action !== 'up' && step.action !== 'down') throw new Error(`unexpected ${step.action} step in a ${plan.command} plan`);
      const file = fileOf(step)!;
      const analysis = input.analyze(file);
      // The first steps of each kind are checked whole; later ones too unless every value they hold is plain.
      const kind = `${step.action} ${analysis.mode}`;
      const checked = checkedOfKind.get(kind) ?? 0;
      const sampled = checked >= 2 && plainTables && [file.path, step.migration.version, step.migration.name, file.checksum, analysis.reason ?? ''].every(isPlain);
      if (!sampled) checkedOfKind.set(kind, checked + 1);
      out.push(new Sampled(sampled), RULE, `-- ${step.action} ${c(stepLabel(step))}: ${c(file.path)}`);
      out.push(
        ...(analysis.mode === 'transaction'
          ? renderTransactional(input, st, step.migration, step.action, file, analysis)
          : renderOutside(input, st, step.migration, step.action, file, analysis)),
        '',
        new Sampled(false),
      );
    }
  }
  out.push(RULE, `-- Done: ${plan.command} from ${c(plan.from ?? 'base')} to ${c(plan.to ?? 'base')}. Release the migration lock.`, ...st.pin, `SELECT pg_advisory_unlock(${key});`, '');
  checkScript(input, out);
  return joinLines(out);
}

/** Text that cannot break out of anything it is written into: ASCII letters, digits and a little punctuation. */
function isPlain(text: string): boolean {
  return /^[\w.,:+\-/ ()]*$/.test(text);
}

/** The lines joined with '\n', as parts: text runs joined into one string, large COPY data in between. */
function joinLines(lines: Line[]): ScriptPart[] {
  const parts: ScriptPart[] = [];
  let run: string[] = [];
  for (const line of lines) {
    if (line instanceof Origin || line instanceof Sampled) continue;
    if (typeof line === 'string' || line instanceof OwnMetaCommand) {
      run.push(typeof line === 'string' ? line : line.text);
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
