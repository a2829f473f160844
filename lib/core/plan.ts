/**
 * Pure: (status of files and history, request) → the steps to take, or a
 * typed error when the request cannot or must not be carried out. Nothing
 * here touches a database; the executor and the script renderer both consume
 * the same Plan.
 */
import { DirectoryError, IrreversibleError, TargetError, UsageError, VerificationError, type FileProblem, type VerifyProblem } from './errors.js';
import type { Migration, MigrationFile } from './files.js';
import type { HistoryRow } from './history.js';
import { renamedProblem, verifyProblems, type StatusReport } from './status.js';
import { shortChecksum } from './checksum.js';
import { compareVersions, isVersion, versionKey } from './version.js';

/** `file` of an up or down step is the file it runs; its analysis (statements, mode, reason) is `file.analysis`. */
export type Step =
  | { action: 'up'; migration: Migration; file: MigrationFile }
  | {
      action: 'down';
      migration: Migration;
      file: MigrationFile;
      row: HistoryRow;
      /** The down file is not the one recorded when the version was applied: both checksums. It still runs; the run says so first. */
      downFileChanged?: { file: string; recorded: string; actual: string };
    }
  | { action: 'stamp'; migration: Migration }
  | { action: 'unstamp'; row: HistoryRow };

export interface Plan {
  command: 'up' | 'down' | 'stamp';
  /** The current version before the plan runs (as spelled), null for base. */
  from: string | null;
  /** The current version once every step has run, null for base. */
  to: string | null;
  steps: Step[];
}

/** `relative`: Alembic's `+2` / `-1`, that many steps up (positive) or down (negative) from the current version. */
export type Target = 'head' | 'base' | { version: string } | { relative: number };

export const TARGET_FORMS = 'a version number (e.g. 0003), head (the newest file), base (nothing applied), or a number of steps from the current version (up +2, down -1)';

export function parseTarget(text: string): Target {
  const value = text.trim();
  if (value === 'head' || value === 'base') return value;
  if (isVersion(value)) return { version: value };
  const relative = /^([+-])(\d+)$/.exec(value);
  if (relative) {
    const n = Number(relative[2]);
    if (n === 0 || !Number.isSafeInteger(n)) throw new UsageError(`Invalid target "${text}": a relative target moves at least one step and fewer than ${Number.MAX_SAFE_INTEGER} (e.g. +1 or -2).`);
    return { relative: relative[1] === '-' ? -n : n };
  }
  if (value === '') throw new UsageError(`The target is empty (a lone "-" reads as no target): a TARGET is ${TARGET_FORMS}.`);
  throw new UsageError(`Invalid target "${text}": a TARGET is ${TARGET_FORMS}.`);
}

type AbsoluteTarget = Exclude<Target, { relative: number }>;

function isRelative(target: Target): target is { relative: number } {
  return typeof target === 'object' && 'relative' in target;
}

/** `+N` / `-N` as a number of steps for up / down; the other direction, or with --steps, is a usage error. */
function relativeSteps(target: Target | undefined, steps: number | undefined, command: 'up' | 'down'): number | undefined {
  if (target === undefined || !isRelative(target)) return steps;
  const n = target.relative;
  const label = `${n > 0 ? '+' : ''}${n}`;
  if (steps !== undefined) throw new UsageError(`Give either the relative target ${label} or --steps, not both: both say how many migrations to ${command === 'up' ? 'apply' : 'revert'}.`);
  if (command === 'up' && n < 0) throw new TargetError(label, `up ${label} would go down; to revert ${-n} migration${n === -1 ? '' : 's'} use pgpair down ${label}.`);
  if (command === 'down' && n > 0) throw new TargetError(label, `down ${label} would go up; to apply ${n} migration${n === 1 ? '' : 's'} use pgpair up ${label}.`);
  return Math.abs(n);
}

function checkSteps(steps: number | undefined): void {
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) {
    throw new UsageError(`--steps must be a whole number of at least 1 (got ${steps}).`);
  }
}

/** The key the target stands for: null = base. Versions must be known (a file, or a history row when allowRecorded). */
function resolveTarget(report: StatusReport, target: AbsoluteTarget, allowRecorded: boolean): string | null {
  if (target === 'base') return null;
  if (target === 'head') return report.head === null ? null : versionKey(report.head);
  const key = versionKey(target.version);
  const known = report.migrations.find((m) => m.key === key && (m.migration || allowRecorded));
  if (!known) {
    const versions = report.migrations.filter((m) => m.migration).map((m) => m.version);
    const hint = versions.length > 0 ? ` Known versions: ${versions.length > 12 ? `${versions.slice(0, 3).join(', ')} … ${versions.slice(-3).join(', ')}` : versions.join(', ')}.` : ' The migration directory is empty.';
    throw new TargetError(target.version, `No migration has version ${target.version}.${hint}`);
  }
  return key;
}

function labelOf(report: StatusReport, key: string | null): string | null {
  if (key === null) return null;
  return report.migrations.find((m) => m.key === key)?.version ?? key;
}

/** The newest recorded key after the steps, as spelled. */
function resultingCurrent(report: StatusReport, steps: Step[]): string | null {
  const recorded = new Map(report.migrations.filter((m) => m.row).map((m) => [m.key, m.version]));
  for (const step of steps) {
    if (step.action === 'up' || step.action === 'stamp') recorded.set(step.migration.key, step.migration.version);
    else recorded.delete(step.row.key);
  }
  const keys = [...recorded.keys()].sort(compareVersions);
  const newest = keys[keys.length - 1];
  return newest === undefined ? null : recorded.get(newest)!;
}

/**
 * Problems in the files the steps would run (meta-commands, unterminated quotes or COPY data,
 * unknown directives, refused statements): a planning error, all of them in one DirectoryError,
 * before anything runs or is written. The directory reader reports them for every file already;
 * this is the word for a set read without checking contents.
 */
function checkFiles(steps: readonly Step[]): void {
  const problems: FileProblem[] = [];
  for (const step of steps) if (step.action === 'up' || step.action === 'down') problems.push(...step.file.analysis.problems);
  if (problems.length > 0) throw new DirectoryError(directoryOf(steps), problems);
}

/** The directory of a plan's files, for its errors ('.' when no step names a file). */
export function directoryOf(steps: readonly Step[]): string {
  const first = steps[0];
  return first && first.action !== 'unstamp' ? first.migration.up.path.replace(/\/[^/]*$/, '') : '.';
}

export interface UpRequest {
  target?: Target;
  steps?: number;
  allowOutOfOrder?: boolean;
}

export function planUp(report: StatusReport, request: UpRequest = {}): Plan {
  checkSteps(request.steps);
  const problems = verifyProblems(report, { allowOutOfOrder: request.allowOutOfOrder ?? false });
  if (problems.length > 0) throw new VerificationError(problems, 'pgpair up refuses to run until files and history agree');
  const relativeStepCount = relativeSteps(request.target, request.steps, 'up');
  const relative = request.target !== undefined && isRelative(request.target);
  const target: AbsoluteTarget = relative ? 'head' : ((request.target as AbsoluteTarget | undefined) ?? 'head');
  if (target === 'base') throw new TargetError('base', 'up base would apply nothing; to revert everything use pgpair down base.');
  const targetKey = resolveTarget(report, target, false);
  const currentKey = report.current === null ? null : versionKey(report.current);
  if (targetKey !== null && currentKey !== null && compareVersions(targetKey, currentKey) < 0) {
    throw new TargetError(labelOf(report, targetKey)!, `Target ${labelOf(report, targetKey)} is older than the current version ${report.current}; use pgpair down ${labelOf(report, targetKey)} to go back.`);
  }
  let pending = report.migrations.filter((m) => m.state === 'pending' && targetKey !== null && compareVersions(m.key, targetKey) <= 0);
  if (relative && pending.length < relativeStepCount!) {
    throw new TargetError(
      `+${relativeStepCount}`,
      `up +${relativeStepCount}: only ${pending.length} migration${pending.length === 1 ? ' is' : 's are'} pending${pending.length > 0 ? ` (${pending.map((m) => m.version).join(', ')})` : ''}, so the target does not exist. Nothing was applied.${pending.length > 0 ? ` Use pgpair up +${pending.length} or pgpair up head.` : ''}`,
    );
  }
  if (relativeStepCount !== undefined) pending = pending.slice(0, relativeStepCount);
  const steps: Step[] = pending.map((m) => ({ action: 'up', migration: m.migration!, file: m.migration!.up }));
  checkFiles(steps);
  return { command: 'up', from: report.current, to: resultingCurrent(report, steps), steps };
}

export interface DownRequest {
  target?: Target;
  steps?: number;
}

export function planDown(report: StatusReport, request: DownRequest = {}): Plan {
  checkSteps(request.steps);
  const unresolved = verifyProblems(report).filter((p) => p.kind === 'failed' || p.kind === 'running');
  if (unresolved.length > 0) throw new VerificationError(unresolved, 'pgpair down refuses to run while a version is failed');
  const relativeStepCount = relativeSteps(request.target, request.steps, 'down');
  const relative = request.target !== undefined && isRelative(request.target);
  const target: AbsoluteTarget = relative ? 'base' : ((request.target as AbsoluteTarget | undefined) ?? 'base');
  const steps = relativeStepCount ?? (request.target === undefined ? 1 : undefined);
  const targetKey = resolveTarget(report, target, true);
  let toRevert = report.migrations
    .filter((m) => m.row && (targetKey === null || compareVersions(m.key, targetKey) > 0))
    .reverse();
  if (relative && toRevert.length < steps!) {
    throw new TargetError(
      `-${steps}`,
      `down -${steps}: only ${toRevert.length} migration${toRevert.length === 1 ? ' is' : 's are'} applied, so the target does not exist. Nothing was reverted.${toRevert.length > 0 ? ` Use pgpair down -${toRevert.length} or pgpair down base.` : ''}`,
    );
  }
  if (steps !== undefined) toRevert = toRevert.slice(0, steps);

  const missing: VerifyProblem[] = toRevert
    .filter((m) => !m.migration)
    .map((m) => ({
      kind: 'missing',
      version: m.version,
      name: m.name,
      file: null,
      message: `${m.version}_${m.name}: cannot be reverted because its files are gone from the directory. Restore ${m.version}_${m.name}.down.sql (and .up.sql), or use the right --dir.`,
    }));
  if (missing.length > 0) throw new VerificationError(missing, 'pgpair down cannot revert what it has no files for');
  const renamed = toRevert.filter((m) => m.recordedName !== null);
  if (renamed.length > 0) {
    throw new VerificationError(
      renamed.map((m) => renamedProblem(report, m)),
      `pgpair down refuses to run the down file of another migration than the one recorded: ${renamed.map((m) => `${m.version} ran as ${m.recordedName}, its file is ${m.version}_${m.name}`).join('; ')}. Nothing was reverted`,
    );
  }
  const irreversible = toRevert.find((m) => !m.migration!.down);
  if (irreversible) {
    const m = irreversible.migration!;
    const path = m.up.path.replace(/\.up\.sql$/, '.down.sql');
    const recorded = irreversible.row!.downChecksum;
    throw new IrreversibleError(
      m.version,
      m.up.path,
      recorded !== null
        ? `Cannot revert ${m.version}_${m.name}: its down file (${path}) is gone, though it had one when it was applied (recorded ${shortChecksum(recorded)}). Nothing was reverted. Restore the down file, or stop above it (pgpair down ${m.version}).`
        : `Cannot revert ${m.version}_${m.name}: it has no down file (${path}), so it is irreversible. Nothing was reverted. Write the down file, or stop above it (pgpair down ${m.version}).`,
    );
  }
  const planned: Step[] = toRevert.map((m) => {
    const down = m.migration!.down!;
    const recorded = m.row!.downChecksum;
    const changed = m.downState === 'changed' && recorded !== null ? { downFileChanged: { file: down.path, recorded, actual: down.checksum } } : {};
    return { action: 'down', migration: m.migration!, file: down, row: m.row!, ...changed };
  });
  checkFiles(planned);
  return { command: 'down', from: report.current, to: resultingCurrent(report, planned), steps: planned };
}

export function planStamp(report: StatusReport, target: Target): Plan {
  if (isRelative(target)) throw new UsageError(`stamp needs a version, head or base, not a relative target (${target.relative > 0 ? '+' : ''}${target.relative}): name the version to record.`);
  const targetKey = resolveTarget(report, target, false);
  const above = (key: string) => targetKey === null || compareVersions(key, targetKey) > 0;
  const steps: Step[] = [];
  for (const m of [...report.migrations].reverse()) {
    if (m.row && above(m.key)) steps.push({ action: 'unstamp', row: m.row });
  }
  for (const m of report.migrations) {
    if (!m.row && m.migration && !above(m.key)) steps.push({ action: 'stamp', migration: m.migration });
  }
  return { command: 'stamp', from: report.current, to: resultingCurrent(report, steps), steps };
}
