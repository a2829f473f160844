/**
 * Pure: prints the program (lib/core/program.ts) as psql text, block by block,
 * the operations the executor runs on a connection: migration statements as
 * the lexer split them (after a `-- FILE:LINE` marker and the file's own
 * comments), pgpair's checks and records with their values inlined as literals,
 * a duration as the server-side expression the program gives for it.
 */
import { bindElapsed, type MigrationBlock, type Op, type StampBlock } from './program.js';
import type { MigrationFile } from './files.js';
import { SET_GUARD_SQL } from './guards.js';
import { inlineParams } from './literal.js';
import type { FileAnalysis } from './analyze.js';
import type { SqlStatement } from './lexer.js';
import { beforeCommitGuardSql, CAPTURE_TRANSACTION_ID_SQL, lockGuardSql, markTransactionSql, restoreSessionSql, TRANSACTION_ID_VARIABLE } from './session-state.js';
import type { ScriptTables } from './script-tables.js';
import { c, commentText, Origin, OwnMetaCommand, type Line } from './script-text.js';

/**
 * pgpair's own settings, set again after each RESET ALL: the script is UTF-8 (a session that
 * started in another client encoding goes back to it on RESET ALL).
 */
export const OWN_SETTINGS: [string, string][] = [['client_encoding', 'UTF8']];

/**
 * Comment lines from the text between statements (the file's own comments), as comments; anything
 * else there is dropped. A CR ends a line as psql reads it, so it splits lines here too.
 */
export function commentLines(gap: string): string[] {
  return gap
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('--'))
    .map(commentText);
}

/** The SQL segment of a large file that holds `offset` (its last segment starting at or before it). */
export function segmentAt(segments: readonly { text: string; offset: number }[], offset: number): number {
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
export function textBetween(file: MigrationFile, from: number, to?: number): string {
  if (!file.large) return file.text.slice(from, to);
  const segment = file.large.segments[segmentAt(file.large.segments, from)]!;
  return segment.text.slice(from - segment.offset, to === undefined ? undefined : to - segment.offset);
}

/** Where a statement's source ends in the file: after its text, or after the `\.` line of its COPY data. */
export function endOf(file: MigrationFile, statement: FileAnalysis['statements'][number]): number {
  if (!statement.copyData) return statement.offset + statement.text.length;
  // In a large file, the SQL after the `\.` line is the next segment.
  if (file.large) return file.large.segments[segmentAt(file.large.segments, statement.offset) + 1]?.offset ?? Infinity;
  const dataEnd = statement.copyData.offset + statement.copyData.text!.length;
  const lineEnd = file.text.indexOf('\n', dataEnd);
  return lineEnd === -1 ? file.text.length : lineEnd + 1;
}

/** A record of the program with its values inlined; a duration is the expression the program gives for a script (or NULL). */
function recordText(record: { sql: string; params: readonly unknown[] }): string {
  return inlineParams(record.sql, bindElapsed(record.params, (elapsed) => elapsed.script));
}

/** Writes a file's statements one by one, each with the file's comments before it; `end` writes what follows the last one. */
class StatementWriter {
  private cursor = 0;
  constructor(private readonly file: MigrationFile) {}

  statement(statement: SqlStatement): Line[] {
    const file = this.file;
    const out: Line[] = [...commentLines(textBetween(file, this.cursor, statement.offset)), `-- ${c(file.path)}:${statement.line}`];
    const text = statement.text.endsWith(';') ? statement.text : `${statement.text};`;
    const copyData = statement.copyData;
    // The `\.` line ends as in the file: psql sends it, and the server wants it to end like the data lines.
    const terminator = copyData?.terminator ?? '\\.';
    out.push(new Origin(file.path, statement.line));
    out.push(!copyData ? text : copyData.location ? [`${text}\n`, { file, copyData: copyData.location }, terminator] : `${text}\n${copyData.text}${terminator}`);
    out.push(new Origin(null));
    this.cursor = endOf(file, statement);
    return out;
  }

  end(statements: number): Line[] {
    const trailing = commentLines(textBetween(this.file, this.cursor));
    const out: Line[] = trailing.length > 0 ? [...trailing, ''] : [];
    if (statements === 0) out.push(`-- (${c(this.file.path)} holds no statement: a no-op)`, '');
    return out;
  }
}

/** An up or down block, operation by operation. */
export function renderMigrationBlock(st: ScriptTables, block: MigrationBlock): Line[] {
  const { file, analysis } = block;
  const version = block.step.migration.version;
  const transactional = block.mode === 'transaction';
  const out: Line[] = transactional
    ? ['-- Runs in one transaction together with its history row and log entry: all of it or none of it.']
    : [
        `-- Runs outside any transaction, statement by statement, because ${c(analysis.reason ?? 'it must')}.`,
        `-- Its history row says 'running' until the last statement is done. If psql stops in between, the statements`,
        `-- before stay done and pgpair status shows ${c(version)} as failed: finish or undo it by hand, then run`,
        `-- pgpair repair --applied ${c(version)} or pgpair repair --reverted ${c(version)}.`,
        `-- After each statement, the script checks that the migration lock is still held, then records its progress.`,
      ];
  const writer = new StatementWriter(file);
  // The lock half of the guard: stops the script, before its progress is recorded, when a statement released the lock.
  const lockCheck = lockGuardSql(st.lockKey);
  let phase: 'before' | 'statements' | 'after' = 'before';
  let begun = false;
  for (const [at, op] of block.ops.entries()) {
    if (phase === 'statements' && op.op !== 'statement' && op.op !== 'progress') {
      out.push(...writer.end(analysis.statements.length));
      phase = 'after';
    }
    out.push(...renderOp(op, { st, transactional, begun, lockCheck, writer, next: block.ops[at + 1] }));
    if (op.op === 'begin') begun = true;
    if (op.op === 'guards') phase = 'statements';
  }
  return out;
}

interface OpContext {
  st: ScriptTables;
  transactional: boolean;
  /** Whether the block has begun a transaction before (the second BEGIN of a block outside a transaction records its end). */
  begun: boolean;
  lockCheck: string;
  writer: StatementWriter;
  next: Op | undefined;
}

function renderOp(op: Op, ctx: OpContext): Line[] {
  switch (op.op) {
    case 'begin':
      return ctx.transactional || ctx.begun ? ['BEGIN;'] : ['-- Done: record it.', 'BEGIN;'];
    case 'capture-xid':
      return [new OwnMetaCommand(`${CAPTURE_TRANSACTION_ID_SQL} \\gset`, `${CAPTURE_TRANSACTION_ID_SQL} ;`)];
    case 'guards':
      return [...op.settings.map(([name, value]) => inlineParams(SET_GUARD_SQL, [name, value, op.local])), ...lockTimeoutNote(op.settings), ''];
    case 'statement':
      return [...ctx.writer.statement(op.statement), ...(ctx.next?.op === 'progress' ? [] : [''])];
    case 'progress':
      return [...ctx.st.pin, ctx.lockCheck, recordText(op.record), ''];
    case 'check':
      return [
        '-- Before it is recorded: the transaction must still be pgpair\'s and the migration lock still held; then the',
        '-- session goes back to how the script started it (role, search_path, settings), as a new psql session would be.',
        ...ctx.st.pin,
        markTransactionSql(`:'${TRANSACTION_ID_VARIABLE}'`),
        beforeCommitGuardSql(ctx.st.lockKey),
      ];
    case 'reset-guards':
      return op.settings.map(([name]) => `RESET ${name};`);
    case 'restore':
      return [
        ...(ctx.transactional ? [] : ['-- The session goes back to how the script started it (role, search_path, settings), as a new psql session would be.']),
        restoreSessionSql(null, OWN_SETTINGS),
      ];
    case 'record':
      return [recordText(op.record)];
    case 'commit':
      return ['COMMIT;'];
  }
}

/** What lock_timeout does to the script: a run retries a migration that hits it; psql cannot. */
function lockTimeoutNote(settings: [string, string][]): Line[] {
  const timeout = settings.find(([name]) => name === 'lock_timeout');
  if (!timeout || timeout[1] === '0ms') return [];
  return [
    `-- lock_timeout ${timeout[1]} (--migration-lock-timeout, default 5s): a statement that waits longer for a lock fails, and`,
    '-- the script stops. pgpair up retries such a migration (--lock-retries); psql cannot: run the script again.',
  ];
}

/** The stamp block: what each step records, then its records (at most three statements), in one transaction. */
export function renderStampBlock(block: StampBlock): Line[] {
  const out: Line[] = ['-- Records rows only (no migration SQL runs), all in one transaction.'];
  for (const op of block.ops) {
    if (op.op === 'begin') {
      out.push('BEGIN;', '');
      for (const step of block.steps) {
        if (step.action === 'stamp') out.push(`-- stamp ${c(`${step.migration.version}_${step.migration.name}`)}: recorded as applied; ${c(step.migration.up.path)} is not run.`);
        else out.push(`-- unstamp ${c(`${step.row.version}_${step.row.name}`)}: removed from the history; nothing of it is reverted.`);
      }
      out.push('-- The log entries first, in this order (an unstamp\'s entry reads how its row was recorded, before the row goes), then the rows.');
    } else if (op.op === 'record') {
      out.push(recordText(op.record));
    } else if (op.op === 'commit') {
      out.push('COMMIT;');
    } else {
      throw new Error(`unexpected ${op.op} operation in a stamp`);
    }
  }
  return out;
}
