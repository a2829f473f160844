/**
 * Pure: files and history → the state of every version, and the problems that
 * `verify` reports. The planner and the status command both start here.
 */
import type { VerifyProblem } from './errors.js';
import { downName, type Migration } from './files.js';
import type { HistoryRow, How } from './history.js';
import { shortChecksum } from './checksum.js';
import { compareVersions } from './version.js';

/**
 * - applied: recorded, and the up file is the one recorded (name and checksum);
 * - pending: not recorded;
 * - changed: recorded under this name, but the up file's checksum differs;
 * - renamed: recorded under another name than the up file's (two branches used the same
 *   version, or the slug was renamed): whatever the checksums say, never "changed";
 * - missing: recorded, no file; failed: a non-transactional run failed or was interrupted.
 */
export type MigrationState = 'applied' | 'pending' | 'changed' | 'renamed' | 'missing' | 'failed';

/**
 * A recorded version's down file against the down checksum recorded with it:
 * - unchanged: they agree (or there was no down file then and there is none now);
 * - changed: the down file differs from the one recorded;
 * - deleted: a down file was recorded and is gone;
 * - unrecorded: there is a down file but no checksum was recorded for one (a row written by an
 *   older pgpair, or a down file written after the up ran): unknown, not a warning.
 */
export type DownState = 'unchanged' | 'changed' | 'deleted' | 'unrecorded';

export interface MigrationStatus {
  /** As spelled in the file name (or in the history when the file is gone). */
  version: string;
  key: string;
  name: string;
  state: MigrationState;
  how: How | null;
  appliedAt: Date | null;
  appliedBy: string | null;
  durationMs: number | null;
  transactional: boolean;
  reversible: boolean;
  migration: Migration | null;
  row: HistoryRow | null;
  /** The name the history records, when it is not the up file's (state renamed, or failed); else null. */
  recordedName: string | null;
  /** The down file's slug (it may differ from the up file's); null without a down file. */
  downName: string | null;
  /** The down file against the recorded one; null when the version is not recorded or its files are gone. */
  downState: DownState | null;
  /** downState is changed or deleted (a warning in verify, an error with --strict). */
  downChanged: boolean;
}

function downStateOf(migration: Migration, row: HistoryRow): DownState {
  const file = migration.down?.checksum ?? null;
  if (row.downChecksum === null) return file === null ? 'unchanged' : 'unrecorded';
  if (file === null) return 'deleted';
  return file === row.downChecksum ? 'unchanged' : 'changed';
}

export interface StatusReport {
  /** Newest recorded version, as spelled, or null. */
  current: string | null;
  /** Newest file version, or null for an empty directory. */
  head: string | null;
  /** All versions from files and history, ascending. */
  migrations: MigrationStatus[];
}

export function computeStatus(migrations: readonly Migration[], history: readonly HistoryRow[]): StatusReport {
  const rows = new Map(history.map((row) => [row.key, row]));
  const entries: MigrationStatus[] = [];
  for (const migration of migrations) {
    const row = rows.get(migration.key) ?? null;
    rows.delete(migration.key);
    let state: MigrationState = 'pending';
    const renamed = row !== null && row.name !== migration.name;
    if (row) {
      if (row.state !== 'ok') state = 'failed';
      else if (renamed) state = 'renamed';
      else if (row.upChecksum !== migration.up.checksum) state = 'changed';
      else state = 'applied';
    }
    // Under another name the down file belongs to another migration: comparing it means nothing.
    const downState = row && !renamed ? downStateOf(migration, row) : null;
    entries.push({
      version: migration.version,
      key: migration.key,
      name: migration.name,
      state,
      how: row?.how ?? null,
      appliedAt: row?.appliedAt ?? null,
      appliedBy: row?.appliedBy ?? null,
      durationMs: row?.durationMs ?? null,
      transactional: migration.up.analysis.mode === 'transaction',
      reversible: migration.down !== null,
      migration,
      row,
      recordedName: renamed ? row.name : null,
      downName: downName(migration),
      downState,
      downChanged: downState === 'changed' || downState === 'deleted',
    });
  }
  for (const row of rows.values()) {
    entries.push({
      version: row.version,
      key: row.key,
      name: row.name,
      state: row.state === 'ok' ? 'missing' : 'failed',
      how: row.how,
      appliedAt: row.appliedAt,
      appliedBy: row.appliedBy,
      durationMs: row.durationMs,
      transactional: row.transactional,
      reversible: false,
      migration: null,
      row,
      recordedName: null,
      downName: null,
      downState: null,
      downChanged: false,
    });
  }
  entries.sort((a, b) => compareVersions(a.key, b.key));
  const recorded = entries.filter((e) => e.row);
  const current = recorded.length > 0 ? recorded[recorded.length - 1]!.version : null;
  const head = migrations.length > 0 ? migrations[migrations.length - 1]!.version : null;
  return { current, head, migrations: entries };
}

/** Recorded versions that are pending but older than the newest recorded one. */
export function outOfOrder(report: StatusReport): MigrationStatus[] {
  const recorded = report.migrations.filter((m) => m.row);
  const newest = recorded[recorded.length - 1];
  if (!newest) return [];
  return report.migrations.filter((m) => m.state === 'pending' && compareVersions(m.key, newest.key) < 0);
}

/** The newest version that files or history know, as spelled: a renumbered migration goes above it. */
function newestKnown(report: StatusReport): string | null {
  const last = report.migrations[report.migrations.length - 1];
  return last ? last.version : null;
}

/**
 * A version recorded under another name than its up file's: what happened, and what to do. The
 * database ran the recorded migration, not the file's, so the file is not "changed": accepting
 * its checksum would record as applied a migration that never ran.
 */
export function renamedProblem(report: StatusReport, m: MigrationStatus): VerifyProblem {
  const row = m.row!;
  const migration = m.migration!;
  const file = migration.up.path;
  const sameSql = row.upChecksum === migration.up.checksum;
  const top = newestKnown(report);
  const rename = sameSql
    ? ` If ${row.name} was renamed to ${m.name} on purpose (the SQL is the SQL that ran), pgpair repair --accept ${m.version} records the new name.`
    : ` Its SQL differs from what ran too (recorded ${shortChecksum(row.upChecksum)}, file ${shortChecksum(migration.up.checksum)}), so pgpair repair --accept refuses it.`;
  return {
    kind: 'renamed',
    version: m.version,
    name: m.name,
    recordedName: row.name,
    file,
    recordedChecksum: row.upChecksum,
    actualChecksum: migration.up.checksum,
    message:
      `${file}: ${m.version} is recorded as ${row.name}, but the file is ${m.version}_${m.name}: two branches probably used the same version, and this database ran ${row.name}, not ${m.name}.` +
      ` Renumber ${m.version}_${m.name} above ${top} (pgpair create ${m.name} writes the next pair: move its SQL there, delete the ${m.version}_${m.name} files) and restore the files of ${m.version}_${row.name} from the branch that has them.${rename}`,
  };
}

/**
 * Everything that makes files and history disagree. `strict` also counts
 * pending versions and the down-file warnings (downFileWarnings). `allowOutOfOrder`
 * leaves out-of-order pending versions out.
 */
export function verifyProblems(report: StatusReport, options: { strict?: boolean; allowOutOfOrder?: boolean } = {}): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const late = new Set(outOfOrder(report).map((m) => m.key));
  for (const m of report.migrations) {
    const file = m.migration?.up.path ?? null;
    const label = `${m.version}_${m.name}`;
    switch (m.state) {
      case 'changed':
        problems.push({
          kind: 'changed',
          version: m.version,
          name: m.name,
          file,
          recordedChecksum: m.row!.upChecksum,
          actualChecksum: m.migration!.up.checksum,
          message: `${file}: changed after it was applied (recorded ${shortChecksum(m.row!.upChecksum)}, file now ${shortChecksum(m.migration!.up.checksum)}). Restore the file as applied and put the change in a new migration, or run pgpair repair --accept ${m.version} if the edit is harmless.`,
        });
        break;
      case 'renamed':
        problems.push(renamedProblem(report, m));
        break;
      case 'missing':
        problems.push({
          kind: 'missing',
          version: m.version,
          name: m.name,
          file: null,
          recordedChecksum: m.row!.upChecksum,
          message: `${label}: applied (${m.how}) but its file ${m.version}_${m.name}.up.sql is gone from the directory. Restore the file, or use the right --dir.`,
        });
        break;
      case 'failed': {
        const row = m.row!;
        // Under another name, the file is not the one that failed: name the recorded one.
        const failedFile = m.recordedName === null ? file : null;
        const failedLabel = `${m.version}_${row.name}`;
        const progress = row.statementsTotal ? ` after ${row.statementsDone ?? 0} of ${row.statementsTotal} statements` : '';
        problems.push({
          kind: row.state === 'running' ? 'running' : 'failed',
          version: m.version,
          name: row.name,
          file: failedFile,
          message: `${failedFile ?? failedLabel}: ${row.state === 'running' ? 'was interrupted' : 'failed'}${progress}${row.error ? ` (${row.error.split('\n')[0]})` : ''}; it ran outside a transaction, so finish or undo it by hand, then run pgpair repair --applied ${m.version} or pgpair repair --reverted ${m.version}.`,
        });
        if (m.recordedName !== null) problems.push(renamedProblem(report, m));
        break;
      }
      case 'pending':
        if (late.has(m.key) && !options.allowOutOfOrder) {
          problems.push({
            kind: 'out-of-order',
            version: m.version,
            name: m.name,
            file,
            message: `${file}: pending, but older than the newest applied version ${report.current}. Renumber it above ${report.current}, or apply it anyway with --allow-out-of-order.`,
          });
        } else if (options.strict) {
          problems.push({ kind: 'pending', version: m.version, name: m.name, file, message: `${file}: pending (not applied yet).` });
        }
        break;
      case 'applied':
        break;
    }
  }
  if (options.strict) problems.push(...downFileWarnings(report));
  return problems;
}

/**
 * Down files of applied versions that are not the ones recorded: changed or deleted. A warning
 * in `verify` (an error with --strict): nothing is wrong until a `down` crosses the version. A
 * version without a recorded down checksum (older pgpair) is unknown, not changed.
 */
export function downFileWarnings(report: StatusReport): VerifyProblem[] {
  const warnings: VerifyProblem[] = [];
  for (const m of report.migrations) {
    if ((m.state !== 'applied' && m.state !== 'changed') || !m.downChanged) continue;
    const row = m.row!;
    const migration = m.migration!;
    const label = `${m.version}_${m.name}`;
    if (m.downState === 'changed') {
      const down = migration.down!;
      warnings.push({
        kind: 'down-changed',
        version: m.version,
        name: m.name,
        file: down.path,
        recordedChecksum: row.downChecksum!,
        actualChecksum: down.checksum,
        message: `${down.path}: changed since ${label} was applied (recorded ${shortChecksum(row.downChecksum)}, file now ${shortChecksum(down.checksum)}), so a pgpair down across ${m.version} would run the edited file. Restore it, or run pgpair repair --accept ${m.version} if the edit is intended.`,
      });
    } else {
      const expected = migration.up.path.replace(/\.up\.sql$/, '.down.sql');
      warnings.push({
        kind: 'down-deleted',
        version: m.version,
        name: m.name,
        file: null,
        recordedChecksum: row.downChecksum!,
        message: `${label}: its down file (${expected}, recorded ${shortChecksum(row.downChecksum)}) is gone from the directory, so pgpair down cannot revert ${m.version} any more. Restore it, or run pgpair repair --accept ${m.version} to record ${m.version} as irreversible.`,
      });
    }
  }
  return warnings;
}
