/**
 * Pure: the ALTER TABLE actions about the whole table rather than one column: DETACH PARTITION,
 * the SET forms that copy the table, and ADD PRIMARY KEY USING INDEX (which sets its columns NOT
 * NULL). Called by rules-alter.ts for each such action.
 */
import type { LintState, TableInfo } from './state.js';
import { displayRef, type Tokens } from './tokens.js';
import type { TableRef } from './types.js';

/** The statement and the table an ALTER TABLE action is about. */
export interface AlterContext {
  state: LintState;
  t: Tokens;
  ref: TableRef;
  table: TableInfo;
}

export function detachPartition({ state, t, ref }: AlterContext, from: number, to: number): void {
  if (t.find(from, to, 'CONCURRENTLY', 'FINALIZE') !== -1) return;
  state.exclusiveLock(ref, t, from);
  if (state.existing(ref) === null) return;
  const concurrent = state.at(14);
  state.report(t, from, 'detach-partition-not-concurrent', concurrent ? 'error' : 'warning', null,
    `DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on ${displayRef(ref)}, the partitioned table: every query on any of its partitions waits`,
    concurrent
      ? 'ALTER TABLE … DETACH PARTITION … CONCURRENTLY in a migration of its own (no transaction; PostgreSQL 14+)'
      : 'this server has no concurrent form (PostgreSQL 14+ has DETACH PARTITION … CONCURRENTLY): run it with a short --migration-lock-timeout when the table is quiet');
}

/** ADD PRIMARY KEY USING INDEX sets its columns NOT NULL: a full scan for each one that allows NULLs. */
export function primaryKeyNotNull({ state, t, ref, table }: AlterContext, from: number, indexAt: number): void {
  const index = t.qualified(indexAt)?.ref;
  const columns = index ? state.indexColumns.get(index) : undefined;
  if (!index || !columns) return;
  const nullable = columns.filter((column) => state.nullable(table, column));
  for (const column of columns) table.notNull.add(column);
  if (nullable.length === 0 || state.existing(ref) === null) return;
  const list = nullable.join(', ');
  state.report(t, from, 'set-not-null', 'error', ref,
    `ADD PRIMARY KEY USING INDEX ${displayRef(index)} first sets NOT NULL on ${list} of ${displayRef(ref)}, which scans every row while holding an ACCESS EXCLUSIVE lock: every query on the table waits for the scan`,
    `before adding the primary key, for ${list}: ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later migration, then SET NOT NULL (PostgreSQL 12+ skips the scan); then ADD PRIMARY KEY USING INDEX is instant`);
}

/** SET LOGGED / UNLOGGED / TABLESPACE / ACCESS METHOD copy the whole table under ACCESS EXCLUSIVE. */
export function rewriteTable({ state, t, ref }: AlterContext, from: number, what: string): void {
  if (state.existing(ref) === null) return;
  state.report(t, from, 'table-rewrite', 'error', ref,
    `SET ${what} writes a new copy of ${displayRef(ref)}${what === 'TABLESPACE' ? ' (and its data files are copied)' : what === 'LOGGED' ? ' into the WAL' : ''} while holding an ACCESS EXCLUSIVE lock: no query can read or write the table until the copy is done`,
    what === 'TABLESPACE'
      ? 'move the table when it is quiet, outside a migration (pg_repack --tablespace), or create new tables in the tablespace instead'
      : 'do it when the table is quiet, outside the deploy, or build a new table and switch to it');
}
