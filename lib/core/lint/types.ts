/**
 * Pure: the shapes the lint engine reads and returns. The engine (engine.ts) takes the migration
 * files in version order, says which of them to lint and which are pending in this run, and the
 * facts it knows about the server; it returns findings, each with where, which rule, how bad,
 * why and what to write instead.
 */
import type { MigrationFile } from '../files.js';

export type Severity = 'error' | 'warning';

/** A table as the SQL names it: unquoted names folded to lower case, quoted ones as written. */
export interface TableRef {
  schema: string | null;
  name: string;
}

/** What the catalogue says of a table (connected runs only). */
export interface TableSize {
  schema: string;
  name: string;
  /** pg_class.reltuples: an estimate; null when the table was never analysed (reltuples < 0). */
  rows: number | null;
  pages: number;
  /** On the search_path, so that an unqualified name reaches it (pg_table_is_visible). */
  visible: boolean;
  /** Column name → its type as the catalogue spells it (format_type, e.g. `character varying(10)`), when read. */
  columns?: Record<string, string>;
  /** The columns declared NOT NULL (pg_attribute.attnotnull), read with `columns`. */
  notNull?: string[];
  /** A partitioned table (relkind p): CREATE INDEX CONCURRENTLY does not work on it. */
  partitioned?: boolean;
}

export interface LintFacts {
  /** server_version_num: read from the server, or from --server-version, else 120000 (the oldest supported). */
  serverVersionNum: number;
  /** Where serverVersionNum came from, for the output. */
  serverVersionSource: 'server' | 'option' | 'assumed';
  /** Table sizes from pg_class when connected; null offline. */
  sizes: TableSize[] | null;
  /** A table with fewer estimated rows than this counts as small: the lock and rewrite rules stay quiet on it. 0: none is small. */
  minRows: number;
  /** Called with every table a rule asks the size of (lib/run/lint.ts learns which tables to look up). */
  onLookup?: (ref: TableRef) => void;
}

export interface LintMigration {
  version: string;
  name: string;
  file: MigrationFile;
  /** Lint this file (false: read it only to know what it created or validated). */
  lint: boolean;
  /**
   * Runs in this run: what it creates is new for the later pending files. A file that is not
   * pending is taken as applied long ago: what it created is existing, with data and traffic.
   */
  pending: boolean;
}

export interface Finding {
  file: string;
  version: string;
  line: number;
  column: number;
  rule: string;
  severity: Severity;
  /** What the statement does and why that is dangerous: which lock, what waits on it. */
  message: string;
  /** The safe way to write it. */
  fix: string;
  /** The table concerned, as written, when there is one. */
  table?: string;
  /** Its estimated rows when connected and known. */
  rows?: number;
}

export interface LintReport {
  findings: Finding[];
  /** Findings a `-- pgpair:lint-ignore RULE reason` comment silenced, with that reason. */
  suppressed: (Finding & { reason: string })[];
  /** The files linted, in order. */
  files: string[];
  facts: Pick<LintFacts, 'serverVersionNum' | 'serverVersionSource' | 'minRows'> & { connected: boolean };
}
