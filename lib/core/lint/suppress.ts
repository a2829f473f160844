/**
 * Pure: the `-- pgpair:lint-ignore RULE[,RULE…] reason` comments of a file, each tied to the statement it
 * is about: a comment on the line where a statement ends belongs to that statement, any other to
 * the statement that follows it (a comment inside a statement belongs to that statement). Found
 * with the lexer's scanner, so a string or COPY data that holds the same words is no comment.
 */
import type { MigrationFile } from '../files.js';
import type { SqlStatement } from '../lexer.js';
import { createLineLocator } from '../position.js';
import { scanToken } from '../tokens.js';

export interface Ignore {
  rule: string | null;
  reason: string | null;
  line: number;
  column: number;
  used: boolean;
  /** Written as a block comment, which is not read as a suppression (reported, never used). */
  block?: boolean;
}

const MENTION = /pgpair:lint-ignore/i;
const COMMENT = /^--\s*pgpair:lint-ignore\b[ \t]*(.*?)\s*$/i;
const BLOCK = /^\/\*\s*pgpair:lint-ignore\b/i;
/** `RULE[, RULE…] reason`: the rule ids (spaces around the commas allowed), then the reason. */
const BODY = /^([^\s,]+(?:[ \t]*,[ \t]*[^\s,]+)*)[ \t]*,?[ \t]*(.*)$/;

/** Ignores by statement index; those after the last statement under index statements.length. */
export function ignoresOf(file: MigrationFile, statements: readonly SqlStatement[]): Map<number, Ignore[]> {
  const found = new Map<number, Ignore[]>();
  const pieces = file.text !== undefined ? [{ text: file.text, offset: 0 }] : file.large.segments;
  if (!pieces.some((piece) => MENTION.test(piece.text))) return found;
  const locate = file.text !== undefined ? createLineLocator(file.text) : null;
  const copies = file.text !== undefined ? copyRanges(file.text, statements) : [];
  let copy = 0;
  let next = 0;
  for (const piece of pieces) {
    if (!MENTION.test(piece.text)) continue;
    for (let pos = 0; pos < piece.text.length;) {
      // COPY data is no SQL: a line in it that looks like the comment is data.
      while (copy < copies.length && copies[copy]![1] <= pos) copy++;
      if (copy < copies.length && copies[copy]![0] <= pos) {
        pos = copies[copy]![1];
        continue;
      }
      const token = scanToken(piece.text, pos);
      pos = token.end;
      if (token.kind !== 'lineComment' && token.kind !== 'blockComment') continue;
      const text = piece.text.slice(token.start, token.end);
      const block = token.kind === 'blockComment';
      const match = block ? (BLOCK.test(text) ? [text, ''] : null) : COMMENT.exec(text);
      if (!match) continue;
      const at = piece.offset + token.start;
      while (next < statements.length && statementEnd(statements[next]!) <= at) next++;
      let owner = next;
      // Inside statement `next` (it starts before the comment), or on the line where the one before it ends.
      const previous = statements[next - 1];
      const inside = next < statements.length && statements[next]!.offset <= at;
      if (!inside && previous !== undefined) {
        const previousEnd = statementEnd(previous) - piece.offset;
        if (previousEnd >= 0 && piece.text.lastIndexOf('\n', token.start) < previousEnd) owner = next - 1;
      }
      const where = locate ? locate(at) : { line: statements[Math.min(owner, statements.length - 1)]?.line ?? 1, column: 1 };
      const list = found.get(owner) ?? [];
      if (block) {
        list.push({ rule: null, reason: null, line: where.line, column: where.column, used: false, block: true });
        found.set(owner, list);
        continue;
      }
      // `RULE1,RULE2 reason` names several rules with one reason: one ignore each. Rule ids are read in lower case.
      const body = BODY.exec(match[1] ?? '');
      const rules = body ? body[1]!.split(',').map((rule) => rule.trim().toLowerCase()).filter((rule) => rule !== '') : [];
      const reason = body?.[2] ? body[2] : null;
      for (const rule of rules.length > 0 ? rules : [null]) list.push({ rule, reason, line: where.line, column: where.column, used: false });
      found.set(owner, list);
    }
  }
  return found;
}

/** [start, end) of each COPY … FROM stdin's data in the file's text, its \\. line included. */
function copyRanges(text: string, statements: readonly SqlStatement[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const statement of statements) {
    const data = statement.copyData;
    if (!data) continue;
    const dataEnd = data.offset + (data.text ?? '').length;
    const lineEnd = text.indexOf('\n', dataEnd);
    ranges.push([data.offset, data.terminated ? (lineEnd === -1 ? text.length : lineEnd + 1) : text.length]);
  }
  return ranges;
}

function statementEnd(statement: SqlStatement): number {
  return statement.offset + statement.text.length;
}
