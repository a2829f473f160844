/**
 * Pure: a Plan → one psql script that does what the executor would do with
 * it. `pgpair up|down|stamp --sql` prints this text for a DBA to review and
 * run with `psql -X -v ON_ERROR_STOP=1 -f FILE`.
 *
 * The script is the other runner of the same program (lib/core/program.ts):
 * script-ops.ts prints its operations, the ones the executor runs. This file
 * writes what only a script needs around them: the header, the preflight,
 * pgpair's lock, the check that the history is the one the plan was made from
 * (under that lock, before anything changes), and the history table.
 */
import type { FileAnalysis } from './analyze.js';
import type { MigrationFile } from './files.js';
import { createHistorySql, type HistoryRow, type HistoryTables } from './history.js';
import { quoteLiteral } from './ident.js';
import { dollarQuote } from './literal.js';
import { PGPAIR_VERSION } from './meta.js';
import type { Plan, Step } from './plan.js';
import { programOf } from './program.js';
import { checkScript } from './script-check.js';
import { renderMigrationBlock, renderStampBlock } from './script-ops.js';
import { SCHEMA_VARIABLE, scriptTables, type ScriptTables } from './script-tables.js';
import { c, isPlain, joinLines, OwnMetaCommand, RULE, Sampled, type Line, type ScriptPart } from './script-text.js';

export { inlineParams, sqlLiteral } from './literal.js';
export { commentText, type ScriptPart } from './script-text.js';
export { lockKeySql } from './script-tables.js';

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
     * true when the rows were not read but assumed (`--from`). The script is the same either way:
     * what a row holds beyond version, state and checksum (how it was recorded) is read by the
     * script's own statements, as a run's (lib/core/program.ts).
     */
    assumed: boolean;
    /** Whether the history table exists; null when unknown. Unless true, the script creates it if missing. */
    tableExists: boolean | null;
  };
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

function stepLabel(step: Step): string {
  return step.action === 'unstamp' ? `${step.row.version}_${step.row.name}` : `${step.migration.version}_${step.migration.name}`;
}

function fileOf(step: Step): MigrationFile | null {
  if (step.action === 'up' || step.action === 'down') return step.file;
  if (step.action === 'stamp') return step.migration.up;
  return null;
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
      const note = step.action === 'up' || step.action === 'down' ? ` (${modeNote(file!.analysis)})` : '';
      out.push(`--   ${step.action} ${c(stepLabel(step))}${file && step.action !== 'stamp' ? `  ${c(file.path)}` : ''}${c(note)}`);
    }
  }
  out.push(RULE);
  return out;
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
  const blocks = programOf(plan, {
    tables: st.tables,
    how: 'script',
    ...(input.statementTimeoutMs !== undefined ? { statementTimeoutMs: input.statementTimeoutMs } : {}),
    ...(input.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: input.migrationLockTimeoutMs } : {}),
  });
  const checkedOfKind = new Map<string, number>();
  const plainTables = [input.tables.display, input.tables.logName].every(isPlain);
  for (const block of blocks) {
    if (block.kind === 'stamp') {
      out.push(RULE, ...renderStampBlock(block), '');
      continue;
    }
    const { step, file, analysis } = block;
    // The first steps of each kind are checked whole; later ones too unless every value they hold is plain.
    const kind = `${step.action} ${block.mode}`;
    const checked = checkedOfKind.get(kind) ?? 0;
    const sampled = checked >= 2 && plainTables && [file.path, step.migration.version, step.migration.name, file.checksum, analysis.reason ?? ''].every(isPlain);
    if (!sampled) checkedOfKind.set(kind, checked + 1);
    out.push(new Sampled(sampled), RULE, `-- ${step.action} ${c(stepLabel(step))}: ${c(file.path)}`, ...renderMigrationBlock(st, block), '', new Sampled(false));
  }
  out.push(RULE, `-- Done: ${plan.command} from ${c(plan.from ?? 'base')} to ${c(plan.to ?? 'base')}. Release the migration lock.`, ...st.pin, `SELECT pg_advisory_unlock(${key});`, '');
  checkScript(plan, out);
  return joinLines(out);
}
