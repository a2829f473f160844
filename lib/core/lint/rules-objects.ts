/**
 * Pure: the rules for statements about whole objects: CREATE TABLE (recorded, so that later
 * statements know the table is new), CREATE/DROP INDEX, REINDEX, VACUUM FULL, CLUSTER, DROP TABLE,
 * LOCK TABLE.
 */
import type { LintState } from './state.js';
import { displayRef, type Tokens } from './tokens.js';
import type { TableRef } from './types.js';

/** CREATE [GLOBAL|LOCAL] [TEMP|UNLOGGED] TABLE [IF NOT EXISTS] name (…) | AS … | PARTITION OF … */
export function createTable(state: LintState, t: Tokens, tableAt: number): void {
  let i = tableAt + 1;
  const ifNotExists = t.is(i, 'IF') && t.is(i + 1, 'NOT') && t.is(i + 2, 'EXISTS');
  if (ifNotExists) i += 3;
  const name = t.qualified(i);
  if (!name) return;
  // CREATE TABLE IF NOT EXISTS of a table the server already has creates nothing: it stays existing.
  if (ifNotExists && state.size(name.ref) !== undefined && !state.tables.get(name.ref)?.isNew) return;
  const columns = new Map<string, string>();
  const notNull = new Set<string>();
  const open = name.next;
  if (t.at(open)?.kind === 'openParen') {
    const close = t.closing(open);
    for (const [from, to] of t.items(open + 1, close, 1)) {
      const primary = t.find(from, to, 'PRIMARY');
      if (t.is(from, 'CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN', 'EXCLUDE', 'LIKE')) {
        // A table's PRIMARY KEY (a, b) makes its columns NOT NULL.
        if (primary !== -1 && t.is(primary + 1, 'KEY') && t.at(primary + 2)?.kind === 'openParen') {
          for (const column of plainColumns(t, primary + 2) ?? []) notNull.add(column);
        }
        continue;
      }
      const column = t.ident(from);
      if (column === null) continue;
      columns.set(column, columnType(t, from + 1, to));
      const not = t.find(from, to, 'NOT');
      if (primary !== -1 || (not !== -1 && t.is(not + 1, 'NULL'))) notNull.add(column);
    }
  }
  const info = state.created(name.ref, columns, notNull);
  const close = t.at(open)?.kind === 'openParen' ? t.closing(open) : open - 1;
  if (t.is(close + 1, 'PARTITION') && t.is(close + 2, 'BY')) info.partitioned = true;
}

/** The columns of the list at the '(' at `open` when each is a plain column name; null when one is an expression. */
export function plainColumns(t: Tokens, open: number): string[] | null {
  const close = t.closing(open);
  const columns: string[] = [];
  for (const [from, to] of t.items(open + 1, close, (t.at(open)?.depth ?? 0) + 1)) {
    const column = t.ident(from);
    // `col`, or `col ASC`, `col text_pattern_ops`, … : the first token a name, no parenthesis.
    if (column === null || t.at(from + 1)?.kind === 'openParen') return null;
    for (let i = from; i < to; i++) if (t.at(i)!.kind === 'openParen') return null;
    columns.push(column);
  }
  return columns;
}

const COLUMN_CONSTRAINT_WORDS = ['NOT', 'NULL', 'DEFAULT', 'CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'REFERENCES', 'GENERATED', 'COLLATE', 'COMPRESSION', 'STORAGE', 'USING'];

/** A column's type from `from` up to its first constraint word, upper case without spaces (`VARCHAR(10)`), or '' when none is written. */
export function columnType(t: Tokens, from: number, to: number): string {
  let end = from;
  const depth = t.at(from)?.depth ?? 0;
  while (end < to && !(t.at(end)!.depth === depth && COLUMN_CONSTRAINT_WORDS.includes(t.word(end)))) end++;
  return t.text(from, end).toUpperCase().replace(/\s+/g, '');
}

/** CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON [ONLY] table … */
export function createIndex(state: LintState, t: Tokens, indexAt: number): void {
  let i = indexAt + 1;
  const concurrently = t.is(i, 'CONCURRENTLY');
  if (concurrently) i++;
  if (t.is(i, 'IF') && t.is(i + 1, 'NOT') && t.is(i + 2, 'EXISTS')) i += 3;
  let indexName: TableRef | null = null;
  if (!t.is(i, 'ON')) {
    const name = t.qualified(i);
    if (!name) return;
    indexName = name.ref;
    i = name.next;
  }
  if (!t.is(i, 'ON')) return;
  i++;
  const only = t.is(i, 'ONLY');
  if (only) i++;
  const table = t.qualified(i);
  if (!table) return;
  const partitioned = state.partitioned(table.ref);
  // An index lives in its table's schema.
  if (indexName) {
    const ref = { schema: indexName.schema ?? table.ref.schema, name: indexName.name };
    state.indexes.set(ref, table.ref);
    let open = table.next;
    if (t.is(open, 'USING')) open += 2;
    const columns = t.at(open)?.kind === 'openParen' ? plainColumns(t, open) : null;
    if (columns) state.indexColumns.set(ref, columns);
    else state.indexColumns.delete(ref);
  }
  if (concurrently) {
    pg14Bug(state, t, indexAt, 'CREATE INDEX CONCURRENTLY');
    return;
  }
  // ON ONLY a partitioned table makes an invalid index on the parent alone: nothing is built, it is instant.
  if (state.existing(table.ref) === null || (only && partitioned)) return;
  state.report(t, 0, 'index-not-concurrent', 'error', table.ref,
    `CREATE INDEX without CONCURRENTLY locks ${displayRef(table.ref)}${partitioned ? ' and every partition' : ''} in SHARE mode while the whole index is built: every INSERT, UPDATE and DELETE on it waits until the build ends`,
    partitioned
      ? `a partitioned table has no CREATE INDEX CONCURRENTLY: CREATE INDEX idx ON ONLY ${displayRef(table.ref)} (…) (instant, invalid until complete), then for each partition CREATE INDEX CONCURRENTLY in a migration of its own and ALTER INDEX idx ATTACH PARTITION …; the parent's index becomes valid when every partition's is attached`
      : 'CREATE INDEX CONCURRENTLY … in a migration of its own (it cannot run in a transaction: pgpair runs such a file without one); if it fails, DROP INDEX CONCURRENTLY the invalid index and run it again');
}

/** CREATE/REINDEX … CONCURRENTLY on 14.0–14.3 can corrupt the index (fixed in 14.4). */
function pg14Bug(state: LintState, t: Tokens, at: number, what: string): void {
  const version = state.facts.serverVersionNum;
  if (version < 140000 || version >= 140004) return;
  state.report(t, at, 'concurrent-index-pg14-bug', 'error', null,
    `${what} on PostgreSQL 14.0 to 14.3 (this server is ${Math.floor(version / 10000)}.${version % 100}) can build a corrupt index when rows are updated during the build, silently missing entries (fixed in 14.4)`,
    'upgrade the server to 14.4 or later first (then REINDEX CONCURRENTLY indexes built concurrently on 14.0-14.3)');
}

/** DROP INDEX [CONCURRENTLY] [IF EXISTS] name [, …] */
export function dropIndex(state: LintState, t: Tokens): void {
  let i = 2;
  const concurrently = t.is(i, 'CONCURRENTLY');
  if (concurrently) i++;
  if (t.is(i, 'IF') && t.is(i + 1, 'EXISTS')) i += 2;
  for (;;) {
    const name = t.qualified(i);
    if (!name) return;
    const table = state.indexes.get(name.ref);
    if (!concurrently && (table === undefined || state.existing(table) !== null)) {
      state.report(t, i, 'drop-index-not-concurrent', 'warning', table ?? null,
        `DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on ${table ? displayRef(table) : 'the index\'s table'}: it is quick, but it waits behind every running query on the table, and every new query waits behind it`,
        `DROP INDEX CONCURRENTLY ${displayRef(name.ref)} in a migration of its own (no transaction)`);
    }
    state.indexes.delete(name.ref);
    if (t.at(name.next)?.upper !== ',') return;
    i = name.next + 1;
  }
}

/** REINDEX [(options)] INDEX|TABLE|SCHEMA|DATABASE|SYSTEM [CONCURRENTLY] name */
export function reindex(state: LintState, t: Tokens): void {
  let i = 1;
  let concurrently = false;
  if (t.at(i)?.kind === 'openParen') {
    const close = t.closing(i);
    concurrently = t.find(i + 1, close, 'CONCURRENTLY') !== -1;
    i = close + 1;
  }
  const kind = t.word(i);
  if (!['INDEX', 'TABLE', 'SCHEMA', 'DATABASE', 'SYSTEM'].includes(kind)) return;
  i++;
  if (t.is(i, 'CONCURRENTLY')) {
    concurrently = true;
    i++;
  }
  if (concurrently) {
    pg14Bug(state, t, 0, 'REINDEX CONCURRENTLY');
    return;
  }
  const name = t.qualified(i);
  const table = kind === 'TABLE' ? name?.ref : kind === 'INDEX' && name ? state.indexes.get(name.ref) : undefined;
  if (table !== undefined && state.existing(table) === null) return;
  const what = kind === 'INDEX' || kind === 'TABLE' ? `the ${kind.toLowerCase()} ${name ? displayRef(name.ref) : ''}` : `every index of the ${kind.toLowerCase()}`;
  state.report(t, 0, 'reindex-not-concurrent', 'error', table ?? null,
    `REINDEX without CONCURRENTLY locks the index ACCESS EXCLUSIVE and its table SHARE while it rebuilds ${what}: writes wait, and so do reads that would use the index`,
    `REINDEX ${kind} CONCURRENTLY … in a migration of its own (no transaction)`);
}

/** VACUUM FULL / VACUUM (FULL …) rewrites each table under ACCESS EXCLUSIVE. */
export function vacuum(state: LintState, t: Tokens): void {
  let full = t.is(1, 'FULL');
  let i = full ? 2 : 1;
  if (t.at(1)?.kind === 'openParen') {
    const close = t.closing(1);
    for (const [from] of t.items(2, close, 1)) {
      if (t.is(from, 'FULL') && !t.is(from + 1, 'FALSE', 'OFF', '0')) full = true;
    }
    i = close + 1;
  }
  if (!full) return;
  while (t.is(i, 'FREEZE', 'VERBOSE', 'ANALYZE', 'ANALYSE')) i++;
  const table = t.qualified(i)?.ref;
  if (table !== undefined && state.existing(table) === null) return;
  state.report(t, 0, 'vacuum-full', 'error', table ?? null,
    `VACUUM FULL rewrites ${table ? displayRef(table) : 'every table of the database'} under an ACCESS EXCLUSIVE lock: no query can read or write it until the copy is done, and it needs room for a second copy`,
    'plain VACUUM (no lock on reads and writes); to give the space back, use pg_repack or pg_squeeze outside a migration');
}

/** CLUSTER [VERBOSE] table [USING index] rewrites the table under ACCESS EXCLUSIVE. */
export function cluster(state: LintState, t: Tokens): void {
  let i = 1;
  if (t.at(i)?.kind === 'openParen') i = t.closing(i) + 1;
  if (t.is(i, 'VERBOSE')) i++;
  const table = t.qualified(i)?.ref;
  if (table !== undefined && state.existing(table) === null) return;
  state.report(t, 0, 'cluster', 'error', table ?? null,
    `CLUSTER rewrites ${table ? displayRef(table) : 'every clustered table'} in index order under an ACCESS EXCLUSIVE lock: no query can read or write it until the rewrite is done`,
    'leave the order to the planner, or use pg_repack --order-by outside a migration');
}

/** DROP TABLE [IF EXISTS] name [, …]: code still reading the table breaks. */
export function dropTable(state: LintState, t: Tokens): void {
  let i = 2;
  if (t.is(i, 'IF') && t.is(i + 1, 'EXISTS')) i += 2;
  for (;;) {
    const name = t.qualified(i);
    if (!name) return;
    if (!state.tables.get(name.ref)?.isNew) {
      state.report(t, i, 'drop-table', 'warning', null,
        `DROP TABLE ${displayRef(name.ref)}: application code that still reads or writes it fails at once, and the running version of the application is still deployed while the migration runs; the ACCESS EXCLUSIVE lock also waits behind every query on it`,
        'first deploy code that no longer uses the table, then drop it in a later release (suppress this finding with the reason once that is so)');
      state.exclusiveLock(name.ref, t, i);
    }
    state.tables.delete(name.ref);
    if (t.at(name.next)?.upper !== ',') return;
    i = name.next + 1;
  }
}

/** LOCK [TABLE] [ONLY] name [, …] [IN mode MODE]: ACCESS EXCLUSIVE unless another mode is named. */
export function lockTable(state: LintState, t: Tokens): void {
  let i = t.is(1, 'TABLE') ? 2 : 1;
  const modeAt = t.find(0, t.length, 'IN');
  if (modeAt !== -1 && !(t.is(modeAt + 1, 'ACCESS') && t.is(modeAt + 2, 'EXCLUSIVE'))) return;
  for (;;) {
    if (t.is(i, 'ONLY')) i++;
    const name = t.qualified(i);
    if (!name) return;
    state.exclusiveLock(name.ref, t, i);
    if (t.at(name.next)?.upper !== ',') return;
    i = name.next + 1;
  }
}
