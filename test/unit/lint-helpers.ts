/** Builders for the lint engine's unit tests: migrations from SQL text, linted as a run would. */
import { parseMigrationDirectory } from '../../lib/core/files.js';
import { lintMigrations, type LintFacts, type LintReport, type TableSize } from '../../lib/core/lint/engine.js';

export interface LintCase {
  /** The SQL of each up file, in version order. */
  files: string[];
  /** How many of the first files are applied (the rest are pending in this run); default 0. */
  applied?: number;
  /** Lint the applied files too. */
  all?: boolean;
  serverVersionNum?: number;
  sizes?: TableSize[];
  minRows?: number;
}

export function lintSql(input: LintCase): LintReport {
  const entries = input.files.map((text, index) => ({ name: `${String(index + 1).padStart(4, '0')}_m${index + 1}.up.sql`, text }));
  const set = parseMigrationDirectory('sql', entries);
  const applied = input.applied ?? 0;
  const facts: LintFacts = {
    serverVersionNum: input.serverVersionNum ?? 120000,
    serverVersionSource: input.serverVersionNum === undefined ? 'assumed' : 'option',
    sizes: input.sizes ?? null,
    minRows: input.minRows ?? 0,
  };
  return lintMigrations(set.migrations.map((m, index) => ({
    version: m.version, name: m.name, file: m.up, lint: index >= applied || (input.all ?? false), pending: index >= applied,
  })), facts);
}

/** The rule ids found, in order, as `rule@line:column`. */
export function rulesOf(report: LintReport): string[] {
  return report.findings.map((f) => `${f.rule}@${f.line}:${f.column}`);
}

/** One pending migration on an existing table `t`: the rules found. */
export function onExisting(sql: string, serverVersionNum?: number): string[] {
  return lintSql({ files: ['CREATE TABLE t (id int, a int, b varchar(10), c text);', sql], applied: 1, ...(serverVersionNum !== undefined ? { serverVersionNum } : {}) }).findings.map((f) => f.rule);
}

/** The same statement on a table created earlier in the same run: the rules found. */
export function onNew(sql: string): string[] {
  return lintSql({ files: ['CREATE TABLE t (id int, a int, b varchar(10), c text);', sql] }).findings.map((f) => f.rule);
}
