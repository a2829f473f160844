import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as errors from '../../lib/core/errors.js';
import { EXIT_CODE_OF, exitCodeOf } from '../../lib/cli/exit-codes.js';

const place: errors.MigrationPlace = { version: '0001', name: 'x', direction: 'up', file: 'sql/0001_x.up.sql', line: 1, column: 1, statement: 1, rolledBack: true };
const pg: errors.PgErrorFields = { sqlstate: '42P01', severity: 'ERROR', message: 'm', detail: null, hint: null, where: null, position: null, internalPosition: null, internalQuery: null };

/**
 * One instance of every error class lib/core/errors.ts exports (each code a class can carry),
 * with the exit code SPEC section 5 gives it: 2 usage/configuration, 3 verification, 1 run time.
 */
const BUILT: Record<string, [() => errors.PgpairError, number][]> = {
  UsageError: [[() => new errors.UsageError('m'), 2]],
  ConfigError: [[() => new errors.ConfigError('m'), 2]],
  DirectoryError: [[() => new errors.DirectoryError('sql', [{ file: 'sql/x', message: 'm' }]), 2]],
  TargetError: [[() => new errors.TargetError('9', 'm'), 2]],
  EmbeddedDirectoryError: [[() => new errors.EmbeddedDirectoryError('pglite:x', '/x', 'm'), 2]],
  HistoryTableError: [[() => new errors.HistoryTableError('t', 'not-pgpair', 'm'), 2]],
  PoolerError: [[() => new errors.PoolerError('start', [1, 2], 'm'), 2]],
  VerificationError: [[() => new errors.VerificationError([]), 3]],
  FileChangedError: [[() => new errors.FileChangedError('sql/x', 'changed'), 1]],
  IrreversibleError: [[() => new errors.IrreversibleError('0001', 'sql/x', 'm'), 1]],
  LockTimeoutError: [[() => new errors.LockTimeoutError(null, 1), 1]],
  ConnectionError: [[() => new errors.ConnectionError('h', 'm'), 1]],
  MigrationFailedError: [[() => new errors.MigrationFailedError({ ...place, pg, excerpt: null, next: 'n' }), 1]],
  MigrationIntegrityError: [
    [() => new errors.MigrationIntegrityError({ ...place, problem: 'transaction-ended', message: 'm' }), 1],
    [() => new errors.MigrationIntegrityError({ ...place, problem: 'lock-released', message: 'm' }), 1],
  ],
  InterruptedError: [[() => new errors.InterruptedError('SIGINT', null, 'm'), 1]],
  DatabaseError: [[() => new errors.DatabaseError('c', pg), 1]],
  // up --lint error (lib/run/lint.ts): verification failed, like verify.
  LintRefusedError: [[() => new errors.LintRefusedError([]), 3]],
  TemplateBusyError: [
    [() => new errors.TemplateBusyError('pgpair_tpl_x', 'sessions', 1, []), 1],
    [() => new errors.TemplateBusyError('pgpair_tpl_x', 'building', 1, [{ pid: 1, applicationName: null, user: null }]), 1],
  ],
};

/** Classes that are only ever thrown as one of their subclasses. */
const BASES = new Set(['PgpairError', 'MigrationStepError']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('exit codes: every error code has one, decided in lib/cli', () => {
  it('every error class lib/core/errors.ts exports is built here (a new class must be added, with its exit code)', () => {
    const classes = Object.entries(errors)
      .filter(([, value]) => typeof value === 'function' && (value === errors.PgpairError || value.prototype instanceof errors.PgpairError))
      .map(([name]) => name)
      .filter((name) => !BASES.has(name))
      .sort();
    assert.ok(classes.length >= 15, `found only ${classes.length} error classes`);
    assert.deepEqual(classes, Object.keys(BUILT).sort());
  });

  for (const [name, cases] of Object.entries(BUILT)) {
    it(`${name}: its code is mapped, to the documented exit code`, () => {
      for (const [build, expected] of cases) {
        const error = build();
        assert.ok(Object.hasOwn(EXIT_CODE_OF, error.code), `${error.code} (${name}) has no exit code in lib/cli/exit-codes.ts`);
        assert.equal(exitCodeOf(error), expected, `${error.code}`);
      }
    });
  }

  it('every code thrown anywhere in lib (new PgpairError(…), a subclass in lib/cli) is mapped', () => {
    const thrown = new Set<string>();
    for (const file of sources(join(import.meta.dirname, '../../lib'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/(?:new PgpairError\(|super\()\s*'(E_[A-Z_]+)'/g)) thrown.add(match[1]!);
    }
    assert.ok(thrown.has('E_NOT_EMPTY') && thrown.has('E_OUTPUT_CLOSED') && thrown.has('E_USAGE'), [...thrown].join(', '));
    for (const code of thrown) assert.ok(Object.hasOwn(EXIT_CODE_OF, code), `${code} has no exit code in lib/cli/exit-codes.ts`);
  });

  it('an unknown code and an error that is not a PgpairError end with 1', () => {
    assert.equal(exitCodeOf(new errors.PgpairError('E_SOMETHING_NEW', 'm')), 1);
    assert.equal(exitCodeOf(new TypeError('bug')), 1);
    assert.equal(exitCodeOf('thrown string'), 1);
    // A code is looked up as the table's own key, not through Object's prototype.
    assert.equal(exitCodeOf(new errors.PgpairError('toString', 'm')), 1);
  });

  it('the library holds no exit code: no error has an exitCode, errors.ts exports no EXIT', () => {
    assert.equal('EXIT' in errors, false);
    assert.equal('exitCode' in new errors.UsageError('m'), false);
  });
});
