/**
 * Pure: the rules for ALTER TABLE, action by action (one statement may hold several, each
 * reported where it starts): added columns, constraints, type changes, SET NOT NULL, renames,
 * drops, DETACH PARTITION, and the ACCESS EXCLUSIVE lock most actions take.
 */
import { catalogueType, defaultCost, isSerial, normalType, typeChangeRewrites } from './defaults.js';
import { columnType } from './rules-objects.js';
import type { LintState, TableInfo } from './state.js';
import { displayRef, type Tokens } from './tokens.js';
import { detachPartition, primaryKeyNotNull, rewriteTable, type AlterContext } from './rules-table.js';
import type { TableRef } from './types.js';

/** ALTER TABLE [IF EXISTS] [ONLY] name [*] action [, …] */
export function alterTable(state: LintState, t: Tokens): void {
  let i = 2;
  if (t.is(i, 'IF') && t.is(i + 1, 'EXISTS')) i += 2;
  if (t.is(i, 'ONLY')) i++;
  if (t.is(i, 'ALL')) return; // ALTER TABLE ALL IN TABLESPACE
  const name = t.qualified(i);
  if (!name) return;
  i = name.next;
  if (t.at(i)?.upper === '*') i++;
  const table = state.info(name.ref);
  const action = new Action(state, t, name.ref, table);
  if (t.is(i, 'RENAME')) {
    action.rename(i);
    return;
  }
  if (t.is(i, 'SET') && t.is(i + 1, 'SCHEMA')) return;
  const depth = t.at(i)?.depth ?? 0;
  for (const [from, to] of t.items(i, t.length, depth)) action.run(from, to);
}

class Action {
  constructor(private readonly state: LintState, private readonly t: Tokens, private readonly ref: TableRef, private readonly table: TableInfo) {}

  private get name(): string {
    return displayRef(this.ref);
  }

  private get context(): AlterContext {
    return { state: this.state, t: this.t, ref: this.ref, table: this.table };
  }

  private exclusive(at: number): void {
    this.state.exclusiveLock(this.ref, this.t, at);
  }

  run(from: number, to: number): void {
    const { t } = this;
    const next = t.word(from + 1);
    switch (t.word(from)) {
      case 'ADD':
        if (['CONSTRAINT', 'CHECK', 'FOREIGN', 'UNIQUE', 'PRIMARY', 'EXCLUDE'].includes(next)) this.addConstraint(from, from + 1, to);
        else this.addColumn(from, next === 'COLUMN' ? from + 2 : from + 1, to);
        break;
      case 'DROP':
        if (next !== 'CONSTRAINT') this.dropColumn(from, next === 'COLUMN' ? from + 2 : from + 1);
        this.exclusive(from);
        break;
      case 'ALTER':
        this.alterColumn(from, next === 'COLUMN' ? from + 2 : from + 1, to);
        break;
      case 'VALIDATE':
        this.validate(from);
        break;
      case 'DETACH':
        detachPartition(this.context, from, to);
        break;
      // The lighter forms take SHARE UPDATE EXCLUSIVE or SHARE ROW EXCLUSIVE; everything else ACCESS EXCLUSIVE.
      case 'ATTACH':
      case 'CLUSTER':
      case 'RESET':
        break;
      case 'SET':
        if (!(t.at(from + 1)?.kind === 'openParen' || next === 'WITHOUT' || next === 'STATISTICS')) this.exclusive(from);
        if (['LOGGED', 'UNLOGGED', 'TABLESPACE'].includes(next) || (next === 'ACCESS' && t.is(from + 2, 'METHOD'))) rewriteTable(this.context, from, next === 'ACCESS' ? 'ACCESS METHOD' : next);
        break;
      case 'ENABLE':
      case 'DISABLE':
        if (t.find(from, to, 'TRIGGER') === -1) this.exclusive(from);
        break;
      default:
        this.exclusive(from);
    }
  }

  private dropColumn(from: number, at: number): void {
    const { t } = this;
    const column = t.ident(t.is(at, 'IF') && t.is(at + 1, 'EXISTS') ? at + 2 : at);
    if (column === null) return;
    if (!this.table.isNew) {
      this.state.report(t, from, 'drop-column', 'warning', null,
        `dropping column ${column} of ${this.name}: the application version still running reads and writes it until it is replaced, and fails on every such query; the ACCESS EXCLUSIVE lock also waits behind every query on the table`,
        'first deploy code that no longer uses the column (and ignore it in your ORM), then drop it in a later release; suppress this finding with that reason');
    }
    this.table.columns.delete(column);
  }

  rename(at: number): void {
    const { t, state } = this;
    if (t.is(at + 1, 'TO')) {
      const to = t.qualified(at + 2);
      if (!this.table.isNew) {
        state.report(t, at, 'rename-table', 'error', null,
          `renaming ${this.name}: the application version still running keeps using the old name and fails on every query until it is replaced`,
          'create a view with the old name over the renamed table (or rename in a release where no code uses it), deploy code that uses the new name, then drop the view');
      }
      state.exclusiveLock(this.ref, t, at);
      if (to) {
        state.tables.delete(this.ref);
        state.tables.set({ schema: to.ref.schema ?? this.ref.schema, name: to.ref.name }, { ...this.table, ref: to.ref });
      }
      return;
    }
    if (t.is(at + 1, 'CONSTRAINT')) return;
    const columnAt = t.is(at + 1, 'COLUMN') ? at + 2 : at + 1;
    const column = t.ident(columnAt);
    if (column === null) return;
    if (!this.table.isNew) {
      state.report(t, at, 'rename-column', 'error', null,
        `renaming column ${column} of ${this.name}: the application version still running keeps using the old name and fails on every query that names it until it is replaced`,
        'add the new column, write to both and backfill, deploy code that reads the new one, then drop the old one in a later release');
    }
    const newName = t.ident(columnAt + 2);
    const type = this.table.columns.get(column);
    if (newName !== null && type !== undefined) {
      this.table.columns.delete(column);
      this.table.columns.set(newName, type);
    }
    state.exclusiveLock(this.ref, t, at);
  }

  private addColumn(from: number, at: number, to: number): void {
    const { t, state } = this;
    let i = at;
    if (t.is(i, 'IF') && t.is(i + 1, 'NOT') && t.is(i + 2, 'EXISTS')) i += 3;
    const column = t.ident(i);
    if (column === null) return;
    const type = columnType(t, i + 1, to);
    this.table.columns.set(column, type);
    const not = t.find(i + 1, to, 'NOT');
    if ((not !== -1 && t.is(not + 1, 'NULL')) || t.find(i + 1, to, 'PRIMARY') !== -1) this.table.notNull.add(column);
    this.exclusive(from);
    if (state.existing(this.ref) === null) return;
    const depth = t.at(from)?.depth ?? 0;
    const defaultAt = t.find(i + 1, to, 'DEFAULT');
    const generatedAt = t.find(i + 1, to, 'GENERATED');
    if (isSerial(type)) {
      state.report(t, from, 'add-column-volatile-default', 'error', this.ref,
        `adding ${column} ${type.toLowerCase()} to ${this.name} fills every existing row from a sequence (nextval() is volatile): the whole table is rewritten under an ACCESS EXCLUSIVE lock, and every query on it waits`,
        'add the column as a plain integer/bigint without a default, set the default (nextval) for new rows, and backfill the old rows in batches');
    } else if (defaultAt !== -1) {
      let end = defaultAt + 1;
      const stop = ['NOT', 'NULL', 'CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'REFERENCES', 'GENERATED', 'COLLATE'];
      while (end < to && !(t.at(end)!.depth === depth && stop.includes(t.word(end)))) end++;
      const cost = defaultCost(t, defaultAt + 1, end);
      if (cost.kind !== 'constant') {
        state.report(t, from, 'add-column-volatile-default', cost.kind === 'volatile' ? 'error' : 'warning', this.ref,
          cost.kind === 'volatile'
            ? `adding ${column} with a volatile default (${cost.call}) to ${this.name} computes it for every existing row: the whole table is rewritten under an ACCESS EXCLUSIVE lock, and every query on it waits (a constant default is free since PostgreSQL 11)`
            : `adding ${column} with the default ${cost.call} to ${this.name}: if that function is volatile, every existing row is rewritten under an ACCESS EXCLUSIVE lock (a constant, or a stable function such as now(), is free since PostgreSQL 11)`,
          `add the column without the default (or with a constant one), then ALTER TABLE ${this.name} ALTER COLUMN ${column} SET DEFAULT …; for new rows, and backfill the existing rows in batches`);
      }
    }
    if (generatedAt !== -1) {
      const identity = t.find(generatedAt, to, 'IDENTITY') !== -1;
      const stored = t.find(generatedAt, to, 'STORED') !== -1;
      // PostgreSQL 18 adds virtual generated columns (the default there): computed when read, no rewrite.
      if (identity || stored || !state.at(18)) {
        state.report(t, from, 'add-column-generated', 'error', this.ref,
          `adding ${identity ? 'an identity' : 'a stored generated'} column ${column} to ${this.name} computes it for every existing row: the whole table is rewritten under an ACCESS EXCLUSIVE lock, and every query on it waits`,
          identity
            ? 'add a plain column, attach a sequence as its default for new rows, and backfill the old rows in batches'
            : 'add a plain column kept up to date by a trigger, backfill it in batches, or (PostgreSQL 18+) use a VIRTUAL generated column');
      }
    }
    const references = t.find(i + 1, to, 'REFERENCES');
    // A new column without a default is NULL in every row: PostgreSQL has nothing to validate (PG 15: no scan).
    if (references !== -1) this.foreignKey(from, references, to, defaultAt === -1 || t.is(defaultAt + 1, 'NULL'));
    const unique = t.find(i + 1, to, 'UNIQUE', 'PRIMARY');
    if (unique !== -1) this.uniqueWithoutIndex(from, unique);
    // A column's own CHECK cannot be NOT VALID: PostgreSQL scans every row to check it (even when the new column is all NULL).
    if (t.find(i + 1, to, 'CHECK') !== -1) {
      state.report(t, from, 'check-not-valid', 'error', this.ref,
        `adding ${column} with a CHECK constraint to ${this.name} scans every row to validate it while holding an ACCESS EXCLUSIVE lock: every query on the table waits for the scan`,
        `add the column without the CHECK, then ALTER TABLE ${this.name} ADD CONSTRAINT … CHECK (…) NOT VALID (instant), and VALIDATE CONSTRAINT … in a later migration`);
    }
  }

  private addConstraint(from: number, what: number, to: number): void {
    const { t } = this;
    let kindAt = what;
    let constraint: string | null = null;
    if (t.is(what, 'CONSTRAINT')) {
      constraint = t.ident(what + 1);
      kindAt = what + 2;
    }
    const notValidAt = t.find(kindAt, to, 'NOT');
    const notValid = notValidAt !== -1 && t.is(notValidAt + 1, 'VALID');
    const kind = t.word(kindAt);
    // A foreign key takes SHARE ROW EXCLUSIVE; the other constraints ACCESS EXCLUSIVE.
    if (kind !== 'FOREIGN') this.exclusive(from);
    if (kind === 'UNIQUE' || kind === 'PRIMARY' || kind === 'EXCLUDE') {
      const usingAt = t.find(kindAt, to, 'USING');
      if (usingAt === -1 || !t.is(usingAt + 1, 'INDEX')) this.uniqueWithoutIndex(from, kindAt);
      else if (kind === 'PRIMARY') primaryKeyNotNull(this.context, from, usingAt + 2);
      return;
    }
    if (kind === 'FOREIGN') {
      if (notValid) this.recordNotValid(constraint, 'foreign-key', null);
      else this.foreignKey(from, t.find(kindAt, to, 'REFERENCES'), to);
      return;
    }
    if (kind !== 'CHECK') return;
    const open = kindAt + 1;
    const close = t.closing(open);
    // CHECK (col IS NOT NULL): the pattern that lets SET NOT NULL skip its scan.
    const column = close === open + 5 && t.is(open + 2, 'IS') && t.is(open + 3, 'NOT') && t.is(open + 4, 'NULL') ? t.ident(open + 1) : null;
    if (notValid) {
      this.recordNotValid(constraint, 'check', column);
      return;
    }
    if (column !== null) this.table.notNullChecked.add(column);
    if (this.state.existing(this.ref) === null) return;
    this.state.report(t, from, 'check-not-valid', 'error', this.ref,
      `adding a CHECK constraint to ${this.name} scans every row to validate it while holding an ACCESS EXCLUSIVE lock: every query on the table waits for the scan`,
      `ADD CONSTRAINT … CHECK (…) NOT VALID here (instant: only new rows are checked), then ALTER TABLE ${this.name} VALIDATE CONSTRAINT … in a later migration (it takes a SHARE UPDATE EXCLUSIVE lock: reads and writes go on)`);
  }

  private recordNotValid(constraint: string | null, kind: 'check' | 'foreign-key', column: string | null): void {
    if (constraint === null) return;
    this.state.addNotValid(constraint, { table: this.ref, transaction: this.state.transaction, column, kind });
  }

  private foreignKey(from: number, referencesAt: number, to: number, allNull = false): void {
    const { t, state } = this;
    if (state.existing(this.ref) === null) return;
    const notValidAt = t.find(from, to, 'NOT');
    if (notValidAt !== -1 && t.is(notValidAt + 1, 'VALID')) return;
    const referenced = referencesAt === -1 ? null : t.qualified(referencesAt + 1)?.ref ?? null;
    if (allNull) {
      state.report(t, from, 'foreign-key-not-valid', 'warning', this.ref,
        `adding a column with a foreign key to ${this.name}: the new column is NULL in every row, so nothing is validated, but the statement takes a SHARE ROW EXCLUSIVE lock on ${referenced ? displayRef(referenced) : 'the referenced table'} as well as ACCESS EXCLUSIVE on ${this.name}: it waits behind running writes to both, and new queries queue behind it`,
        `keep it short with --migration-lock-timeout, or add the column first and ALTER TABLE ${this.name} ADD CONSTRAINT … FOREIGN KEY (…) REFERENCES … NOT VALID in a migration of its own`);
      return;
    }
    state.report(t, from, 'foreign-key-not-valid', 'error', this.ref,
      `adding a foreign key to ${this.name} validates every row while it holds SHARE ROW EXCLUSIVE locks on ${this.name}${referenced ? ` and ${displayRef(referenced)}` : ' and the referenced table'}: all writes to both tables wait for the scan`,
      `ADD CONSTRAINT … FOREIGN KEY (…) REFERENCES … NOT VALID here, then ALTER TABLE ${this.name} VALIDATE CONSTRAINT … in a later migration (reads and writes go on while it validates)`);
  }

  private uniqueWithoutIndex(from: number, kindAt: number): void {
    const { t, state } = this;
    if (state.existing(this.ref) === null) return;
    const kind = t.is(kindAt, 'PRIMARY') ? 'PRIMARY KEY' : t.word(kindAt);
    state.report(t, from, 'unique-constraint-without-index', 'error', this.ref,
      `adding a ${kind} constraint to ${this.name} builds its index while holding an ACCESS EXCLUSIVE lock: no query can read or write the table until the build ends`,
      kind === 'EXCLUDE'
        ? 'there is no concurrent form: run it when the table is quiet, with a short --migration-lock-timeout'
        : `CREATE UNIQUE INDEX CONCURRENTLY idx ON ${this.name} (…) in a migration of its own, then ALTER TABLE ${this.name} ADD CONSTRAINT … ${kind} USING INDEX idx (instant${kind === 'PRIMARY KEY' ? '; the columns must already be NOT NULL' : ''})`);
  }

  private validate(from: number): void {
    const { t, state } = this;
    const constraint = t.ident(from + 2);
    if (constraint === null) return;
    const added = state.takeNotValid(constraint, this.ref);
    if (!added) return;
    if (added.column !== null) this.table.notNullChecked.add(added.column);
    if (added.transaction !== state.transaction || state.existing(this.ref) === null) return;
    state.report(t, from, 'validate-in-same-transaction', 'error', this.ref,
      `VALIDATE CONSTRAINT ${constraint} runs in the same transaction as the ADD … NOT VALID: the ${added.kind === 'check' ? 'ACCESS EXCLUSIVE' : 'SHARE ROW EXCLUSIVE'} lock the ADD took on ${this.name} is held during the whole validating scan, as if NOT VALID had not been written`,
      'move the VALIDATE CONSTRAINT into a later migration (its own transaction): it then takes only a SHARE UPDATE EXCLUSIVE lock, and reads and writes go on');
  }

  private alterColumn(from: number, at: number, to: number): void {
    const { t, state } = this;
    const column = t.ident(at);
    if (column === null) return;
    const op = at + 1;
    if (t.is(op, 'TYPE') || (t.is(op, 'SET') && t.is(op + 1, 'DATA') && t.is(op + 2, 'TYPE'))) {
      const typeAt = t.is(op, 'TYPE') ? op + 1 : op + 3;
      const usingAt = t.find(typeAt, to, 'USING');
      const type = columnType(t, typeAt, usingAt === -1 ? to : usingAt);
      const before = this.table.columns.get(column) ?? catalogueType(state.size(this.ref)?.columns?.[column]);
      this.table.columns.set(column, type);
      this.exclusive(from);
      if (state.existing(this.ref) === null) return;
      const rewrites = usingAt !== -1 && !this.plainUsing(column, type, usingAt + 1, to) ? 'yes' : typeChangeRewrites(before, type);
      if (rewrites === 'no') return;
      const change = `${before ? `${before.toLowerCase()} ` : ''}to ${type.toLowerCase()}`;
      state.report(t, from, 'alter-column-type', rewrites === 'yes' ? 'error' : 'warning', this.ref,
        rewrites === 'timezone'
          ? `changing the type of ${column} ${change}: PostgreSQL 12+ changes no data only when the migration's session TimeZone is UTC; in any other time zone it rewrites ${this.name} under an ACCESS EXCLUSIVE lock`
          : rewrites === 'yes'
          ? `changing the type of ${column} ${change} rewrites ${this.name} and rebuilds its indexes under an ACCESS EXCLUSIVE lock: no query can read or write the table until it is done`
          : `changing the type of ${column} to ${type.toLowerCase()}: free from varchar or text, but from any other type it rewrites ${this.name} under an ACCESS EXCLUSIVE lock (the old type is not known from the migration files)`,
        rewrites === 'timezone'
          ? "SET LOCAL timezone = 'UTC' before it in the same transaction, so that PostgreSQL 12+ changes no data (the stored values are read as UTC); otherwise add a new column, backfill it in batches and switch to it"
          : 'add a new column of the new type, write to both and backfill in batches, switch the code to it, then drop the old column; only varchar(n) to text, to varchar or to a longer varchar (and numeric to a wider numeric) change no data');
      return;
    }
    if (t.is(op, 'SET') && t.is(op + 1, 'NOT') && t.is(op + 2, 'NULL')) {
      this.exclusive(from);
      // Already NOT NULL: PostgreSQL does nothing (no scan).
      const already = this.table.notNull.has(column) || (!this.table.columns.has(column) && (state.size(this.ref)?.notNull?.includes(column) ?? false));
      this.table.notNull.add(column);
      if (already || state.existing(this.ref) === null) return;
      if (state.at(12) && this.table.notNullChecked.has(column)) return;
      state.report(t, from, 'set-not-null', 'error', this.ref,
        `SET NOT NULL on ${column} scans every row of ${this.name} to check it while holding an ACCESS EXCLUSIVE lock: every query on the table waits for the scan`,
        `ADD CONSTRAINT ${column}_not_null CHECK (${column} IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT ${column}_not_null in a later migration, then SET NOT NULL (PostgreSQL 12+ uses the validated check and skips the scan) and drop the check`);
      return;
    }
    if (t.is(op, 'DROP') && t.is(op + 1, 'NOT') && t.is(op + 2, 'NULL')) this.table.notNull.delete(column);
    // SET STATISTICS, SET (…) and RESET (…) take SHARE UPDATE EXCLUSIVE; the other column forms ACCESS EXCLUSIVE.
    if (t.is(op, 'SET') && (t.is(op + 1, 'STATISTICS') || t.at(op + 1)?.kind === 'openParen')) return;
    if (t.is(op, 'RESET')) return;
    this.exclusive(from);
  }

  /**
   * `USING col` or `USING col::type` (the new type again) changes nothing the plain type change
   * does not: PostgreSQL sees a bare column or a binary-coercible cast and skips the rewrite just
   * the same (varchar(10) to text USING b::text keeps the relfilenode). Any other expression rewrites.
   */
  private plainUsing(column: string, type: string, from: number, to: number): boolean {
    const { t } = this;
    if (t.ident(from) !== column || t.at(from)?.kind === 'openParen') return false;
    if (from + 1 === to) return true;
    if (!(t.at(from + 1)?.upper === ':' && t.at(from + 2)?.upper === ':')) return false;
    return normalType(columnType(t, from + 3, to)) === normalType(type);
  }

}
