/**
 * Pure: which statements PostgreSQL refuses inside a transaction block, and
 * whether a file manages its own transaction. Decided from the lexer's tokens
 * (tokens.ts: TokenCursor runs its scanner lazily, so a question about a
 * statement's first words reads only those), so quotes and comments never
 * mislead it.
 */
import type { SqlStatement } from './lexer.js';
import { TokenCursor, type SignificantToken } from './tokens.js';

/**
 * The statement's significant tokens, words upper-cased, with paren depth: scanned as far as asked.
 * Every question below takes one as an optional last argument: analyzeFile asks all of its
 * questions about a statement on one cursor, so its first words are scanned once, not once a
 * question (a cursor only ever adds tokens it scanned, so sharing one changes no answer).
 */
export function tokensOf(stmt: SqlStatement): TokenCursor {
  return new TokenCursor(stmt.text);
}

/**
 * The statement's leading words, upper-cased, at most `limit`: its first tokens up to the first
 * that is not an unquoted word, e.g. ['CREATE', 'UNIQUE', 'INDEX'] (identifiers that happen to be
 * there included: `ALTER TABLE T …`); [] when it starts with anything else.
 */
export function leadingWords(stmt: SqlStatement, limit: number, tokens: TokenCursor = tokensOf(stmt)): string[] {
  const words: string[] = [];
  for (let i = 0; i < limit; i++) {
    const token = tokens.at(i);
    if (token === undefined || token.kind !== 'word') break;
    words.push(token.upper);
  }
  return words;
}

function isWord(token: SignificantToken | undefined, ...words: string[]): boolean {
  return token !== undefined && token.kind === 'word' && (words.length === 0 || words.includes(token.upper));
}

/** Index of the first word at paren depth 0 from `from` on that is one of `words`, or -1. */
function findTopLevelWord(tokens: TokenCursor, from: number, ...words: string[]): number {
  for (let i = from; tokens.at(i) !== undefined; i++) {
    const token = tokens.at(i);
    if (token !== undefined && token.depth === 0 && isWord(token, ...words)) return i;
  }
  return -1;
}

/** Index of the token just after the ')' that closes the '(' at `open`, or of the end. */
function pastParens(tokens: TokenCursor, open: number): number {
  let i = open;
  while (tokens.at(i) !== undefined && !(tokens.at(i)?.kind === 'closeParen' && tokens.at(i)?.depth === tokens.at(open)?.depth)) i++;
  return i + 1;
}

/**
 * Options in a parenthesised list starting at `open` (the '(' token): `name [= value]` or
 * `name value`, comma separated. Names are upper-cased; a missing value is 'TRUE'; quoted values
 * are unquoted and upper-cased.
 */
function optionList(tokens: TokenCursor, open: number): Map<string, string> {
  const options = new Map<string, string>();
  if (tokens.at(open)?.kind !== 'openParen') return options;
  const depth = (tokens.at(open)?.depth ?? 0) + 1;
  let i = open + 1;
  for (;;) {
    const name = tokens.at(i);
    if (name === undefined || name.depth < depth || name.kind === 'closeParen') break;
    let value = 'TRUE';
    let j = i + 1;
    if (tokens.at(j)?.upper === '=') j++;
    const candidate = tokens.at(j);
    if (candidate !== undefined && candidate.depth === depth && candidate.upper !== ',' && candidate.kind !== 'closeParen') {
      value = candidate.kind === 'string' ? candidate.upper.replace(/^[A-Z&]*'|'$/g, '') : candidate.upper;
      j++;
    }
    options.set(name.kind === 'quotedIdent' ? name.upper.slice(1, -1) : name.upper, value);
    while (tokens.at(j) !== undefined && (tokens.at(j)?.depth ?? 0) >= depth && tokens.at(j)?.upper !== ',' && tokens.at(j)?.kind !== 'closeParen') j++;
    i = tokens.at(j)?.upper === ',' ? j + 1 : j;
  }
  return options;
}

/** PostgreSQL's defGetBoolean, for the false side: false/off/0 and prefixes of false. */
function isFalse(value: string | undefined): boolean {
  if (value === undefined) return false;
  return value === 'OFF' || value === '0' || (value.length > 0 && 'FALSE'.startsWith(value));
}

/** Options after a top-level `WITH (` from `from` on. */
function withOptions(tokens: TokenCursor, from: number): Map<string, string> {
  const withAt = findTopLevelWord(tokens, from, 'WITH');
  return withAt === -1 ? new Map() : optionList(tokens, withAt + 1);
}

const notInTransaction = (what: string): string => `${what} cannot run inside a transaction block`;

/**
 * Why a statement must not be in a migration at all, or null. `DISCARD ALL` runs
 * pg_advisory_unlock_all: it would release pgpair's migration lock in the middle of
 * the run, so a second run could start beside it. It changes nothing in the schema.
 */
export function refusedInMigration(stmt: SqlStatement, tokens: TokenCursor = tokensOf(stmt)): string | null {
  if (!isWord(tokens.at(0), 'DISCARD') || !isWord(tokens.at(1), 'ALL')) return null;
  return "DISCARD ALL would release pgpair's migration lock in the middle of the run (it includes pg_advisory_unlock_all), so another run could start beside this one; it changes nothing in the database, so remove it (DISCARD PLANS, SEQUENCES and TEMP are fine)";
}

/**
 * Why this statement cannot run inside a transaction block (PostgreSQL's PreventInTransactionBlock
 * would reject it), or null. Decided from the statement text alone; where PostgreSQL decides at
 * run time (DROP SUBSCRIPTION of a subscription with a slot, CLUSTER or REINDEX TABLE of a
 * partitioned table) the syntactic cases are classified conservatively or not at all, as documented
 * per case.
 */
export function nonTransactionalReason(stmt: SqlStatement, tokens: TokenCursor = tokensOf(stmt)): string | null {
  const first = tokens.at(0);
  const word = (i: number, ...words: string[]): boolean => isWord(tokens.at(i), ...words);
  if (first === undefined || first.kind !== 'word') return null;

  switch (first.upper) {
    case 'VACUUM':
      return notInTransaction('VACUUM');
    case 'CREATE': {
      const indexAt = word(1, 'UNIQUE') ? 2 : 1;
      if (word(indexAt, 'INDEX') && word(indexAt + 1, 'CONCURRENTLY')) return notInTransaction('CREATE INDEX CONCURRENTLY');
      if (word(1, 'DATABASE')) return notInTransaction('CREATE DATABASE');
      if (word(1, 'TABLESPACE')) return notInTransaction('CREATE TABLESPACE');
      if (word(1, 'SUBSCRIPTION')) {
        // A replication slot is created unless create_slot = false (or connect = false).
        const options = withOptions(tokens, 2);
        if (isFalse(options.get('CREATE_SLOT')) || isFalse(options.get('CONNECT'))) return null;
        return notInTransaction('CREATE SUBSCRIPTION ... WITH (create_slot = true)');
      }
      return null;
    }
    case 'DROP':
      if (word(1, 'INDEX') && word(2, 'CONCURRENTLY')) return notInTransaction('DROP INDEX CONCURRENTLY');
      if (word(1, 'DATABASE')) return notInTransaction('DROP DATABASE');
      if (word(1, 'TABLESPACE')) return notInTransaction('DROP TABLESPACE');
      // Whether the subscription has a slot is only known at run time; most have one.
      if (word(1, 'SUBSCRIPTION')) return `${notInTransaction('DROP SUBSCRIPTION')} when the subscription has a replication slot`;
      return null;
    case 'REINDEX':
      return reindexReason(tokens);
    case 'CLUSTER': {
      // CLUSTER [VERBOSE] | CLUSTER (options) without a table name re-clusters every table.
      let i = 1;
      if (tokens.at(i)?.kind === 'openParen') i = pastParens(tokens, i);
      if (word(i, 'VERBOSE')) i++;
      while (tokens.at(i)?.kind === 'semicolon') i++;
      return tokens.at(i) === undefined ? notInTransaction('CLUSTER without a table name') : null;
    }
    case 'DISCARD':
      return word(1, 'ALL') ? notInTransaction('DISCARD ALL') : null;
    case 'COMMIT':
    case 'ROLLBACK':
      return word(1, 'PREPARED') ? notInTransaction(`${first.upper} PREPARED`) : null;
    case 'ALTER':
      return alterReason(tokens);
    default:
      return null;
  }
}

function reindexReason(tokens: TokenCursor): string | null {
  let i = 1;
  let concurrently = false;
  if (tokens.at(i)?.kind === 'openParen') {
    const options = optionList(tokens, i);
    concurrently = options.has('CONCURRENTLY') && !isFalse(options.get('CONCURRENTLY'));
    i = pastParens(tokens, i);
  }
  const target = tokens.at(i);
  if (!isWord(target)) return null;
  const kind = target?.upper ?? '';
  if (kind === 'SCHEMA' || kind === 'DATABASE' || kind === 'SYSTEM') return notInTransaction(`REINDEX ${kind}`);
  if (concurrently || isWord(tokens.at(i + 1), 'CONCURRENTLY')) return notInTransaction('REINDEX CONCURRENTLY');
  return null;
}

function alterReason(tokens: TokenCursor): string | null {
  const object = tokens.at(1);
  if (!isWord(object)) return null;
  switch (object?.upper) {
    case 'SYSTEM':
      return notInTransaction('ALTER SYSTEM');
    case 'TABLE': {
      const detach = findTopLevelWord(tokens, 2, 'DETACH');
      if (detach !== -1 && isWord(tokens.at(detach + 1), 'PARTITION') && findTopLevelWord(tokens, detach + 2, 'CONCURRENTLY') !== -1) {
        return notInTransaction('ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY');
      }
      return null;
    }
    case 'DATABASE': {
      // ALTER DATABASE name SET TABLESPACE t (also spelled with WITH, or bare) moves the database.
      const optionAt = isWord(tokens.at(3), 'SET', 'WITH') ? 4 : 3;
      return isWord(tokens.at(optionAt), 'TABLESPACE') ? notInTransaction('ALTER DATABASE ... SET TABLESPACE') : null;
    }
    case 'SUBSCRIPTION':
      return alterSubscriptionReason(tokens);
    default:
      return null;
  }
}

/** ALTER SUBSCRIPTION name ..., as in AlterSubscription() of subscriptioncmds.c. */
function alterSubscriptionReason(tokens: TokenCursor): string | null {
  const action = tokens.at(3);
  if (!isWord(action)) return null;
  if (action?.upper === 'REFRESH') return notInTransaction('ALTER SUBSCRIPTION ... REFRESH PUBLICATION');
  if (['SET', 'ADD', 'DROP'].includes(action?.upper ?? '') && isWord(tokens.at(4), 'PUBLICATION')) {
    // These refresh the subscription by default (refresh = true).
    return isFalse(withOptions(tokens, 5).get('REFRESH')) ? null : notInTransaction('ALTER SUBSCRIPTION ... PUBLICATION with refresh');
  }
  if (action?.upper === 'SET' && tokens.at(4)?.kind === 'openParen') {
    // Changing failover, or turning two_phase off, alters the replication slot, which cannot be undone.
    const options = optionList(tokens, 4);
    if (options.has('FAILOVER')) return notInTransaction('ALTER SUBSCRIPTION ... SET (failover)');
    if (isFalse(options.get('TWO_PHASE'))) return notInTransaction('ALTER SUBSCRIPTION ... SET (two_phase = false)');
  }
  return null;
}

/**
 * True when the file manages its own transaction: it has a top-level BEGIN / START TRANSACTION /
 * COMMIT / END / ROLLBACK / ABORT / PREPARE TRANSACTION / COMMIT PREPARED / ROLLBACK PREPARED
 * statement. `ROLLBACK TO SAVEPOINT` works inside pgpair's transaction and does not count; BEGIN
 * ATOMIC and PL/pgSQL BEGIN are inside statements and never start one.
 */
export function managesOwnTransaction(statements: SqlStatement[]): boolean {
  return statements.some((statement) => controlsOwnTransaction(leadingWords(statement, 3)));
}

/** managesOwnTransaction for one statement, from its first three leading words. */
export function controlsOwnTransaction([first, second, third]: readonly string[]): boolean {
  switch (first) {
    case 'BEGIN':
      return second !== 'ATOMIC';
    case 'START':
      return second === 'TRANSACTION';
    case 'COMMIT':
    case 'END':
    case 'ABORT':
      return true;
    case 'ROLLBACK':
      return !(second === 'TO' || ((second === 'WORK' || second === 'TRANSACTION') && third === 'TO'));
    case 'PREPARE':
      return second === 'TRANSACTION';
    default:
      return false;
  }
}

/**
 * What a statement does to the transaction block of the session, from its leading words:
 * 'begin' (BEGIN / START TRANSACTION, never BEGIN ATOMIC), 'end' (COMMIT / END / ROLLBACK / ABORT,
 * and PREPARE TRANSACTION, which ends the block too), 'chain' (COMMIT/ROLLBACK … AND CHAIN: it ends
 * the block and opens the next at once), or null: everything else, ROLLBACK TO SAVEPOINT (works
 * inside a block) and COMMIT/ROLLBACK PREPARED (act on a prepared transaction, outside any block)
 * included.
 */
export function transactionControl(stmt: SqlStatement): 'begin' | 'end' | 'chain' | null {
  const keywords = leadingWords(stmt, 5);
  const [first, second] = keywords;
  switch (first) {
    case 'BEGIN':
      return second === 'ATOMIC' ? null : 'begin';
    case 'START':
      return second === 'TRANSACTION' ? 'begin' : null;
    case 'PREPARE':
      return second === 'TRANSACTION' ? 'end' : null;
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'ABORT': {
      if (second === 'PREPARED') return null;
      const rest = second === 'WORK' || second === 'TRANSACTION' ? keywords.slice(2) : keywords.slice(1);
      if (rest[0] === 'TO') return null;
      return rest[0] === 'AND' && rest[1] === 'CHAIN' ? 'chain' : 'end';
    }
    default:
      return null;
  }
}

/**
 * Statements harmless beside a statement that must run outside a transaction, because they change
 * nothing a failure could leave half done: SET, RESET and SHOW set up or show the session
 * (`SET lock_timeout = '1s'; CREATE INDEX CONCURRENTLY …` is how such a file is commonly written),
 * and ANALYZE only refreshes planner statistics (`CREATE INDEX CONCURRENTLY …; ANALYZE t;` is as
 * common). SELECT is not among them: it can call a function that changes the database.
 */
export function leavesNothingHalfDone(stmt: SqlStatement, tokens: TokenCursor = tokensOf(stmt)): boolean {
  const [first] = leadingWords(stmt, 1, tokens);
  return first === 'SET' || first === 'RESET' || first === 'SHOW' || first === 'ANALYZE' || first === 'ANALYSE';
}

const STRING_SETTING = /standard_conforming_strings/i;
const SET_STRING_SETTING = /\bset\s+(?:session\s+|local\s+)?standard_conforming_strings\s*(?:=|\bto\b)\s*(?:'([^']*)'|"([^"]*)"|([a-z0-9_]+))/gi;
const SET_CONFIG_STRING_SETTING = /\bset_config\s*\(\s*'standard_conforming_strings'\s*,\s*(?:'([^']*)'|([^,)]*))/gi;
const UPDATE_SETTINGS = /\bpg_settings\b/i;
const STANDARD_VALUES = new Set(['on', 'true', 'yes', '1', 'default', 'tru', 'tr', 't', 'ye', 'y']);

/**
 * False when no statement of `text` can change standard_conforming_strings (changesStringSyntax is
 * then null for each): none names it. Asked once of a whole file, it spares asking every statement.
 */
export function mayChangeStringSyntax(text: string): boolean {
  return STRING_SETTING.test(text);
}

/**
 * Why a statement is refused because it may turn `standard_conforming_strings` off, or null.
 * With it off, a backslash escapes the next character in a plain '' string, to PostgreSQL and to
 * psql (which follows the server's setting): `'x\'' \! cmd` is then a string and a psql
 * meta-command, while pgpair's lexer, which reads '' strings as standard, sees one unterminated
 * string. pgpair refuses the file rather than split it differently from psql. Found in the
 * statement's whole text, strings and function bodies included (a DO block can SET it too), so a
 * function's own `SET standard_conforming_strings = off` clause is refused as well: write E''
 * strings instead. escape_string_warning and backslash_quote change warnings and what the server
 * accepts, never where a string ends, so they do not matter here.
 */
export function changesStringSyntax(stmt: SqlStatement, tokens?: TokenCursor): string | null {
  if (!mayChangeStringSyntax(stmt.text)) return null;
  const why = (value: string): string =>
    `this statement sets standard_conforming_strings to ${value}: psql would then read a backslash in a plain '' string as an escape, and pgpair cannot split the rest of the file as psql would. Keep standard_conforming_strings on and write E'…' strings where you need backslash escapes`;
  for (const match of stmt.text.matchAll(SET_STRING_SETTING)) {
    const value = (match[1] ?? match[2] ?? match[3] ?? '').trim();
    if (!STANDARD_VALUES.has(value.toLowerCase())) return why(value);
  }
  for (const match of stmt.text.matchAll(SET_CONFIG_STRING_SETTING)) {
    const literal = match[1];
    if (literal === undefined || !STANDARD_VALUES.has(literal.trim().toLowerCase()) || literal.trim().toLowerCase() === 'default') {
      return why(literal === undefined ? (match[2] ?? '').trim() || 'a computed value' : `'${literal}'`);
    }
  }
  const [first] = leadingWords(stmt, 1, tokens);
  if (first === 'UPDATE' && UPDATE_SETTINGS.test(stmt.text)) return why('a value from an UPDATE of pg_settings');
  return null;
}

/**
 * Statements that run no function of the user's when they run (in pgpair's transaction, on
 * objects the migration names): plain DDL whose expressions are only stored, not evaluated.
 * A function, a trigger, a default being filled in or a materialized view refresh could release
 * pgpair's lock; these cannot, short of an event trigger (lib/run/execute/pipeline.ts checks the
 * lock after every other statement, and reads it before an inert migration's history row while an
 * event trigger is enabled). `CREATE TABLE … AS` runs its query, and any `AS` word (a generated
 * column too) makes a CREATE TABLE count as not inert; so does `PARTITION OF` (its bound is
 * evaluated). An index build calls its column type's functions on the table's rows (a range
 * type's subtype_diff may be PL/pgSQL), so inertStatements counts it only on a table the same
 * file created.
 */
const INERT_STARTS: readonly (readonly string[])[] = [
  ['CREATE', 'TABLE'],
  ['CREATE', 'UNLOGGED', 'TABLE'],
  ['CREATE', 'INDEX'],
  ['CREATE', 'UNIQUE', 'INDEX'],
  ['COMMENT', 'ON'],
  ['CREATE', 'SCHEMA'],
  ['CREATE', 'SEQUENCE'],
  ['CREATE', 'TYPE'],
  ['CREATE', 'DOMAIN'],
  ['CREATE', 'VIEW'],
  ['CREATE', 'OR', 'REPLACE', 'VIEW'],
  ['CREATE', 'FUNCTION'],
  ['CREATE', 'OR', 'REPLACE', 'FUNCTION'],
  ['CREATE', 'PROCEDURE'],
  ['CREATE', 'OR', 'REPLACE', 'PROCEDURE'],
  ['GRANT'],
  ['REVOKE'],
  ['DROP', 'TABLE'],
  ['DROP', 'INDEX'],
  ['DROP', 'VIEW'],
  ['DROP', 'SEQUENCE'],
  ['DROP', 'TYPE'],
  ['DROP', 'DOMAIN'],
  ['DROP', 'FUNCTION'],
  ['DROP', 'PROCEDURE'],
  ['DROP', 'SCHEMA'],
];

/** Whether one statement, its first four leading words given, is inert by the list and the text rules above. */
function isInert(stmt: SqlStatement, words: readonly string[]): boolean {
  const start = INERT_STARTS.find((prefix) => prefix.every((word, i) => words[i] === word));
  if (!start) return false;
  if (start.includes('TABLE') && start[0] === 'CREATE' && /\bAS\b/i.test(stmt.text)) return false;
  // A partition's bound is an expression evaluated when the partition is created (and a default partition's rows are
  // checked against it); CREATE SCHEMA may hold such a CREATE TABLE as one of its elements.
  if (/\bPARTITION\s+OF\b/i.test(stmt.text)) return false;
  if (start.includes('INDEX') && start[0] === 'CREATE') return plainColumnsIndex(stmt.text);
  // A schema element may build an index (on rows the element list cannot have added, but it is not worth the proof).
  if (start[1] === 'SCHEMA' && start[0] === 'CREATE' && /\bINDEX\b/i.test(stmt.text)) return false;
  return true;
}

const NAME = String.raw`((?:"(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*))?)`;
const CREATED_TABLE = new RegExp(String.raw`^CREATE\s+(?:UNLOGGED\s+)?TABLE\s+${NAME}`, 'i');
const INDEXED_TABLE = new RegExp(String.raw`\bON\s+(?:ONLY\s+)?${NAME}`, 'i');

/** A table name as written, folded as PostgreSQL folds it: unquoted parts lower-cased, quotes kept. */
function folded(name: string): string {
  return name
    .split(/\s*\.\s*/)
    .map((part) => (part.startsWith('"') ? part : part.toLowerCase()))
    .join('.');
}

/**
 * For each statement of a file, whether it is inert (the list above), with one more condition: an index is built without
 * calling any function of the user's (its type's or its operator class's support functions) only
 * when its table has no rows, so a CREATE INDEX counts as inert only on a table that an earlier
 * statement of the same file created (`CREATE TABLE`, not `IF NOT EXISTS`, which may find one
 * with rows), under the same name as written.
 */
export function inertStatements(statements: readonly SqlStatement[]): boolean[] {
  const created = new Set<string>();
  return statements.map((stmt) => {
    const words = leadingWords(stmt, 4);
    if (!isInert(stmt, words)) return false;
    if (words[0] !== 'CREATE') return true;
    const table = CREATED_TABLE.exec(stmt.text);
    if (table && !/^CREATE\s+(?:UNLOGGED\s+)?TABLE\s+IF\b/i.test(stmt.text)) created.add(folded(table[1]!));
    if (words[1] === 'INDEX' || words[2] === 'INDEX') {
      const on = INDEXED_TABLE.exec(stmt.text);
      return on !== null && created.has(folded(on[1]!));
    }
    return true;
  });
}

/**
 * A CREATE INDEX on plain columns: its first parenthesised list holds no parenthesis of its own
 * (no expression, so no function of the user's is called on the rows), and it has no WHERE.
 */
function plainColumnsIndex(text: string): boolean {
  if (/\bWHERE\b/i.test(text)) return false;
  const open = text.indexOf('(');
  if (open === -1) return false;
  const close = text.indexOf(')', open);
  return close !== -1 && !text.slice(open + 1, close).includes('(');
}
