/**
 * Pure: files and history → the state of every version, and the problems that
 * `verify` reports. The planner and the status command both start here.
 */
import type { VerifyProblem } from './errors.js';
import type { Migration } from './files.js';
import type { HistoryRow, How } from './history.js';
import { shortChecksum } from './checksum.js';
import { compareVersions } from './version.js';

export type MigrationState = 'applied' | 'pending' | 'changed' | 'missing' | 'failed';

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
  /** The down file differs from the one recorded (reported, not enforced). */
  downChanged: boolean;
}

export interface StatusReport {
  /** Newest recorded version, as spelled, or null. */
  current: string | null;
  /** Newest file version, or null for an empty directory. */
  head: string | null;
  /** All versions from files and history, ascending. */
  migrations: MigrationStatus[];
}

/** How a migration runs. Filled in by the analyser once files are lexed; true until then. */
export type TransactionalOf = (migration: Migration) => boolean;

export function computeStatus(migrations: readonly Migration[], history: readonly HistoryRow[], transactionalOf: TransactionalOf = () => true): StatusReport {
  const rows = new Map(history.map((row) => [row.key, row]));
  const entries: MigrationStatus[] = [];
  for (const migration of migrations) {
    const row = rows.get(migration.key) ?? null;
    rows.delete(migration.key);
    let state: MigrationState = 'pending';
    if (row) {
      if (row.state !== 'ok') state = 'failed';
      else if (row.upChecksum !== migration.up.checksum) state = 'changed';
      else state = 'applied';
    }
    entries.push({
      version: migration.version,
      key: migration.key,
      name: migration.slug,
      state,
      how: row?.how ?? null,
      appliedAt: row?.appliedAt ?? null,
      appliedBy: row?.appliedBy ?? null,
      durationMs: row?.durationMs ?? null,
      transactional: transactionalOf(migration),
      reversible: migration.down !== null,
      migration,
      row,
      downChanged: !!row && row.downChecksum !== (migration.down?.checksum ?? null),
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

/**
 * Everything that makes files and history disagree. `strict` also counts
 * pending versions. `allowOutOfOrder` leaves out-of-order pending versions out.
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
        const progress = row.statementsTotal ? ` after ${row.statementsDone ?? 0} of ${row.statementsTotal} statements` : '';
        problems.push({
          kind: row.state === 'running' ? 'running' : 'failed',
          version: m.version,
          name: m.name,
          file,
          message: `${file ?? label}: ${row.state === 'running' ? 'was interrupted' : 'failed'}${progress}${row.error ? ` (${row.error.split('\n')[0]})` : ''}; it ran outside a transaction, so finish or undo it by hand, then run pgpair repair --applied ${m.version} or pgpair repair --reverted ${m.version}.`,
        });
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
  return problems;
}
