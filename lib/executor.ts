/**
 * Carries out a Plan on a connection. Each migration runs in its own
 * transaction together with its history row and log entry; a stamp runs as
 * one transaction. Errors from migration SQL are mapped back to FILE:LINE:COL.
 */
import type { Logger } from 'pino';
import type { Connection, Queryable } from './db/types.js';
import { pgErrorFields } from './db/errors.js';
import { ConnectionError, DatabaseError, MigrationFailedError, PgpairError } from './errors.js';
import type { Migration, MigrationFile } from './files.js';
import { deleteHistorySql, insertHistorySql, insertLogSql, type HistoryTables } from './history.js';
import { PGPAIR_VERSION } from './meta.js';
import type { Plan, Step } from './plan.js';
import { codePointPositionToIndex, excerpt, lineColumnAt } from './position.js';

export interface ExecuteOptions {
  logger: Logger;
  /** PostgreSQL statement_timeout for migration SQL, in ms (0 or undefined: server default). */
  statementTimeoutMs?: number;
  /** PostgreSQL lock_timeout for migration SQL, in ms. */
  migrationLockTimeoutMs?: number;
  /** Called before each step starts. */
  onStepStart?: (step: { action: Step['action']; version: string; name: string }) => void;
  /** Called after each step completes. */
  onStep?: (result: StepResult) => void;
}

export interface StepResult {
  action: Step['action'];
  version: string;
  name: string;
  durationMs: number;
}

function nameOf(step: Step): { version: string; name: string } {
  return step.action === 'unstamp' ? { version: step.row.version, name: step.row.name } : { version: step.migration.version, name: step.migration.slug };
}

/** Maps a server error raised by `sent` (which starts at `offset` in the file) to a MigrationFailedError. */
export function migrationError(
  error: unknown,
  context: { migration: Migration; direction: 'up' | 'down'; file: MigrationFile; sent: string; offset: number; statement: number | null; next: string },
): PgpairError {
  if (error instanceof PgpairError) return error;
  const pg = pgErrorFields(error);
  if (!pg) throw error;
  let index: number | null = null;
  if (pg.position !== null) {
    index = context.offset + codePointPositionToIndex(context.sent, pg.position);
  } else if (pg.internalPosition !== null && pg.internalQuery) {
    const at = context.sent.indexOf(pg.internalQuery);
    if (at !== -1) index = context.offset + at + codePointPositionToIndex(pg.internalQuery, pg.internalPosition);
  }
  if (index === null && context.statement !== null) index = context.offset;
  const where = index === null ? null : lineColumnAt(context.file.text, index);
  return new MigrationFailedError({
    version: context.migration.version,
    name: context.migration.slug,
    direction: context.direction,
    file: context.file.path,
    line: where?.line ?? null,
    column: where?.column ?? null,
    statement: context.statement,
    pg,
    excerpt: where ? excerpt(context.file.text, where.line, where.column) : null,
    rolledBack: true,
    next: context.next,
  });
}

async function setGuards(tx: Queryable, options: ExecuteOptions): Promise<void> {
  const settings: [string, string][] = [];
  if (options.statementTimeoutMs) settings.push(['statement_timeout', `${options.statementTimeoutMs}ms`]);
  if (options.migrationLockTimeoutMs) settings.push(['lock_timeout', `${options.migrationLockTimeoutMs}ms`]);
  for (const [name, value] of settings) await tx.query(`SELECT set_config($1, $2, true)`, [name, value]);
}

async function log(tx: Queryable, tables: HistoryTables, action: string, m: { version: string; name: string; checksum: string | null; how: string | null; durationMs: number | null; detail?: string | null }) {
  await tx.query(insertLogSql(tables), [action, m.version, m.name, m.checksum, m.how, m.durationMs, m.detail ?? null, PGPAIR_VERSION]);
}

function historyValues(migration: Migration, how: 'executed' | 'stamped', durationMs: number | null, transactional = true): unknown[] {
  return [migration.key, migration.version, migration.slug, migration.up.checksum, migration.down?.checksum ?? null, how, 'ok', transactional, null, null, null, durationMs, PGPAIR_VERSION];
}

async function runUp(db: Connection, tables: HistoryTables, migration: Migration, options: ExecuteOptions, next: string): Promise<number> {
  let durationMs = 0;
  try {
    await db.transaction(async (tx) => {
      await setGuards(tx, options);
      const started = performance.now();
      await tx.exec(migration.up.text);
      durationMs = Math.round(performance.now() - started);
      await tx.query(insertHistorySql(tables), historyValues(migration, 'executed', durationMs));
      await log(tx, tables, 'up', { version: migration.version, name: migration.slug, checksum: migration.up.checksum, how: 'executed', durationMs });
    });
  } catch (error) {
    throw migrationError(error, { migration, direction: 'up', file: migration.up, sent: migration.up.text, offset: 0, statement: null, next });
  }
  return durationMs;
}

async function runDown(db: Connection, tables: HistoryTables, migration: Migration, options: ExecuteOptions, next: string): Promise<number> {
  const file = migration.down!;
  let durationMs = 0;
  try {
    await db.transaction(async (tx) => {
      await setGuards(tx, options);
      const started = performance.now();
      await tx.exec(file.text);
      durationMs = Math.round(performance.now() - started);
      const removed = await tx.query(`${deleteHistorySql(tables)} RETURNING version`, [migration.key]);
      if (removed.length !== 1) throw new Error(`history row of ${migration.version} vanished while it was being reverted`);
      await log(tx, tables, 'down', { version: migration.version, name: migration.slug, checksum: file.checksum, how: 'executed', durationMs });
    });
  } catch (error) {
    throw migrationError(error, { migration, direction: 'down', file, sent: file.text, offset: 0, statement: null, next });
  }
  return durationMs;
}

/** Records stamp/unstamp steps, all in one transaction: none of them runs migration SQL. */
async function runStamp(db: Connection, tables: HistoryTables, steps: Step[]): Promise<void> {
  await db.transaction(async (tx) => {
    for (const step of steps) {
      if (step.action === 'stamp') {
        const m = step.migration;
        await tx.query(insertHistorySql(tables), historyValues(m, 'stamped', null));
        await log(tx, tables, 'stamp', { version: m.version, name: m.slug, checksum: m.up.checksum, how: 'stamped', durationMs: null });
      } else if (step.action === 'unstamp') {
        const row = step.row;
        await tx.query(deleteHistorySql(tables), [row.key]);
        await log(tx, tables, 'unstamp', { version: row.version, name: row.name, checksum: row.upChecksum, how: row.how, durationMs: null });
      }
    }
  });
}

function describeRemaining(done: StepResult[], plan: Plan, failedAt: number): string {
  const step = plan.steps[failedAt]!;
  const { version } = nameOf(step);
  const before = done.length > 0 ? ` ${done.map((d) => d.version).join(', ')} ${done.length === 1 ? 'was' : 'were'} ${plan.command === 'up' ? 'applied' : 'reverted'} before it and ${done.length === 1 ? 'stays' : 'stay'} so.` : '';
  return `Nothing of ${version} was ${plan.command === 'up' ? 'applied' : 'reverted'} (its transaction was rolled back).${before} Fix the file and run pgpair ${plan.command} again.`;
}

export async function executePlan(db: Connection, tables: HistoryTables, plan: Plan, options: ExecuteOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  if (plan.command === 'stamp') {
    if (plan.steps.length === 0) return results;
    try {
      await runStamp(db, tables, plan.steps);
    } catch (error) {
      throw wrapDatabaseError(error, 'Recording the stamp failed; nothing was recorded');
    }
    for (const step of plan.steps) {
      const result = { action: step.action, ...nameOf(step), durationMs: 0 };
      results.push(result);
      options.onStep?.(result);
    }
    return results;
  }
  for (const [index, step] of plan.steps.entries()) {
    const { version, name } = nameOf(step);
    options.logger.debug({ version, name, action: step.action }, `${step.action} ${version}_${name}`);
    options.onStepStart?.({ action: step.action, version, name });
    const next = describeRemaining(results, plan, index);
    let durationMs: number;
    if (step.action === 'up') durationMs = await runUp(db, tables, step.migration, options, next);
    else if (step.action === 'down') durationMs = await runDown(db, tables, step.migration, options, next);
    else throw new Error(`unexpected ${step.action} step in a ${plan.command} plan`);
    const result: StepResult = { action: step.action, version, name, durationMs };
    results.push(result);
    options.logger.debug({ ...result }, `${step.action} ${version}_${name} done`);
    options.onStep?.(result);
  }
  return results;
}

export function wrapDatabaseError(error: unknown, context: string): unknown {
  if (error instanceof PgpairError) return error;
  const pg = pgErrorFields(error);
  return pg ? new DatabaseError(context, pg) : error instanceof ConnectionError ? error : error;
}
