/**
 * Pure: the pieces a `--sql` script is made of, and the text pgpair writes into
 * one: comments on one line, lines that carry where they came from, and the
 * script joined into parts (the COPY data of large files in between).
 *
 * psql ends a `--` comment at a line feed or a carriage return and then reads a
 * backslash anywhere on the next line as a meta-command (`\! rm -rf`), so a name
 * that holds one must never reach a comment as is.
 */
import type { MigrationFile } from './files.js';
import type { CopyDataLocation } from './lexer.js';

/**
 * A piece of a script: text, or the COPY data of a large file (lib/core/large-file.ts), which is read
 * from the file as the script is written (lib/read/source.ts readCopyData) and never held whole.
 */
export type ScriptPart = string | { file: MigrationFile; copyData: CopyDataLocation };

/**
 * One of pgpair's own psql meta-commands (`\set ON_ERROR_STOP on`, `\gset`): the only ones a script
 * may hold. `standIn` is text that psql and pgpair's lexer read the same way, with no meta-command,
 * for the check that nothing else in the script is one (checkScript).
 */
export class OwnMetaCommand {
  constructor(
    readonly text: string,
    readonly standIn: string,
  ) {}
}

/** Marks where the text written for a statement of a migration file begins (or, with file null, where pgpair's own text resumes). */
export class Origin {
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
export class Sampled {
  constructor(readonly skip: boolean) {}
}

/** A line of the script; the COPY of a large file is its command, its data and `\.`. */
export type Line = string | ScriptPart[] | OwnMetaCommand | Origin | Sampled;

/** Characters escaped in comments: ASCII controls (CR and LF end a comment for psql), C1 controls and the Unicode line separators. */
export const NOT_IN_COMMENTS = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

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

export const c = commentText;

export const RULE = `-- ${'-'.repeat(76)}`;

/** Text that cannot break out of anything it is written into: ASCII letters, digits and a little punctuation. */
export function isPlain(text: string): boolean {
  return /^[\w.,:+\-/ ()]*$/.test(text);
}

/** The lines joined with '\n', as parts: text runs joined into one string, large COPY data in between. */
export function joinLines(lines: Line[]): ScriptPart[] {
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
