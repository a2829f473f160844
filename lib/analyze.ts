/**
 * Pure: what a migration file will do when run — its statements, whether it
 * runs in pgpair's transaction, and problems that must stop it before
 * anything runs (psql meta-commands, unterminated quotes, unknown directives).
 */
import type { FileProblem } from './errors.js';
import type { MigrationFile } from './files.js';
import { managesOwnTransaction, nonTransactionalReason, refusedInMigration } from './classify.js';
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

const cache = new WeakMap<MigrationFile, Map<number, FileAnalysis>>();

export function analyzeFile(file: MigrationFile, serverVersionNum = 120000): FileAnalysis {
  const byVersion = cache.get(file) ?? new Map<number, FileAnalysis>();
  cache.set(file, byVersion);
  const known = byVersion.get(serverVersionNum);
  if (known) return known;
  // A large file was split as it was read (lib/large-file.ts).
  const lexed = file.large ? file.large.lexed : splitStatements(file.text);
  const problems: FileProblem[] = lexed.problems.map((p) => ({ file: file.path, line: p.line, column: p.column, message: p.message }));
  for (const unknown of lexed.directives.unknown) {
    problems.push({
      file: file.path,
      line: unknown.line,
      message: `"${unknown.text}" is not a pgpair directive here (known: -- pgpair:no-transaction, -- pgpair:version N, in the comments at the top of the file); fix the typo or make it an ordinary comment`,
    });
  }
  for (const statement of lexed.statements) {
    if (statement.copyData && !statement.copyData.terminated) {
      problems.push({ file: file.path, line: statement.line, column: statement.column, message: 'COPY … FROM stdin data does not end with a line holding only \\.; add it after the last data line' });
    }
    const refused = refusedInMigration(statement);
    if (refused) problems.push({ file: file.path, line: statement.line, column: statement.column, message: refused });
  }
  let mode: RunMode = 'transaction';
  let reason: string | null = null;
  if (managesOwnTransaction(lexed.statements)) {
    mode = 'own-transaction';
    reason = 'the file holds its own BEGIN/COMMIT and runs as written';
  } else if (lexed.directives.noTransaction) {
    mode = 'no-transaction';
    reason = 'the file starts with -- pgpair:no-transaction';
  } else {
    for (const statement of lexed.statements) {
      const why = nonTransactionalReason(statement, serverVersionNum);
      if (why) {
        mode = 'no-transaction';
        reason = `line ${statement.line}: ${why}`;
        break;
      }
    }
  }
  const values: Record<string, string> = { ...lexed.directives.values };
  if (lexed.directives.noTransaction) values['no-transaction'] = '';
  const analysis: FileAnalysis = { statements: lexed.statements, mode, reason, directives: values, problems };
  byVersion.set(serverVersionNum, analysis);
  return analysis;
}

/**
 * Every word without which classify.ts cannot find a statement that must run
 * outside a transaction, or a file that manages its own (BEGIN, COMMIT, …),
 * plus the `pgpair:` of directives. A keyword is always delimited by
 * characters that are not [A-Za-z0-9_], so `\b` can only over-match.
 */
const MAY_LEAVE_TRANSACTION =
  /\b(?:VACUUM|CONCURRENTLY|DATABASE|TABLESPACE|SUBSCRIPTION|REINDEX|CLUSTER|DISCARD|PREPARED?|SYSTEM|VALUE|BEGIN|START|COMMIT|END|ABORT|ROLLBACK)\b|pgpair:/i;

/**
 * Whether the file runs in pgpair's transaction — analyzeFile(...).mode ===
 * 'transaction' — without lexing a file that holds none of the words that
 * could change that. `status` and a no-op `up` ask this of every file, and
 * lexing them all is most of their CPU time at thousands of migrations.
 */
export function runsInTransaction(file: MigrationFile, serverVersionNum?: number): boolean {
  if (file.large) return analyzeFile(file, serverVersionNum).mode === 'transaction';
  return !MAY_LEAVE_TRANSACTION.test(file.text) || analyzeFile(file, serverVersionNum).mode === 'transaction';
}
