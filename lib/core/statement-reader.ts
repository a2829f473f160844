/**
 * Pure: psql's rule for where a statement ends (src/fe_utils/psqlscan.l), fed one token at a time
 * by lexer.ts: the parentheses and BEGIN … END bodies a ';' must be outside of, whether the
 * statement is a COPY … FROM stdin, and a `begin` word that misleads psql.
 */
import { asciiUpper, type Token } from './tokens.js';

/**
 * State of the statement being read. psql ends a statement at a ';' outside parentheses, and, in
 * CREATE [OR REPLACE] FUNCTION/PROCEDURE statements, outside BEGIN ... END (and CASE ... END
 * nested in them) so that `BEGIN ATOMIC` bodies stay whole. The heuristic is psql's own.
 */
export class StatementReader {
  lastEnd: number;
  parenDepth = 0;
  beginDepth = 0;
  copyFromStdin = false;
  /**
   * Where a `begin` word opened a body psql will look for an END to close, though it is no
   * `BEGIN ATOMIC` (a function named begin, a type or schema named begin, `begin` as a column name
   * in the body): psql, and so pgpair, then send everything up to a matching END, often the rest
   * of the file, as this one statement. The first such word; undefined when there is none.
   */
  misfiredBegin: number | undefined;
  /** A `begin` that opened a body, until the next token shows whether ATOMIC follows it. */
  private openedBegin: number | undefined;
  private firstWord: string | undefined;
  private previousWord: string | undefined;
  private wordCount = 0;
  /** psql's `identifiers[4]`: first letter of create/function/procedure/or/replace by position. */
  private readonly routineMarks: string[] = [];
  private isRoutine = false;

  /** `where` is the line and column of `start`, located when the statement begins. */
  constructor(readonly start: number, readonly where: { line: number; column: number }) {
    this.lastEnd = start;
  }

  get endsHere(): boolean {
    return this.parenDepth === 0 && this.beginDepth === 0;
  }

  feed(token: Token, sql: string): void {
    this.lastEnd = token.end;
    if (this.openedBegin !== undefined) {
      const atomic = token.kind === 'word' && token.end - token.start === 6 && asciiUpper(sql.slice(token.start, token.end)) === 'ATOMIC';
      if (!atomic) this.misfiredBegin ??= this.openedBegin;
      this.openedBegin = undefined;
    }
    if (token.kind !== 'word') {
      this.previousWord = undefined;
      if (token.kind === 'openParen') this.parenDepth++;
      else if (token.kind === 'closeParen' && this.parenDepth > 0) this.parenDepth--;
      return;
    }
    // Long words (identifiers) are neither keywords that matter here nor worth upper-casing. Nor
    // are the words that no rule below reads: a word is read only among the first four (the
    // routine marks, the first word), in a COPY (… FROM STDIN), and outside parentheses in a
    // routine (BEGIN, CASE, END). Every other word (names, types, most of a file) is passed over
    // without a slice and a copy of it: in trackRoutineBody it only counts.
    const read = this.wordCount < 4 || this.firstWord === 'COPY' || (this.isRoutine && this.parenDepth === 0);
    if (!read) {
      this.trackRoutineBody('', token.start);
      return;
    }
    const upper = token.end - token.start <= 12 ? asciiUpper(sql.slice(token.start, token.end)) : '';
    this.firstWord ??= upper;
    if (this.firstWord === 'COPY' && this.parenDepth === 0 && this.previousWord === 'FROM' && upper === 'STDIN') {
      this.copyFromStdin = true;
    }
    this.previousWord = this.parenDepth === 0 ? upper : undefined;
    this.trackRoutineBody(upper, token.start);
  }

  /** At the end of the statement's text: a `begin` that ends it was no BEGIN ATOMIC either. */
  finish(): void {
    if (this.openedBegin !== undefined) this.misfiredBegin ??= this.openedBegin;
    this.openedBegin = undefined;
  }

  /**
   * psqlscan.l's {identifier} rule: the first four words tell a CREATE [OR REPLACE]
   * FUNCTION/PROCEDURE statement; in one, outside parentheses, every `begin` word adds one to the
   * depth that only `end` takes away (a `case` adds one too, inside a body), and a ';' ends the
   * statement only at depth 0. Quoted identifiers ("begin") are no words and do not count.
   */
  private trackRoutineBody(upper: string, start: number): void {
    if (this.wordCount < 4) {
      if (['CREATE', 'FUNCTION', 'PROCEDURE', 'OR', 'REPLACE'].includes(upper)) this.routineMarks[this.wordCount] = upper.charAt(0);
      const [first, second, third, fourth] = this.routineMarks;
      this.isRoutine = first === 'C' && (second === 'F' || second === 'P'
        || (second === 'O' && third === 'R' && (fourth === 'F' || fourth === 'P')));
    }
    this.wordCount++;
    if (!this.isRoutine || this.parenDepth !== 0) return;
    if (upper === 'BEGIN') {
      this.beginDepth++;
      this.openedBegin = start;
    } else if (upper === 'CASE' && this.beginDepth >= 1) this.beginDepth++;
    else if (upper === 'END' && this.beginDepth > 0) this.beginDepth--;
  }
}
