/**
 * A `CREATE INDEX CONCURRENTLY` that fails (a lock timeout while it waits for older transactions,
 * a deadlock) leaves its index behind, INVALID: the planner never uses it, but every write keeps
 * it up to date, and a retry with IF NOT EXISTS would skip it. Before such a statement is tried
 * again, pgpair drops that index, and only that one: an index of the statement's table that did
 * not exist before this attempt, is INVALID, is named as the statement names it (when it does),
 * and is not being built by another session.
 */
import { quoteIdent } from '../../core/ident.js';
import type { SqlStatement } from '../../core/lexer.js';
import { TokenCursor, type SignificantToken } from '../../core/tokens.js';
import type { Queryable } from '../../db/types.js';

/** What a CREATE INDEX CONCURRENTLY statement names: its table (as written: to_regclass resolves it), its index name if given. */
export interface ConcurrentIndex {
  table: string;
  /** The index name as PostgreSQL stores it (unquoted, folded to lower case), or null when PostgreSQL generates one. */
  name: string | null;
  ifNotExists: boolean;
}

/** An index in the database. */
export interface IndexName {
  schema: string;
  name: string;
}

const isName = (t: SignificantToken | undefined): t is SignificantToken => t !== undefined && (t.kind === 'word' || t.kind === 'quotedIdent');

/** An identifier token as PostgreSQL stores it: a quoted one unquoted, an unquoted one folded to lower case (ASCII). */
function identifierOf(text: string, token: SignificantToken): string {
  const raw = text.slice(token.start, token.end);
  return token.kind === 'quotedIdent' ? raw.slice(1, -1).replaceAll('""', '"') : raw.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] [name] ON [ONLY] table …` → what it names;
 * null for any other statement (or one this reader does not follow, which is then not retried
 * with a cleanup: see runStatementWithRetries).
 */
export function concurrentIndexOf(statement: SqlStatement): ConcurrentIndex | null {
  const text = statement.text;
  const tokens = new TokenCursor(text);
  let i = 0;
  const word = (...words: string[]) => {
    const t = tokens.at(i);
    if (t?.kind === 'word' && words.includes(t.upper)) {
      i++;
      return true;
    }
    return false;
  };
  if (!word('CREATE')) return null;
  word('UNIQUE');
  if (!word('INDEX') || !word('CONCURRENTLY')) return null;
  let ifNotExists = false;
  if (word('IF')) {
    if (!word('NOT') || !word('EXISTS')) return null;
    ifNotExists = true;
  }
  let name: string | null = null;
  const maybeName = tokens.at(i);
  if (isName(maybeName) && !(maybeName.kind === 'word' && maybeName.upper === 'ON')) {
    name = identifierOf(text, maybeName);
    i++;
  }
  if (!word('ON')) return null;
  word('ONLY');
  const parts: string[] = [];
  for (;;) {
    const part = tokens.at(i);
    if (!isName(part)) return null;
    parts.push(text.slice(part.start, part.end));
    i++;
    const dot = tokens.at(i);
    if (dot?.kind !== 'other' || text.slice(dot.start, dot.end) !== '.') break;
    parts.push('.');
    i++;
  }
  return { table: parts.join(''), name, ifNotExists };
}

/** $1 the table as written. The OIDs of its indexes now, as text: what existed before an attempt. */
const INDEXES_SQL = `SELECT coalesce(json_agg(i.indexrelid::oid::text), '[]')::text AS oids FROM pg_index i WHERE i.indrelid = to_regclass($1)`;

/**
 * $1 the table as written, $2 JSON array of the index OIDs it had before the attempt, $3 the index
 * name or NULL. Its INVALID indexes that are new since then, each with whether another session
 * may be building it: one that holds the table's ShareUpdateExclusiveLock (a CREATE INDEX
 * CONCURRENTLY holds it for its whole run; pg_locks shows every role's locks) or that
 * pg_stat_progress_create_index shows building it (it shows other roles' builds only to some).
 */
const LEFTOVER_SQL = `SELECT n.nspname AS schema, c.relname AS name,
       EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND l.relation = i.indrelid AND l.mode = 'ShareUpdateExclusiveLock' AND l.granted AND l.pid <> pg_backend_pid())
       OR EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid AND p.pid <> pg_backend_pid()) AS busy
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE i.indrelid = to_regclass($1) AND NOT i.indisvalid
   AND NOT (i.indexrelid::oid::text IN (SELECT json_array_elements_text($2::json)))
   AND ($3::text IS NULL OR c.relname = $3::text)
 ORDER BY c.relname`;

/** Whether the table resolves (in the session's search_path), and its indexes now: null when it does not resolve. */
export async function indexesBefore(q: Queryable, index: ConcurrentIndex): Promise<string | null> {
  const [resolved] = await q.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [index.table]);
  if (!resolved?.found) return null;
  const [row] = await q.query<{ oids: string }>(INDEXES_SQL, [index.table]);
  return row?.oids ?? '[]';
}

/**
 * The INVALID indexes the failed attempt left on the table (see LEFTOVER_SQL); null when one of
 * the candidates may be another session's build in progress: pgpair cannot tell which is its own.
 */
export async function leftoverIndexes(q: Queryable, index: ConcurrentIndex, before: string): Promise<IndexName[] | null> {
  const rows = await q.query<{ schema: string; name: string; busy: boolean }>(LEFTOVER_SQL, [index.table, before, index.name]);
  if (rows.some((r) => r.busy)) return null;
  return rows.map((r) => ({ schema: String(r.schema), name: String(r.name) }));
}

export const indexLabel = (index: IndexName) => `${quoteIdent(index.schema)}.${quoteIdent(index.name)}`;

/** The statement that drops a left-over index: concurrently, so that it does not lock out the table's traffic either. */
export const dropIndexSql = (index: IndexName) => `DROP INDEX CONCURRENTLY IF EXISTS ${indexLabel(index)}`;
