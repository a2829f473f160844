/**
 * `repair`: after a person fixed the database by hand, resolve a failed
 * version or accept an edited file. Under the lock, in one transaction, logged.
 */
import { TargetError, UsageError, VerificationError } from '../core/errors.js';
import { insertLogSql, logValues } from '../core/history.js';
import { withLock } from './lock.js';
import { currentStatus, DEFAULT_LOCK_TIMEOUT_MS, ensureHistory, withSession, type RunOptions } from './session.js';
import { renamedProblem } from '../core/status.js';
import { versionKey } from '../core/version.js';

export interface RepairOptions extends RunOptions {
  /** A failed version that a person finished by hand: mark it applied. */
  applied?: string;
  /** A failed version that a person undid by hand: remove it from the history. */
  reverted?: string;
  /**
   * A changed (edited after apply) version whose current files are accepted: record their
   * checksums. Also records a changed, deleted or unrecorded down file, and the new name of a
   * renamed version whose SQL is the SQL that ran. Refused (VerificationError, exit 3) for a version
   * recorded under another name whose SQL differs: that file is another migration, which never ran.
   */
  accept?: string;
}

export interface RepairResult {
  action: 'applied' | 'reverted' | 'accept';
  version: string;
  name: string;
  /** What the history said before. */
  before: { state: string; name: string; upChecksum: string; downChecksum: string | null; error: string | null };
  database: string;
}

/** Resolves a failed version or accepts a changed checksum, after a person fixed things by hand. Logged. */
export async function repair(options: RepairOptions): Promise<RepairResult> {
  const chosen = (['applied', 'reverted', 'accept'] as const).filter((k) => options[k] !== undefined);
  if (chosen.length !== 1) throw new UsageError('pgpair repair needs exactly one of --applied VERSION, --reverted VERSION or --accept VERSION.');
  const action = chosen[0]!;
  const version = String(options[action]);
  if (!/^[0-9]+$/.test(version)) throw new UsageError(`Invalid version "${version}" for --${action}: use the version number, e.g. 0003.`);
  return withSession(options, async (session) =>
    withLock(session.db, session.tables, { timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, logger: session.logger, ...(options.signal ? { signal: options.signal } : {}) }, async () => {
      const report = await currentStatus(session, await ensureHistory(session));
      const entry = report.migrations.find((m) => m.key === versionKey(version) && m.row);
      if (!entry?.row) throw new TargetError(version, `Version ${version} is not recorded in ${session.tables.display}; there is nothing to repair. pgpair status shows what is recorded.`);
      const row = entry.row;
      const t = session.tables;
      const logSql = insertLogSql(t);
      if (action === 'applied' || action === 'reverted') {
        if (row.state === 'ok') throw new UsageError(`Version ${entry.version} is not failed (it is ${entry.state}); --${action} only resolves a failed or interrupted version.`);
        const detail = `marked ${action} by hand; was ${row.state}${row.error ? `: ${row.error}` : ''}`;
        await session.db.transaction(async (tx) => {
          if (action === 'applied') {
            await tx.query(`UPDATE ${t.history} SET state = 'ok', error = NULL, statements_done = statements_total WHERE version = $1`, [row.key]);
          } else {
            await tx.query(`DELETE FROM ${t.history} WHERE version = $1`, [row.key]);
          }
          await tx.query(logSql, logValues('repair', { version: row.version, name: row.name, checksum: row.upChecksum, how: row.how, durationMs: null, detail }));
        });
      } else {
        if (!entry.migration) throw new UsageError(`Version ${entry.version} has no file in ${session.files.dir}; there is no checksum to accept. Restore the file first.`);
        if (row.state !== 'ok') throw new UsageError(`Version ${entry.version} is ${row.state === 'running' ? 'interrupted' : 'failed'}, not edited; resolve it first with pgpair repair --applied ${entry.version} or --reverted ${entry.version}.`);
        const m = entry.migration;
        if (entry.state === 'renamed' && row.upChecksum !== m.up.checksum) {
          throw new VerificationError([renamedProblem(report, entry)], `pgpair repair --accept ${entry.version} refuses: ${m.up.path} is not the migration that ran (${entry.version} ran as ${row.name}), so accepting it would record as applied a migration that never ran. Nothing was changed`);
        }
        if (entry.state !== 'changed' && entry.state !== 'renamed' && !entry.downChanged && entry.downState !== 'unrecorded') {
          throw new UsageError(`Version ${entry.version} has not changed since it was recorded; nothing to accept.`);
        }
        const renamed = entry.state === 'renamed' ? `; name ${row.name} -> ${m.name} (the up file's SQL is the SQL that ran)` : '';
        const detail = `accepted edited files: up ${row.upChecksum} -> ${m.up.checksum}; down ${row.downChecksum ?? 'none'} -> ${m.down?.checksum ?? 'none'}${renamed}`;
        await session.db.transaction(async (tx) => {
          await tx.query(`UPDATE ${t.history} SET up_checksum = $2, down_checksum = $3, name = $4 WHERE version = $1`, [row.key, m.up.checksum, m.down?.checksum ?? null, m.name]);
          await tx.query(logSql, logValues('repair', { version: row.version, name: m.name, checksum: m.up.checksum, how: row.how, durationMs: null, detail }));
        });
      }
      return { action, version: entry.version, name: entry.name, before: { state: row.state, name: row.name, upChecksum: row.upChecksum, downChecksum: row.downChecksum, error: row.error }, database: session.db.displayUrl };
    }),
  );
}
