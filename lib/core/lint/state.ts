/**
 * Pure: what the lint engine knows at a statement about what the files before it did: which
 * tables they created (and whether those are new in this run), their columns' types, the
 * constraints added NOT VALID and not yet validated, which index belongs to which table, and
 * which transaction the statement runs in.
 */
import type { Finding, LintFacts, LintMigration, Severity, TableRef, TableSize } from './types.js';
import { displayRef, type Tokens } from './tokens.js';

/** Names looked up as PostgreSQL would find them: an unqualified name matches any schema's (search_path), a qualified one its schema or an unqualified record. */
export class Names<T> {
  private readonly byName = new Map<string, { schema: string | null; value: T }[]>();

  get(ref: TableRef): T | undefined {
    const entries = this.byName.get(ref.name);
    if (!entries) return undefined;
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i]!;
      if (ref.schema === null || entry.schema === null || entry.schema === ref.schema) return entry.value;
    }
    return undefined;
  }

  set(ref: TableRef, value: T): void {
    this.delete(ref);
    const entries = this.byName.get(ref.name) ?? [];
    entries.push({ schema: ref.schema, value });
    this.byName.set(ref.name, entries);
  }

  delete(ref: TableRef): void {
    const entries = this.byName.get(ref.name);
    if (!entries) return;
    const kept = entries.filter((entry) => !(ref.schema === null || entry.schema === null || entry.schema === ref.schema));
    if (kept.length === 0) this.byName.delete(ref.name);
    else this.byName.set(ref.name, kept);
  }
}

export interface TableInfo {
  ref: TableRef;
  /** Created in this run (by a pending file, or earlier in the file being read): no rows, no traffic. */
  isNew: boolean;
  /** Column name → its type as written (upper case, no spaces), when a file declared it. */
  columns: Map<string, string>;
  /** Created with PARTITION BY in the files. */
  partitioned?: boolean;
  /** Columns with a validated CHECK (col IS NOT NULL): SET NOT NULL then needs no scan (PostgreSQL 12+). */
  notNullChecked: Set<string>;
  /** Columns the files declared NOT NULL (or PRIMARY KEY), or set NOT NULL. */
  notNull: Set<string>;
}

export interface NotValidConstraint {
  table: TableRef;
  transaction: number;
  /** For CHECK (col IS NOT NULL): the column. */
  column: string | null;
  kind: 'check' | 'foreign-key';
}

/** Everything the rules read and write while the engine walks the files. */
export class LintState {
  readonly tables = new Names<TableInfo>();
  readonly indexes = new Names<TableRef>();
  /** An index's plain columns, when the files created it on plain columns (not expressions). */
  readonly indexColumns = new Names<string[]>();
  /** Constraint name → the tables it was added NOT VALID on (names are unique per table, not per schema). */
  private readonly notValid = new Map<string, Names<NotValidConstraint>>();
  /** Tables created in the file being read, made existing at its end when it is not pending. */
  createdInFile: TableInfo[] = [];
  /** Existing tables locked ACCESS EXCLUSIVE per transaction, and whether that was reported. */
  private exclusive = new Map<number, { tables: Names<string>; count: number; names: string[]; reported: boolean }>();
  transaction = 0;
  transactional = false;
  migration: LintMigration | null = null;
  readonly findings: Finding[] = [];

  constructor(readonly facts: LintFacts) {}

  addNotValid(constraint: string, added: NotValidConstraint): void {
    let tables = this.notValid.get(constraint);
    if (!tables) {
      tables = new Names();
      this.notValid.set(constraint, tables);
    }
    tables.set(added.table, added);
  }

  /** The constraint of that name added NOT VALID on `table` and not validated yet; forgotten once taken. */
  takeNotValid(constraint: string, table: TableRef): NotValidConstraint | undefined {
    const tables = this.notValid.get(constraint);
    const added = tables?.get(table);
    if (added) tables!.delete(table);
    return added;
  }

  at(major: number): boolean {
    return this.facts.serverVersionNum >= major * 10000;
  }

  /** A table a file created (new when the file is pending; while its own file is read, always). */
  created(ref: TableRef, columns: Map<string, string>, notNull = new Set<string>()): TableInfo {
    const info: TableInfo = { ref, isNew: true, columns, notNullChecked: new Set(), notNull };
    this.tables.set(ref, info);
    this.createdInFile.push(info);
    return info;
  }

  info(ref: TableRef): TableInfo {
    const known = this.tables.get(ref);
    if (known) return known;
    const info: TableInfo = { ref, isNew: false, columns: new Map(), notNullChecked: new Set(), notNull: new Set() };
    this.tables.set(ref, info);
    return info;
  }

  /** The column is known to allow NULLs (declared in the files or the catalogue, neither NOT NULL nor covered by a validated check on 12+); false when unknown. */
  nullable(table: TableInfo, column: string): boolean {
    if (table.notNull.has(column) || (this.at(12) && table.notNullChecked.has(column))) return false;
    if (table.columns.has(column)) return true;
    const size = this.size(table.ref);
    if (size?.columns?.[column] === undefined || size.notNull === undefined) return false;
    return !size.notNull.includes(column);
  }

  /** A partitioned table, as the files or the catalogue say. */
  partitioned(ref: TableRef): boolean {
    return this.tables.get(ref)?.partitioned === true || this.size(ref)?.partitioned === true;
  }

  size(ref: TableRef): TableSize | undefined {
    this.facts.onLookup?.(ref);
    const sizes = this.facts.sizes;
    if (!sizes) return undefined;
    if (ref.schema !== null) return sizes.find((s) => s.schema === ref.schema && s.name === ref.name);
    return sizes.find((s) => s.name === ref.name && s.visible);
  }

  /**
   * The table as the lock rules see it: null when it is new in this run, or small (fewer
   * estimated rows than --min-rows); else its estimated rows (undefined when unknown).
   */
  existing(ref: TableRef): { rows: number | undefined } | null {
    if (this.tables.get(ref)?.isNew) return null;
    const size = this.size(ref);
    const rows = size?.rows ?? undefined;
    if (rows !== undefined && this.facts.minRows > 0 && rows < this.facts.minRows) return null;
    return { rows };
  }

  /** Records that the statement locks `ref` ACCESS EXCLUSIVE; reports the second existing table of a transaction. */
  exclusiveLock(ref: TableRef, tokens: Tokens, at: number): void {
    if (!this.transactional || this.existing(ref) === null) return;
    let locks = this.exclusive.get(this.transaction);
    if (!locks) {
      locks = { tables: new Names(), count: 0, names: [], reported: false };
      this.exclusive.clear();
      this.exclusive.set(this.transaction, locks);
    }
    // `t` and `public.t` are one table (as PostgreSQL's search_path would find it), counted once.
    if (locks.tables.get(ref) === undefined) {
      locks.tables.set(ref, displayRef(ref));
      locks.count++;
      locks.names.push(displayRef(ref));
    }
    if (locks.count >= 2 && !locks.reported) {
      locks.reported = true;
      const names = locks.names.join(', ');
      this.report(tokens, at, 'multiple-exclusive-locks', 'warning', ref,
        `this migration's transaction takes ACCESS EXCLUSIVE locks on several existing tables (${names}) and holds each until it commits: every query on all of them waits for the whole migration, and two runs or sessions taking them in another order deadlock`,
        'split the migration so each transaction changes one busy table, or make sure it runs with a short --migration-lock-timeout');
    }
  }

  report(tokens: Tokens, at: number, rule: string, severity: Severity, ref: TableRef | null, message: string, fix: string): void {
    const migration = this.migration;
    if (!migration?.lint) return;
    const where = tokens.where(at);
    const size = ref ? this.existing(ref) : null;
    const rows = size?.rows;
    const table = ref ? displayRef(ref) : undefined;
    const sized = table !== undefined && rows !== undefined ? ` (${table} has ~${formatRows(rows)} rows)` : '';
    this.findings.push({
      file: migration.file.path,
      version: migration.version,
      line: where.line,
      column: where.column,
      rule,
      severity,
      message: `${message}${sized}`,
      fix,
      ...(table !== undefined ? { table } : {}),
      ...(rows !== undefined ? { rows } : {}),
    });
  }
}

export function formatRows(rows: number): string {
  if (rows >= 1e9) return `${(rows / 1e9).toFixed(1).replace(/\.0$/, '')}G`;
  if (rows >= 1e6) return `${(rows / 1e6).toFixed(1).replace(/\.0$/, '')}M`;
  if (rows >= 1e4) return `${Math.round(rows / 1e3)}k`;
  return String(Math.round(rows));
}
