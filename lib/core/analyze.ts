/**
 * Pure: what a migration file will do when run — its statements, whether it
 * runs in pgpair's transaction, and problems that must stop it before
 * anything runs (psql meta-commands, unterminated quotes, unknown directives).
 */
import type { FileProblem } from './errors.js';
import type { LargeMigrationFile, TextMigrationFile } from './files.js';
import { changesStringSyntax, controlsOwnTransaction, leadingWords, leavesNothingHalfDone, mayChangeStringSyntax, nonTransactionalReason, refusedInMigration, tokensOf, transactionControl } from './classify.js';
import { splitStatements, type SqlStatement } from './lexer.js';

export type RunMode =
  /** Every statement in one transaction with the history row. */
  | 'transaction'
  /** Statement by statement outside any transaction, progress recorded (`-- pgpair:no-transaction` or detected). */
  | 'no-transaction'
  /** The file holds its own BEGIN/COMMIT: run as written, never wrapped in a second transaction. */
  | 'own-transaction';

export interface FileAnalysis {
  statements: SqlStatement[];
  mode: RunMode;
  /** Why the mode is not 'transaction', e.g. "line 3: CREATE INDEX CONCURRENTLY cannot run inside a transaction block". */
  reason: string | null;
  /** `-- pgpair:NAME VALUE` directives of the file. */
  directives: Record<string, string>;
  problems: FileProblem[];
}

/** What analyzeFile reads of a file: its path and its text (or, for a large file, what was lexed as it was read). */
export type AnalysableFile = Pick<TextMigrationFile, 'path' | 'text' | 'large'> | Pick<LargeMigrationFile, 'path' | 'text' | 'large'>;

/**
 * Lexes and classifies a file. Called once per file, when the directory is read
 * (parseMigrationDirectory stores the result as MigrationFile.analysis); everything
 * after that reads the stored analysis.
 */
export function analyzeFile(file: AnalysableFile): FileAnalysis {
  // A large file was split as it was read (lib/core/large-file.ts).
  const lexed = file.large ? file.large.lexed : splitStatements(file.text);
  const problems: FileProblem[] = lexed.problems.map((p) => ({ file: file.path, line: p.line, column: p.column, message: p.message }));
  for (const unknown of lexed.directives.unknown) {
    problems.push({
      file: file.path,
      line: unknown.line,
      message: `"${unknown.text}" is not a pgpair directive here (known: -- pgpair:no-transaction, -- pgpair:version N and, in a down file, -- pgpair:test-allow CATEGORY, in the comments at the top of the file; -- pgpair:lint-ignore RULE reason above any statement); fix the typo or make it an ordinary comment`,
    });
  }
  // One pass, one token cursor a statement: every question about a statement reads its first
  // words from the same cursor, scanned once (classify.ts tokensOf); and a file that never names
  // standard_conforming_strings is not searched for it statement by statement. Problems of one
  // statement are pushed in the order the questions were once asked in passes of their own
  // (COPY data, refused, string syntax); the sort below orders statements by position.
  const stringSyntaxPossible = file.large !== undefined || mayChangeStringSyntax(file.text);
  const mayRunOutside = !lexed.directives.noTransaction;
  let ownTransaction = false;
  const outside: { statement: SqlStatement; why: string }[] = [];
  const inside: SqlStatement[] = [];
  for (const statement of lexed.statements) {
    const tokens = tokensOf(statement);
    if (statement.copyData && !statement.copyData.terminated) {
      problems.push({ file: file.path, line: statement.line, column: statement.column, message: 'COPY … FROM stdin data does not end with a line holding only \\.; add it after the last data line' });
    }
    const refused = refusedInMigration(statement, tokens);
    if (refused) problems.push({ file: file.path, line: statement.line, column: statement.column, message: refused });
    const stringSyntax = stringSyntaxPossible ? changesStringSyntax(statement, tokens) : null;
    if (stringSyntax) problems.push({ file: file.path, line: statement.line, column: statement.column, message: stringSyntax });
    if (!ownTransaction && controlsOwnTransaction(leadingWords(statement, 3, tokens))) ownTransaction = true;
    if (mayRunOutside) {
      const why = nonTransactionalReason(statement, tokens);
      if (why) outside.push({ statement, why });
      else if (!leavesNothingHalfDone(statement, tokens)) inside.push(statement);
    }
  }
  const at = (statement: SqlStatement, message: string): void => {
    problems.push({ file: file.path, line: statement.line, column: statement.column, message });
  };
  let mode: RunMode = 'transaction';
  let reason: string | null = null;
  if (ownTransaction) {
    mode = 'own-transaction';
    reason = 'the file holds its own BEGIN/COMMIT and runs as written';
    checkOwnTransaction(lexed.statements, at);
  } else if (lexed.directives.noTransaction) {
    mode = 'no-transaction';
    reason = 'the file starts with -- pgpair:no-transaction';
  } else {
    const first = outside[0];
    if (first) {
      mode = 'no-transaction';
      reason = `line ${first.statement.line}: ${first.why}`;
      if (inside.length > 0) at(first.statement, mixedMessage(first.why, inside));
    }
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  const values: Record<string, string> = { ...lexed.directives.values };
  if (lexed.directives.noTransaction) values['no-transaction'] = '';
  return { statements: lexed.statements, mode, reason, directives: values, problems };
}

/** "lines 1, 3 and 7" (at most five, then "and N more"). */
function lineList(statements: SqlStatement[]): string {
  const lines = statements.slice(0, 5).map((statement) => String(statement.line));
  const more = statements.length - lines.length;
  if (more > 0) return `lines ${lines.join(', ')} and ${more} more`;
  if (lines.length === 1) return `line ${lines[0]}`;
  return `lines ${lines.slice(0, -1).join(', ')} and ${lines[lines.length - 1]}`;
}

/**
 * Item 7 of the file rules: one statement that must run outside a transaction makes the whole file
 * run statement by statement without one, so the other statements of the file would stay done when
 * a later one fails. SET, RESET, SHOW and ANALYZE do not count (leavesNothingHalfDone): they change nothing
 * that could be left half done.
 */
function mixedMessage(why: string, inside: SqlStatement[]): string {
  return `${why}, so this file would run without a transaction, statement by statement, and the other statements `
    + `(${lineList(inside)}) would stay done if a later one fails. Move this statement into a migration of its own, `
    + 'or put -- pgpair:no-transaction at the top of the file to accept running all of it without a transaction';
}

/**
 * A file that holds its own BEGIN/COMMIT runs as written, as under psql: every BEGIN must be closed
 * by a later COMMIT/END/ROLLBACK/ABORT/PREPARE TRANSACTION, and every one of those must close a
 * BEGIN (PostgreSQL would only warn, and the statements meant for the transaction would each
 * commit on their own). Statements before the first BEGIN, between blocks and after the last
 * COMMIT run on their own, in autocommit, exactly as psql runs them; pgpair records the file's
 * progress statement by statement, as for a no-transaction file, so a failure there leaves the
 * version marked failed, never silently half-applied. A statement that cannot run inside a
 * transaction block, inside one of the file's blocks, would fail there: it is reported too.
 */
function checkOwnTransaction(statements: SqlStatement[], at: (statement: SqlStatement, message: string) => void): void {
  let open: SqlStatement | null = null;
  for (const statement of statements) {
    const control = transactionControl(statement);
    const keywords = leadingWords(statement, 3);
    const word = keywords[0] === 'START' ? 'START TRANSACTION' : keywords[0];
    if (control === 'begin') {
      if (open) at(statement, `${word} inside the transaction started on line ${open.line}: PostgreSQL ignores it with a warning, and the first COMMIT ends both; remove one of them`);
      else open = statement;
    } else if (control === 'end' || control === 'chain') {
      if (!open) at(statement, `${keywords[0] === 'PREPARE' ? 'PREPARE TRANSACTION' : keywords[0]} without an earlier BEGIN in this file: there is no transaction for it to end (pgpair does not wrap a file that holds its own COMMIT/ROLLBACK), so the statements before it would each commit on their own; add BEGIN; where the transaction should start, or remove it`);
      open = control === 'chain' ? statement : null;
    } else if (open) {
      const why = nonTransactionalReason(statement);
      if (why) at(statement, `${why}, and this one is inside the transaction started on line ${open.line}; end that transaction before it, or move it into a migration of its own`);
    }
  }
  const openWords = open ? leadingWords(open, 3) : [];
  if (open) at(open, `${openWords[0] === 'START' ? 'START TRANSACTION' : openWords.slice(0, openWords[0] === 'BEGIN' ? 1 : 3).join(' ')} without a later COMMIT in this file: the transaction would still be open at the end of the file (psql would roll it back when it exits); add COMMIT; where it should end`);
}
