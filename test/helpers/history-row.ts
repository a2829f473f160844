/** A test builder shared by the pure-module tests: the history row that applying a migration records. */
import type { Migration } from '../../lib/core/files.js';
import type { HistoryRow } from '../../lib/core/history.js';
import { PGPAIR_VERSION } from '../../lib/core/meta.js';

/** The row a run writes when it applies `m` (in a transaction, 1 ms, long ago), with `changes`. */
export function historyRowOf(m: Migration, changes: Partial<HistoryRow> = {}): HistoryRow {
  return {
    key: m.key,
    version: m.version,
    name: m.name,
    upChecksum: m.up.checksum,
    downChecksum: m.down?.checksum ?? null,
    how: 'executed',
    state: 'ok',
    transactional: true,
    statementsDone: null,
    statementsTotal: null,
    error: null,
    appliedAt: new Date(0),
    appliedBy: 'tester',
    durationMs: 1,
    pgpairVersion: PGPAIR_VERSION,
    ...changes,
  };
}
