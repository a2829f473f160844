/**
 * Pure: the lint engine. It walks the migrations in version order, statement by statement,
 * knowing what the statements before did (tables created in this run are new, constraints added
 * NOT VALID, validated checks, which transaction a statement runs in), and asks the rules about
 * each statement of the files it lints. Linear in the size of the files: a statement that is no
 * DDL is looked at as far as its first word.
 */
import { leadingWords, transactionControl } from '../classify.js';
import type { SqlStatement } from '../lexer.js';
import { RULES } from './catalogue.js';
import { alterTable } from './rules-alter.js';
import { cluster, createIndex, createTable, dropIndex, dropTable, lockTable, reindex, vacuum } from './rules-objects.js';
import { LintState } from './state.js';
import { ignoresOf, type Ignore } from './suppress.js';
import { Tokens } from './tokens.js';
import type { Finding, LintFacts, LintMigration, LintReport } from './types.js';

export { RULES } from './catalogue.js';
export type { Finding, LintFacts, LintMigration, LintReport, Severity, TableRef, TableSize } from './types.js';

const DDL = new Set(['CREATE', 'ALTER', 'DROP', 'REINDEX', 'VACUUM', 'CLUSTER', 'LOCK']);

/** Lints `migrations` (in version order) with what is known of the server. Never throws on any SQL. */
export function lintMigrations(migrations: readonly LintMigration[], facts: LintFacts): LintReport {
  const state = new LintState(facts);
  const suppressed: LintReport['suppressed'] = [];
  const files: string[] = [];
  for (const migration of migrations) {
    state.migration = migration;
    const { statements, mode } = migration.file.analysis;
    const ignores = migration.lint ? ignoresOf(migration.file, statements) : new Map<number, Ignore[]>();
    if (migration.lint) files.push(migration.file.path);
    const fileStart = state.findings.length;
    let inBlock = false;
    if (mode === 'transaction') {
      state.transaction++;
      state.transactional = true;
    }
    for (const [index, statement] of statements.entries()) {
      if (mode === 'own-transaction') {
        const control = transactionControl(statement);
        if (control === 'begin' || control === 'chain' || !inBlock) state.transaction++;
        if (control === 'begin' || control === 'chain') inBlock = true;
        state.transactional = inBlock;
        if (control === 'end') inBlock = false;
      } else if (mode === 'no-transaction') {
        state.transaction++;
        state.transactional = false;
      }
      const before = state.findings.length;
      lintStatement(state, statement);
      const list = ignores.get(index);
      if (list) applyIgnores(state.findings, before, list, suppressed);
    }
    for (const [index, list] of ignores) {
      for (const ignore of list) ignoreProblems(state, migration, ignore, index < statements.length);
    }
    for (const info of state.createdInFile) {
      if (!migration.pending) info.isNew = false;
    }
    state.createdInFile = [];
    const ofFile = state.findings.splice(fileStart).sort((a, b) => a.line - b.line || a.column - b.column);
    state.findings.push(...ofFile);
  }
  return {
    findings: state.findings,
    suppressed,
    files,
    facts: { serverVersionNum: facts.serverVersionNum, serverVersionSource: facts.serverVersionSource, minRows: facts.minRows, connected: facts.sizes !== null },
  };
}

function lintStatement(state: LintState, statement: SqlStatement): void {
  const [first] = leadingWords(statement, 1);
  if (first === undefined || !DDL.has(first)) return;
  const t = new Tokens(statement);
  switch (first) {
    case 'CREATE': {
      let i = 1;
      if (t.is(i, 'OR') && t.is(i + 1, 'REPLACE')) i += 2;
      if (t.is(i, 'GLOBAL', 'LOCAL')) i++;
      if (t.is(i, 'TEMP', 'TEMPORARY', 'UNLOGGED')) i++;
      if (t.is(i, 'TABLE')) createTable(state, t, i);
      else if (t.is(i, 'MATERIALIZED') && t.is(i + 1, 'VIEW')) createTable(state, t, i + 1);
      else if (t.is(1, 'UNIQUE') && t.is(2, 'INDEX')) createIndex(state, t, 2);
      else if (t.is(1, 'INDEX')) createIndex(state, t, 1);
      break;
    }
    case 'ALTER':
      if (t.is(1, 'TABLE')) alterTable(state, t);
      break;
    case 'DROP':
      if (t.is(1, 'INDEX')) dropIndex(state, t);
      else if (t.is(1, 'TABLE')) dropTable(state, t);
      break;
    case 'REINDEX':
      reindex(state, t);
      break;
    case 'VACUUM':
      vacuum(state, t);
      break;
    case 'CLUSTER':
      cluster(state, t);
      break;
    case 'LOCK':
      lockTable(state, t);
      break;
  }
}

/** Moves the statement's findings [from, …) that an ignore names to `suppressed`. */
function applyIgnores(findings: Finding[], from: number, ignores: Ignore[], suppressed: LintReport['suppressed']): void {
  for (let i = findings.length - 1; i >= from; i--) {
    const finding = findings[i]!;
    const ignore = ignores.find((candidate) => candidate.rule === finding.rule && candidate.reason !== null && !candidate.block);
    if (!ignore) continue;
    ignore.used = true;
    findings.splice(i, 1);
    suppressed.push({ ...finding, reason: ignore.reason! });
  }
}

function ignoreProblems(state: LintState, migration: LintMigration, ignore: Ignore, onStatement: boolean): void {
  const at = { file: migration.file.path, version: migration.version, line: ignore.line, column: ignore.column };
  const known = ignore.rule !== null && Object.hasOwn(RULES, ignore.rule);
  if (ignore.block) {
    state.findings.push({
      ...at, rule: 'lint-ignore-unused', severity: 'warning',
      message: 'a /* pgpair:lint-ignore … */ block comment is not read as a suppression, so it silences nothing',
      fix: 'write it as a line comment: -- pgpair:lint-ignore RULE reason',
    });
  } else if (ignore.rule === null || ignore.reason === null) {
    state.findings.push({
      ...at, rule: 'lint-ignore-without-reason', severity: 'error',
      message: ignore.rule === null
        ? 'this -- pgpair:lint-ignore comment names no rule, so it silences nothing'
        : `this -- pgpair:lint-ignore ${ignore.rule} comment gives no reason, so it silences nothing: a reason tells the next reader why the risk is accepted`,
      fix: `write it as -- pgpair:lint-ignore ${ignore.rule ?? 'RULE'} WHY (e.g. "table has 200 rows, checked 2026-12-01")`,
    });
  } else if (!known) {
    state.findings.push({
      ...at, rule: 'lint-ignore-unknown-rule', severity: 'error',
      message: `-- pgpair:lint-ignore names ${ignore.rule}, which is no lint rule, so it silences nothing`,
      fix: `use one of the rule ids pgpair lint reports (${Object.keys(RULES).slice(0, 4).join(', ')}, …; see the README)`,
    });
  } else if (!ignore.used) {
    state.findings.push({
      ...at, rule: 'lint-ignore-unused', severity: 'warning',
      message: onStatement
        ? `-- pgpair:lint-ignore ${ignore.rule}: the statement it is on has no ${ignore.rule} finding`
        : `-- pgpair:lint-ignore ${ignore.rule} follows the last statement of the file, so it is on no statement`,
      fix: 'put it right above the statement it is about, or remove it',
    });
  }
}
