/**
 * Carries out a Plan on a connection by running its program (lib/core/program.ts),
 * the one the `--sql` renderer prints:
 * - a transactional migration runs statement by statement inside one
 *   transaction together with its history row and log entry (execute/transaction.ts);
 * - a non-transactional one (or one with its own BEGIN/COMMIT) runs outside
 *   any pgpair transaction, its progress recorded (execute/outside.ts);
 * - stamps record rows only, in one transaction.
 * Errors from migration SQL are mapped back to FILE:LINE:COLUMN (execute/failures.ts).
 */
import type { Logger } from 'pino';
import type { FileAnalysis } from '../core/analyze.js';
import type { Connection, Queryable } from '../db/types.js';
import { InterruptedError, MigrationStepError, type FailedStep } from '../core/errors.js';
import type { Migration, MigrationFile } from '../core/files.js';
import type { HistoryTables } from '../core/history.js';
import type { Plan, Step } from '../core/plan.js';
import { programOf, stampBlock, type Block, type MigrationBlock, type StampBlock } from '../core/program.js';
import { CAPTURE_SESSION_SQL, lockKeySql, ownedLockKeySql, ownSessionGuardSql, restoreSessionSql, RUN_MARKER, sessionStartFromRow, type SessionClaim } from '../core/session-state.js';
import type { GuardOptions } from '../core/guards.js';
import { sendRecord, signalsDelivered, type ExecuteOptions, type RunContext, type StepResult } from './execute/context.js';
import { failure, leaveAbortedTransaction, nameOf, signalName, whatHappened, wrapDatabaseError } from './execute/failures.js';
import { runInTransaction } from './execute/transaction.js';
import { runOutsideTransaction, runStatement } from './execute/outside.js';
import { attemptsOf, withTransactionRetries, type Attempts } from './execute/retry.js';
import { drainFlight, pipelinable, sendFlight, settleFlight, type Flight } from './execute/pipeline.js';
import { randomBytes } from 'node:crypto';

export type { ExecuteOptions, RunContext, StepResult } from './execute/context.js';
export { wrapDatabaseError } from './execute/failures.js';

/**
 * Records stamp/unstamp steps on `tx` (inside the caller's transaction: `load` records its stamp in
 * the transaction that loaded the schema): the stamp block's records, none of them migration SQL.
 */
export async function recordStamp(tx: Queryable, tables: HistoryTables, steps: Step[]): Promise<void> {
  const stamps = steps.filter((step): step is StampBlock['steps'][number] => step.action === 'stamp' || step.action === 'unstamp');
  if (stamps.length > 0) await runRecords(tx, stampBlock(stamps, tables));
}

/** A stamp block's records, in order; its BEGIN and COMMIT are the caller's transaction. */
async function runRecords(tx: Queryable, block: StampBlock): Promise<void> {
  for (const op of block.ops) {
    if (op.op === 'record') await sendRecord(tx, op.record, null);
    else if (op.op !== 'begin' && op.op !== 'commit') throw new Error(`unexpected ${op.op} operation in a stamp`);
  }
}

/**
 * `load`: runs the statements of a base schema file on `q`, in order, COPY
 * data streamed: the caller's transaction when `inTransaction`, else the
 * session itself (a file that cannot run in a transaction). A failing
 * statement becomes a MigrationFailedError at FILE:LINE:COLUMN that ends with
 * `next`. Recording the history (recordStamp) is the caller's, so that it can
 * look at what the file created first (a dump may hold pgpair's own history).
 */
export async function loadSchema(db: Connection, q: Queryable, file: MigrationFile, analysis: FileAnalysis, options: ExecuteOptions & { inTransaction: boolean; next: string }): Promise<void> {
  const schema: Migration = { version: 'schema', key: 'schema', name: file.name, up: file, down: null };
  try {
    for (const [index, statement] of analysis.statements.entries()) await runStatement(q, file, index, statement, options.signal);
  } catch (error) {
    if (!options.inTransaction && !db.lost) await leaveAbortedTransaction(db).catch(() => {});
    throw await failure(error, { migration: schema, direction: 'up', file, analysis, rolledBack: options.inTransaction, next: () => options.next });
  }
}

export async function executePlan(db: Connection, tables: HistoryTables, plan: Plan, options: ExecuteOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const program = programOf(plan, { tables, how: 'executed', ...guardOptions(options) });
  if (plan.command === 'stamp') {
    const block = program[0];
    if (block?.kind !== 'stamp') return results;
    try {
      await db.transaction((tx) => runRecords(tx, block));
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
  // Nothing to run (a no-op up): the session state is not read, as nothing needs restoring.
  if (plan.steps.length === 0) return results;
  // Each migration commits asynchronously (no WAL flush wait per migration); one synchronous commit at the end
  // makes them all durable before the run reports success. A server crash in between can only lose whole,
  // recorded migrations, never part of one: each one's SQL and history row are in the same transaction.
  const relaxed = db.pipelining && plan.steps.length > 1;
  const ctx = await runContext(db, tables, relaxed, options.claim);
  if (relaxed) {
    await db.exec('SET synchronous_commit = off');
    // Only a run that may pipeline (the same condition) asks: a single step is never sent ahead.
    ctx.userCodeOnDdl = await userCodeOnDdl(db, program);
  }
  // The pipeline across migrations (execute/pipeline.ts): `ahead` is the migration after the current one, already sent.
  const runToken = randomBytes(8).toString('hex');
  const tokenOf = (index: number) => `${runToken}:${index}`;
  let ahead: Flight | null = null;
  try {
    for (const [index, block] of program.entries()) {
      if (block.kind !== 'migration') throw new Error('unexpected stamp block in an up or down plan');
      const step = block.step;
      const sent: Flight | null = ahead;
      ahead = null;
      await signalsDelivered(options.signal);
      // A migration already sent is read whatever the signal: the server may have committed it.
      if (options.signal?.aborted && sent === null) {
        const done = results.map((r) => r.version).join(', ');
        throw withProgress(new InterruptedError(
          signalName(options.signal),
          null,
          `Interrupted by ${signalName(options.signal)} before ${nameOf(step).version}_${nameOf(step).name}${done ? `; ${done} ${plan.command === 'up' ? 'applied' : 'reverted'} before it` : ''}. Run pgpair ${plan.command} again to continue.`,
        ), results, null);
      }
      const { version, name } = nameOf(step);
      const analysis = block.analysis;
      options.logger.debug({ version, name, action: step.action, mode: analysis.mode, reason: analysis.reason }, `${step.action} ${version}_${name}`);
      options.onStepStart?.({ action: step.action, version, name });
      // Only a failure needs the message; building it for every step would be quadratic in the number of steps.
      const attempts = attemptsOf(options);
      const next = (sqlstate?: string | null, waitedFor?: string | null) => whatHappened(results, plan, index, analysis, sqlstate, waitedFor, attempts);
      const since = performance.now();
      const following = program[index + 1];
      const flight = sent ?? (pipelinable(db, block) && pipelinable(db, following) && !options.signal?.aborted ? sendFlight(db, block, ctx, tokenOf(index), null, options.claim) : null);
      // The next migration goes out while this one runs and commits: its guard lets it commit only after this one did.
      if (flight && pipelinable(db, following) && !options.signal?.aborted) ahead = sendFlight(db, following, ctx, tokenOf(index + 1), flight.token, options.claim);
      let durationMs: number;
      try {
        durationMs = flight ? await runFlight(db, tables, flight, options, ctx, next, attempts, since) : await runBlock(db, tables, block, options, ctx, next, attempts);
      } catch (error) {
        // The one sent after it was refused by its guard: nothing of it was applied.
        await drainFlight(ahead);
        ahead = null;
        throw withProgress(error, results, { action: step.action, version, name, file: block.file.path });
      }
      if (ahead && attempts.made > 1) {
        // This migration committed on a retry, after the one sent behind its first attempt was refused: send that one again.
        await drainFlight(ahead);
        ahead = null;
      }
      const result: StepResult = { action: step.action, version, name, durationMs, mode: analysis.mode, ...(attempts.used > 0 ? { lockRetries: attempts.used } : {}) };
      results.push(result);
      options.onStep?.(result);
    }
  } finally {
    if (relaxed && !db.lost) await flushCommits(db, results.length > 0, options.logger);
  }
  return results;
}

/**
 * Runs one migration block, its lock-failure retries included (execute/retry.ts): a
 * transactional block is tried again as a whole, a non-transactional one statement by statement.
 */
function runBlock(db: Connection, tables: HistoryTables, block: MigrationBlock, options: ExecuteOptions, ctx: RunContext, next: (sqlstate?: string | null, waitedFor?: string | null) => string, attempts: Attempts): Promise<number> {
  if (block.mode !== 'transaction') return runOutsideTransaction(db, tables, block, options, ctx, next, attempts);
  return withTransactionRetries(db, tables, block, options, attempts, (watched) => runInTransaction(db, tables, block, options, ctx, next, watched));
}

/**
 * Reads a migration sent whole (execute/pipeline.ts), its lock-failure retries included: a retry
 * runs it as runBlock would, one migration at a time.
 */
function runFlight(db: Connection, tables: HistoryTables, flight: Flight, options: ExecuteOptions, ctx: RunContext, next: (sqlstate?: string | null, waitedFor?: string | null) => string, attempts: Attempts, since: number): Promise<number> {
  let first = true;
  return withTransactionRetries(db, tables, flight.block, options, attempts, (watched) => {
    if (!first) return runInTransaction(db, tables, flight.block, options, ctx, next, watched);
    first = false;
    return settleFlight(db, tables, flight, options, ctx, next, since, watched);
  });
}

/**
 * A run's error as data, as goose's PartialError: the steps done before it (`applied`) and the one
 * it stopped at (`failed`; null between steps), on the errors a run's step ends with.
 */
function withProgress(error: unknown, applied: readonly StepResult[], failed: FailedStep | null): unknown {
  if (error instanceof MigrationStepError) error.applied = [...applied];
  if (error instanceof InterruptedError) {
    error.applied = [...applied];
    error.failed = failed;
  }
  return error;
}

/** The guards asked for, as the program takes them. */
function guardOptions(options: ExecuteOptions): GuardOptions {
  return {
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
  };
}

/**
 * Reads the session state the run starts with, for restoring it after every migration. With the
 * run's claim (lib/run/pooler.ts), the checks pass only on the run's own backend, and the restore
 * first makes sure it is there, then sets the run's marker again (RESET ALL clears it).
 */
export async function runContext(db: Connection, tables: HistoryTables, relaxedCommits: boolean, claim?: SessionClaim): Promise<RunContext> {
  const [row] = await db.query<{ session_user: unknown; current_user: unknown; login_user: unknown; settings: unknown }>(CAPTURE_SESSION_SQL);
  const start = sessionStartFromRow(row!);
  const own: [string, string][] = relaxedCommits ? [['synchronous_commit', 'off']] : [];
  if (!claim) return { restoreSql: restoreSessionSql(start, own), lockKeySql: lockKeySql(tables.display) };
  return { restoreSql: `${ownSessionGuardSql(claim)} ${restoreSessionSql(start, [...own, [RUN_MARKER, claim.marker]])}`, lockKeySql: ownedLockKeySql(lockKeySql(tables.display), claim) };
}

/** Whether DDL may run the user's code in this run: an enabled event trigger, or a migration that creates or alters one. */
async function userCodeOnDdl(db: Connection, program: Block[]): Promise<boolean> {
  const mentioned = program.some((block) => block.kind === 'migration' && block.analysis.statements.some((s) => /\bEVENT\s+TRIGGER\b/i.test(s.text)));
  if (mentioned) return true;
  const [row] = await db.query<{ any: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D') AS any");
  return row?.any !== false;
}

/** Restores the session's synchronous_commit and, when anything committed, waits until it is on disk. */
async function flushCommits(db: Connection, committed: boolean, logger: Logger): Promise<void> {
  try {
    if (committed) await db.transaction(async (tx) => {
      await tx.exec('SET LOCAL synchronous_commit = on');
      await tx.query('SELECT txid_current()');
    });
    await db.exec('RESET synchronous_commit; RESET "pgpair.committed"');
  } catch (error) {
    logger.warn({ err: error }, 'could not confirm that the last migrations are flushed to disk');
  }
}
