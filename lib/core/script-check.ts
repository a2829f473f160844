/**
 * Pure: the last check before a `--sql` script is written (defence in depth).
 */
import { DirectoryError, type FileProblem } from './errors.js';
import { splitStatements } from './lexer.js';
import { directoryOf, type Plan } from './plan.js';
import { Origin, OwnMetaCommand, Sampled, type Line } from './script-text.js';

/**
 * Defence in depth: the whole script, read by pgpair's lexer as psql reads it, must hold no
 * meta-command but pgpair's own and no unterminated quote or comment. Whatever a name, a path, a
 * history row or a file holds, a script in which psql would find a `\!` is never written.
 * The COPY data of large files is left out (psql reads it as data up to the `\.` line).
 */
export function checkScript(plan: Plan, lines: readonly Line[]): void {
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
          message: `psql would read ${what}, in the statement written from this file, and so run more than its SQL; the script was not written. pgpair's lexer and psql disagree about this statement: rewrite it, run pgpair ${plan.command} instead of a script, and report it`,
        }
      : {
          file: directoryOf(plan.steps),
          message: `psql would read ${what}, in text pgpair wrote itself; the script was not written. This is a pgpair bug: run pgpair ${plan.command} instead of a script, and report it`,
        };
  });
  throw new DirectoryError(directoryOf(plan.steps), found);
}
