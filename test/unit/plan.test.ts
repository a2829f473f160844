/**
 * The planner (lib/core/plan.ts) from the outside: files and history rows built inline, no
 * database and no file system; each case checks what a plan says (command, from, to, the steps'
 * actions and versions) or the error it refuses with. Everything that knows the planner's
 * signatures or the shape of a step is in the builders at the top, so that a change of either
 * is adapted here once. Cases about the status of renamed versions and of changed or deleted down
 * files are in core.test.ts with the rest of status.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeFile } from '../../lib/core/analyze.js';
import { checksum } from '../../lib/core/checksum.js';
import { IrreversibleError, TargetError, UsageError, VerificationError } from '../../lib/core/errors.js';
import type { Migration } from '../../lib/core/files.js';
import type { HistoryRow } from '../../lib/core/history.js';
import { parseTarget, planDown, planStamp, planUp, type DownRequest, type Plan, type Step, type Target, type UpRequest } from '../../lib/core/plan.js';
import { computeStatus } from '../../lib/core/status.js';
import { versionKey } from '../../lib/core/version.js';
import { historyRowOf } from '../helpers/history-row.js';

// ---------------------------------------------------------------------------
// Builders

/** A migration `VERSION_NAME` with an up file and, unless `down: null`, a down file. */
function mig(version: string, name = `m${versionKey(version)}`, options: { up?: string; down?: string | null } = {}): Migration {
  const file = (direction: 'up' | 'down', text: string) => {
    const fileName = `${version}_${name}.${direction}.sql`;
    const path = `sql/${fileName}`;
    return { path, name: fileName, checksum: checksum(text), text, analysis: analyzeFile({ path, text }) };
  };
  const down = options.down === undefined ? `-- revert ${version}\n` : options.down;
  return { version, key: versionKey(version), name, up: file('up', options.up ?? `-- apply ${version}\n`), down: down === null ? null : file('down', down) };
}

/** Migrations 1…n spelled with four digits: 0001_m1, 0002_m2, … */
function migs(n: number): Migration[] {
  return Array.from({ length: n }, (_, i) => mig(String(i + 1).padStart(4, '0')));
}

/** The history row that applying `m` records, with `changes`. */
const row = historyRowOf;

/** Rows for `files` whose versions are listed. */
function applied(files: Migration[], ...versions: string[]): HistoryRow[] {
  return versions.map((v) => row(files.find((m) => m.version === v)!));
}

const up = (files: Migration[], history: HistoryRow[], request: UpRequest = {}): Plan => planUp(computeStatus(files, history), request);
const down = (files: Migration[], history: HistoryRow[], request: DownRequest = {}): Plan => planDown(computeStatus(files, history), request);
const stamp = (files: Migration[], history: HistoryRow[], target: Target): Plan => planStamp(computeStatus(files, history), target);

function versionOf(step: Step): string {
  return step.action === 'unstamp' ? step.row.version : step.migration.version;
}

/** What a plan says, in one comparable value: `command from→to: action version, …`. */
function said(plan: Plan): string {
  return `${plan.command} ${plan.from ?? 'base'}→${plan.to ?? 'base'}: ${plan.steps.map((s) => `${s.action} ${versionOf(s)}`).join(', ') || 'nothing'}`;
}

/** The error `fn` throws, checked to be of `type` (fails when it returns). */
function refusal<E extends Error>(fn: () => unknown, type: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected a ${type.name}, the plan was made`);
}

// ---------------------------------------------------------------------------

describe('planUp', () => {
  const files = migs(4);

  it('applies every pending version in order, up to head by default', () => {
    assert.equal(said(up(files, [])), 'up base→0004: up 0001, up 0002, up 0003, up 0004');
    assert.equal(said(up(files, applied(files, '0001', '0002'))), 'up 0002→0004: up 0003, up 0004');
    assert.equal(said(up(files, [], { target: 'head' })), 'up base→0004: up 0001, up 0002, up 0003, up 0004');
    assert.equal(said(up(files, applied(files, '0001', '0002', '0003', '0004'))), 'up 0004→0004: nothing');
    assert.equal(said(up([], [])), 'up base→base: nothing');
  });

  it('stops at a version, however it is spelled, and names it as its file does', () => {
    assert.equal(said(up(files, applied(files, '0001'), { target: { version: '0003' } })), 'up 0001→0003: up 0002, up 0003');
    assert.equal(said(up(files, applied(files, '0001'), { target: { version: '3' } })), 'up 0001→0003: up 0002, up 0003');
    assert.equal(said(up(files, applied(files, '0001', '0002'), { target: { version: '0002' } })), 'up 0002→0002: nothing');
  });

  it('refuses a version older than the current one, base, and a version no file has', () => {
    const history = applied(files, '0001', '0002', '0003');
    assert.equal(refusal(() => up(files, history, { target: { version: '0001' } }), TargetError).message, 'Target 0001 is older than the current version 0003; use pgpair down 0001 to go back.');
    assert.equal(refusal(() => up(files, history, { target: 'base' }), TargetError).message, 'up base would apply nothing; to revert everything use pgpair down base.');
    const unknown = refusal(() => up(files, history, { target: { version: '0009' } }), TargetError);
    assert.equal(unknown.message, 'No migration has version 0009. Known versions: 0001, 0002, 0003, 0004.');
    assert.equal(unknown.target, '0009');
    assert.equal(refusal(() => up(migs(13), [], { target: { version: '99' } }), TargetError).message, 'No migration has version 99. Known versions: 0001, 0002, 0003 … 0011, 0012, 0013.');
    assert.equal(refusal(() => up([], [], { target: { version: '1' } }), TargetError).message, 'No migration has version 1. The migration directory is empty.');
  });

  it('+N applies the next N pending versions, and refuses a target past the last one', () => {
    assert.equal(said(up(files, applied(files, '0001'), { target: { relative: 2 } })), 'up 0001→0003: up 0002, up 0003');
    assert.equal(said(up(files, applied(files, '0001'), { target: { relative: 3 } })), 'up 0001→0004: up 0002, up 0003, up 0004');
    const past = refusal(() => up(files, applied(files, '0001', '0002'), { target: { relative: 5 } }), TargetError);
    assert.equal(past.message, 'up +5: only 2 migrations are pending (0003, 0004), so the target does not exist. Nothing was applied. Use pgpair up +2 or pgpair up head.');
    assert.equal(past.target, '+5');
    assert.equal(
      refusal(() => up(files, applied(files, '0001', '0002', '0003'), { target: { relative: 2 } }), TargetError).message,
      'up +2: only 1 migration is pending (0004), so the target does not exist. Nothing was applied. Use pgpair up +1 or pgpair up head.',
    );
    assert.equal(refusal(() => up(files, applied(files, '0001', '0002', '0003', '0004'), { target: { relative: 1 } }), TargetError).message, 'up +1: only 0 migrations are pending, so the target does not exist. Nothing was applied.');
    assert.equal(refusal(() => up(files, [], { target: { relative: -1 } }), TargetError).message, 'up -1 would go down; to revert 1 migration use pgpair down -1.');
    assert.equal(refusal(() => up(files, [], { target: { relative: -3 } }), TargetError).message, 'up -3 would go down; to revert 3 migrations use pgpair down -3.');
  });

  it('--steps N applies at most N (fewer pending is no error), and may stop short of a version target', () => {
    assert.equal(said(up(files, [], { steps: 1 })), 'up base→0001: up 0001');
    assert.equal(said(up(files, applied(files, '0001', '0002'), { steps: 9 })), 'up 0002→0004: up 0003, up 0004');
    assert.equal(said(up(files, [], { steps: 2, target: { version: '0004' } })), 'up base→0002: up 0001, up 0002');
  });

  it('refuses --steps that is not a whole number of at least 1, and --steps with a relative target', () => {
    for (const steps of [0, -1, 1.5, Number.NaN]) {
      assert.equal(refusal(() => up(files, [], { steps }), UsageError).message, `--steps must be a whole number of at least 1 (got ${steps}).`);
    }
    assert.equal(
      refusal(() => up(files, [], { steps: 1, target: { relative: 2 } }), UsageError).message,
      'Give either the relative target +2 or --steps, not both: both say how many migrations to apply.',
    );
  });

  it('refuses a pending version older than the current one, unless allowOutOfOrder; then it is applied with the rest', () => {
    const history = applied(files, '0001', '0003');
    const error = refusal(() => up(files, history), VerificationError);
    assert.deepEqual(error.problems.map((p) => [p.kind, p.version, p.file]), [['out-of-order', '0002', 'sql/0002_m2.up.sql']]);
    assert.match(error.message, /^pgpair up refuses to run until files and history agree:\n {2}sql\/0002_m2\.up\.sql: pending, but older than the newest applied version 0003\. Renumber it above 0003, or apply it anyway with --allow-out-of-order\.$/);
    assert.equal(said(up(files, history, { allowOutOfOrder: true })), 'up 0003→0004: up 0002, up 0004');
    assert.equal(said(up(files, history, { allowOutOfOrder: true, target: { relative: 1 } })), 'up 0003→0003: up 0002');
  });

  it('refuses while a version is failed, interrupted (running), changed or missing, and says which', () => {
    const cases: [HistoryRow[], string, RegExp][] = [
      [[row(files[0]!), row(files[1]!, { state: 'failed', transactional: false, error: 'boom\nmore', statementsDone: 1, statementsTotal: 3 })], 'failed', /sql\/0002_m2\.up\.sql: failed after 1 of 3 statements \(boom\); it ran outside a transaction, so finish or undo it by hand, then run pgpair repair --applied 0002 or pgpair repair --reverted 0002\./],
      [[row(files[0]!, { state: 'running', transactional: false })], 'running', /sql\/0001_m1\.up\.sql: was interrupted; it ran outside a transaction/],
      [[row(files[0]!, { upChecksum: checksum('something else') })], 'changed', /sql\/0001_m1\.up\.sql: changed after it was applied \(recorded sha256:[0-9a-f]{12}, file now sha256:[0-9a-f]{12}\)\. Restore the file as applied/],
      [[...applied(files, '0001'), row(mig('0002', 'gone'))], 'missing', /0002_gone: applied \(executed\) but its file 0002_gone\.up\.sql is gone from the directory\. Restore the file, or use the right --dir\./],
    ];
    for (const [history, kind, message] of cases) {
      const present = kind === 'missing' ? files.filter((m) => m.version !== '0002') : files;
      const error = refusal(() => up(present, history), VerificationError);
      assert.deepEqual(error.problems.map((p) => p.kind), [kind]);
      assert.match(error.message, message);
      assert.throws(() => up(present, history, { allowOutOfOrder: true }), VerificationError, `allowOutOfOrder does not let ${kind} through`);
    }
  });
});

describe('planDown', () => {
  const files = migs(4);
  const all = applied(files, '0001', '0002', '0003', '0004');

  it('reverts the newest version by default, and nothing when nothing is applied', () => {
    assert.equal(said(down(files, all)), 'down 0004→0003: down 0004');
    assert.equal(said(down(files, applied(files, '0001'))), 'down 0001→base: down 0001');
    assert.equal(said(down(files, [])), 'down base→base: nothing');
  });

  it('-N reverts N versions newest first, and refuses a target below base', () => {
    assert.equal(said(down(files, all, { target: { relative: -2 } })), 'down 0004→0002: down 0004, down 0003');
    assert.equal(said(down(files, all, { target: { relative: -4 } })), 'down 0004→base: down 0004, down 0003, down 0002, down 0001');
    const past = refusal(() => down(files, applied(files, '0001', '0002', '0003'), { target: { relative: -5 } }), TargetError);
    assert.equal(past.message, 'down -5: only 3 migrations are applied, so the target does not exist. Nothing was reverted. Use pgpair down -3 or pgpair down base.');
    assert.equal(past.target, '-5');
    assert.equal(refusal(() => down(files, applied(files, '0001'), { target: { relative: -2 } }), TargetError).message, 'down -2: only 1 migration is applied, so the target does not exist. Nothing was reverted. Use pgpair down -1 or pgpair down base.');
    assert.equal(refusal(() => down(files, [], { target: { relative: -1 } }), TargetError).message, 'down -1: only 0 migrations are applied, so the target does not exist. Nothing was reverted.');
    assert.equal(refusal(() => down(files, all, { target: { relative: 1 } }), TargetError).message, 'down +1 would go up; to apply 1 migration use pgpair up +1.');
    assert.equal(refusal(() => down(files, all, { target: { relative: 2 }, steps: 1 }), UsageError).message, 'Give either the relative target +2 or --steps, not both: both say how many migrations to revert.');
  });

  it('base reverts everything; a version reverts what is above it, and --steps caps either', () => {
    assert.equal(said(down(files, all, { target: 'base' })), 'down 0004→base: down 0004, down 0003, down 0002, down 0001');
    assert.equal(said(down(files, all, { target: { version: '0002' } })), 'down 0004→0002: down 0004, down 0003');
    assert.equal(said(down(files, all, { target: { version: '2' } })), 'down 0004→0002: down 0004, down 0003');
    assert.equal(said(down(files, all, { target: { version: '0004' } })), 'down 0004→0004: nothing');
    assert.equal(said(down(files, applied(files, '0001', '0002'), { target: { version: '0003' } })), 'down 0002→0002: nothing');
    assert.equal(said(down(files, all, { target: 'base', steps: 1 })), 'down 0004→0003: down 0004');
    assert.equal(said(down(files, all, { steps: 3 })), 'down 0004→0001: down 0004, down 0003, down 0002');
    assert.equal(said(down(files, all, { steps: 7 })), 'down 0004→base: down 0004, down 0003, down 0002, down 0001');
    for (const steps of [0, 2.5]) assert.equal(refusal(() => down(files, all, { steps }), UsageError).message, `--steps must be a whole number of at least 1 (got ${steps}).`);
  });

  it('a version target may be one only the history knows; one nobody knows is refused', () => {
    const history = [row(mig('0001', 'gone')), ...applied(files, '0002', '0003')];
    const present = files.filter((m) => m.version !== '0001');
    assert.equal(said(down(present, history, { target: { version: '0001' } })), 'down 0003→0001: down 0003, down 0002');
    assert.equal(refusal(() => down(files, all, { target: { version: '0007' } }), TargetError).message, 'No migration has version 0007. Known versions: 0001, 0002, 0003, 0004.');
  });

  it('refuses, before anything runs, to cross a version whose files are gone; stopping above it is fine', () => {
    const present = files.filter((m) => m.version !== '0002');
    const history = [row(files[0]!), row(mig('0002', 'gone')), ...applied(files, '0003', '0004')];
    const error = refusal(() => down(present, history, { target: 'base' }), VerificationError);
    assert.deepEqual(error.problems.map((p) => [p.kind, p.version, p.name]), [['missing', '0002', 'gone']]);
    assert.equal(error.message, 'pgpair down cannot revert what it has no files for:\n  0002_gone: cannot be reverted because its files are gone from the directory. Restore 0002_gone.down.sql (and .up.sql), or use the right --dir.');
    assert.equal(said(down(present, history, { target: { relative: -2 } })), 'down 0004→0002: down 0004, down 0003');
  });

  it('refuses to cross an irreversible version, naming it and where to stop', () => {
    const set = [mig('0001'), mig('0002', 'no_way_back', { down: null }), mig('0003')];
    const history = applied(set, '0001', '0002', '0003');
    const error = refusal(() => down(set, history, { target: 'base' }), IrreversibleError);
    assert.equal(error.message, 'Cannot revert 0002_no_way_back: it has no down file (sql/0002_no_way_back.down.sql), so it is irreversible. Nothing was reverted. Write the down file, or stop above it (pgpair down 0002).');
    assert.deepEqual([error.version, error.file], ['0002', 'sql/0002_no_way_back.up.sql']);
    assert.equal(said(down(set, history)), 'down 0003→0002: down 0003');
  });

  it('refuses while a version is failed or interrupted, whatever the target; a pending out-of-order version does not stop it', () => {
    for (const state of ['failed', 'running'] as const) {
      const history = [row(files[0]!), row(files[1]!, { state, transactional: false })];
      const error = refusal(() => down(files, history, { target: 'base' }), VerificationError);
      assert.deepEqual(error.problems.map((p) => p.kind), [state]);
      assert.match(error.message, /^pgpair down refuses to run while a version is failed:\n/);
    }
    assert.equal(said(down(files, applied(files, '0001', '0003'))), 'down 0003→0001: down 0003');
  });
});

describe('planStamp', () => {
  const files = migs(5);

  it('head records every unrecorded version in order, running nothing', () => {
    assert.equal(said(stamp(files, [], 'head')), 'stamp base→0005: stamp 0001, stamp 0002, stamp 0003, stamp 0004, stamp 0005');
    assert.equal(said(stamp(files, applied(files, '0001', '0003'), 'head')), 'stamp 0003→0005: stamp 0002, stamp 0004, stamp 0005');
    assert.equal(said(stamp(files, applied(files, '0001', '0002', '0003', '0004', '0005'), 'head')), 'stamp 0005→0005: nothing');
    assert.equal(said(stamp([], [], 'head')), 'stamp base→base: nothing');
  });

  it('base removes every record, newest first', () => {
    assert.equal(said(stamp(files, applied(files, '0001', '0002', '0004'), 'base')), 'stamp 0004→base: unstamp 0004, unstamp 0002, unstamp 0001');
  });

  it('a version removes the records above it (newest first) before it records those at or below it', () => {
    assert.equal(said(stamp(files, applied(files, '0001', '0004', '0005'), { version: '0003' })), 'stamp 0005→0003: unstamp 0005, unstamp 0004, stamp 0002, stamp 0003');
    assert.equal(said(stamp(files, applied(files, '0001'), { version: '3' })), 'stamp 0001→0003: stamp 0002, stamp 0003');
    assert.equal(said(stamp(files, applied(files, '0001', '0002'), { version: '0002' })), 'stamp 0002→0002: nothing');
  });

  it('removes the record of a version whose files are gone, but cannot stamp to one', () => {
    const present = files.filter((m) => m.version !== '0005');
    const history = [...applied(files, '0001'), row(mig('0005', 'gone'))];
    assert.equal(said(stamp(present, history, { version: '0002' })), 'stamp 0005→0002: unstamp 0005, stamp 0002');
    assert.equal(refusal(() => stamp(present, history, { version: '0005' }), TargetError).message, 'No migration has version 0005. Known versions: 0001, 0002, 0003, 0004.');
  });

  it('refuses a relative target: a stamp names the version to record', () => {
    assert.equal(refusal(() => stamp(files, [], { relative: 1 }), UsageError).message, 'stamp needs a version, head or base, not a relative target (+1): name the version to record.');
    assert.equal(refusal(() => stamp(files, [], { relative: -2 }), UsageError).message, 'stamp needs a version, head or base, not a relative target (-2): name the version to record.');
  });
});

describe('parseTarget', () => {
  it('reads head, base, versions and relative targets', () => {
    assert.deepEqual(['head', ' base ', '0003', '20240101120000', '+2', '-1'].map(parseTarget), ['head', 'base', { version: '0003' }, { version: '20240101120000' }, { relative: 2 }, { relative: -1 }]);
  });

  it('refuses what is none of them, saying what a target is', () => {
    assert.match(refusal(() => parseTarget('tip'), UsageError).message, /^Invalid target "tip": a TARGET is a version number \(e\.g\. 0003\), head \(the newest file\), base/);
    assert.match(refusal(() => parseTarget('  '), UsageError).message, /^The target is empty/);
    for (const text of ['+0', '-0', `+${'9'.repeat(20)}`]) {
      assert.match(refusal(() => parseTarget(text), UsageError).message, new RegExp(`^Invalid target "\\${text.slice(0, 1)}${text.slice(1)}": a relative target moves at least one step`));
    }
  });
});
