/**
 * A transactional migration block of the program (lib/core/program.ts): its
 * statements, history change and log entry commit together or not at all.
 * Pipelined where the driver allows it, with pgpair's check after every
 * statement, so that a statement that ends the transaction or releases the
 * lock is found at once.
 */
import { pgErrorFields } from '../../db/errors.js';
import type { Connection, Queryable } from '../../db/types.js';
import { PgpairError } from '../../core/errors.js';
import type { MigrationFile } from '../../core/files.js';
import { SET_GUARD_SQL } from '../../core/guards.js';
import type { HistoryTables } from '../../core/history.js';
import type { SqlStatement } from '../../core/lexer.js';
import type { MigrationBlock } from '../../core/program.js';
import { statementCheckSql } from '../../core/session-state.js';
import { readCopyData } from '../../read/source.js';
import { caught, elapsed, sendRecord, signalsDelivered, watchLockWaits, type ExecuteOptions, type LockWaitWatch, type RunContext } from './context.js';
import { checkFailure, commitFailure, failure, interrupted, LockReleased, lockReleased, StatementFailure, TransactionEnded, transactionEnded } from './failures.js';

/**
 * Words a statement needs to end a transaction block (COMMIT, END, ROLLBACK, ABORT, PREPARE
 * TRANSACTION), looked for in the raw text, strings and comments included: over-matching only
 * costs a wait. A pipelined run waits after such a statement, and goes on only when the
 * transaction is still pgpair's, so that nothing runs outside it unnoticed. COPY too: a
 * `COPY … FROM STDIN` the server starts in such a text must find nothing queued behind it (the
 * server ends the session when another query arrives during COPY), so that it can be aborted.
 */
export const MAY_END_TRANSACTION = /\b(?:COMMIT|END|ROLLBACK|ABORT|PREPARE|COPY)\b/i;

interface Sent {
  index: number;
  statement: SqlStatement;
  outcome: Promise<{ value: unknown } | { error: unknown }>;
  /** statementCheckSql after it. */
  check: Promise<{ value: { xid: string | null; locked: boolean } | undefined } | { error: unknown }>;
}

/**
 * Runs the statement operations of a transactional block, up to its check operation, in `tx`
 * with a check after each statement (the transaction is still pgpair's, the lock still held):
 * after the last one, that is the program's check, which a `--sql` script writes as
 * beforeCommitGuardSql. Pipelined, it sends statements without waiting, except after one that
 * may end the transaction. Throws StatementFailure (the transaction is aborted),
 * TransactionEnded or LockReleased.
 */
async function runGuardedStatements(tx: Queryable, file: MigrationFile, statements: readonly StatementOp[], options: ExecuteOptions, ctx: RunContext, xid: Promise<string | null>, pipelined: boolean): Promise<void> {
  let batch: Sent[] = [];
  let ended: TransactionEnded | null = null;
  const settle = async (): Promise<void> => {
    for (const sent of batch) {
      const outcome = await sent.outcome;
      const check = await sent.check;
      const failedHere = 'error' in outcome ? outcome.error : null;
      if (failedHere instanceof PgpairError) throw failedHere;
      if ('error' in check && check.error instanceof PgpairError) throw check.error;
      if (ended) {
        if (failedHere !== null) ended.failedOutside ??= new StatementFailure(failedHere, sent.index, sent.statement);
        else ended.ranOutside.push(sent.index);
        continue;
      }
      const row = 'value' in check ? check.value : undefined;
      if (row && row.xid !== (await xid)) {
        ended = new TransactionEnded(sent.index, sent.statement, failedHere);
        continue;
      }
      if (failedHere !== null) throw new StatementFailure(failedHere, sent.index, sent.statement);
      if (row && !row.locked) throw new LockReleased(sent.index, sent.statement);
      if ('error' in check) throw checkFailure(check.error, sent);
    }
    batch = [];
  };
  for (const [at, { index, statement }] of statements.entries()) {
    if (!pipelined) await signalsDelivered(options.signal);
    if (options.signal?.aborted) throw new StatementFailure(new Error('interrupted'), index, statement);
    const copyData = statement.copyData;
    const outcome = caught(copyData ? tx.copyFrom(statement.text, copyData.location ? readCopyData(file, copyData.location) : copyData.text) : tx.exec(statement.text));
    const last = at === statements.length - 1;
    const mayEnd = MAY_END_TRANSACTION.test(statement.text);
    // Nothing is sent behind a statement that may end the transaction or start a COPY until it has answered.
    if (!pipelined || mayEnd) await outcome;
    const wait = !pipelined || last || mayEnd;
    // After the last statement this is the before-commit guard: the history row is sent only once it has
    // answered. Pipelined, it travels right behind the statement (one round trip fewer per migration): the
    // server runs it after the statement, in the same transaction, and settle() reads the statement first.
    const check = caught(tx.query<{ xid: string | null; locked: boolean }>(statementCheckSql(ctx.lockKeySql)).then((rows) => rows[0]));
    batch.push({ index, statement, outcome, check });
    if (wait) {
      await settle();
      if (ended) throw ended;
    }
  }
  if (statements.length === 0) {
    const [row] = await tx.query<{ locked: boolean }>(statementCheckSql(ctx.lockKeySql));
    if (row && !row.locked) throw new Error('the migration lock was lost before the migration ran');
  }
}

type StatementOp = Extract<MigrationBlock['ops'][number], { op: 'statement' }>;

/**
 * Runs a transactional block's operations inside one transaction: BEGIN and COMMIT are the
 * driver's transaction, the statements up to the check run guarded (runGuardedStatements), and
 * the records travel with COMMIT when pipelined. Returns the measured duration (ms).
 */
export async function runInTransaction(
  db: Connection,
  tables: HistoryTables,
  block: MigrationBlock,
  options: ExecuteOptions,
  ctx: RunContext,
  next: (sqlstate?: string | null, waitedFor?: string | null) => string,
  /** Given the watch of this attempt's lock waits (execute/retry.ts reads what it saw). */
  watched: { watch?: LockWaitWatch } = {},
): Promise<number> {
  const { file, analysis } = block;
  const migration = block.step.migration;
  const pipelined = db.pipelining && !analysis.statements.some((s) => s.copyData);
  const watch = watchLockWaits(db, migration, options);
  watched.watch = watch;
  let durationMs = 0;
  const recorded: Promise<unknown>[] = [];
  let xid: Promise<string | null> = Promise.resolve(null);
  const started = performance.now();
  try {
    await db.transaction(async (tx) => {
      const statements: StatementOp[] = [];
      const setup: Promise<{ value: unknown } | { error: unknown }>[] = [];
      for (const op of block.ops) {
        switch (op.op) {
          case 'begin':
          case 'commit':
            // db.transaction sends BEGIN, and COMMIT once this function returns.
            break;
          case 'capture-xid':
            // The checks compare it; it tells later whether an ended transaction committed. It travels with BEGIN.
            xid = tx.query<{ xid: string }>('SELECT txid_current()::text AS xid').then((rows) => rows[0]?.xid ?? null, () => null);
            break;
          case 'guards':
            for (const [name, value] of op.settings) setup.push(caught(tx.query(SET_GUARD_SQL, [name, value, op.local])));
            break;
          case 'statement':
            statements.push(op);
            break;
          case 'check':
            await runGuardedStatements(tx, file, statements, options, ctx, xid, pipelined);
            for (const outcome of await Promise.all(setup)) if ('error' in outcome) throw outcome.error;
            durationMs = elapsed(started);
            break;
          case 'restore':
            // Pipelined, it travels with the records and COMMIT: should it fail, the transaction is aborted, the
            // records fail behind it and COMMIT becomes ROLLBACK; settleRecorded reports its error first.
            if (pipelined) recorded.push(tx.exec(ctx.restoreSql).then(() => null, (error: unknown) => error));
            else await tx.exec(ctx.restoreSql);
            break;
          case 'record':
            recorded.push(sendRecord(tx, op.record, durationMs).then(() => null, (error: unknown) => error));
            break;
          default:
            throw new Error(`unexpected ${op.op} operation in a transactional step`);
        }
      }
      // Without pipelining, wait here; with it, the history row, the log entry and COMMIT travel together.
      if (!pipelined) await settleRecorded(recorded);
    });
    // An error in the history statements aborted the transaction, and PostgreSQL turned COMMIT into ROLLBACK.
    await settleRecorded(recorded);
  } catch (error) {
    throw await transactionFailure(db, tables, block, options, ctx, next, watch, error, await xid, elapsed(started));
  } finally {
    watch.stop();
  }
  return durationMs;
}

/**
 * What a failed transactional block reports, whether it ran here or in the pipeline across
 * migrations (pipeline.ts): an ended transaction or a released lock says what stayed, an
 * interruption says so, a failed COMMIT (or history row) is reported like any SQL error of the file.
 */
export async function transactionFailure(
  db: Connection,
  tables: HistoryTables,
  block: MigrationBlock,
  options: ExecuteOptions,
  ctx: RunContext,
  next: (sqlstate?: string | null, waitedFor?: string | null) => string,
  watch: LockWaitWatch,
  error: unknown,
  xid: string | null,
  durationMs: number,
): Promise<unknown> {
  const { file, analysis } = block;
  const migration = block.step.migration;
  const direction = block.step.action;
  if (error instanceof TransactionEnded) return transactionEnded(db, tables, migration, direction, file, analysis, ctx, error, xid, durationMs);
  if (error instanceof LockReleased) return lockReleased(db, migration, direction, file, analysis, ctx, error);
  if (options.signal?.aborted) return interrupted(options.signal, migration, direction, analysis, error);
  if (!(error instanceof StatementFailure) && !(error instanceof PgpairError) && pgErrorFields(error) && !db.lost) {
    // The statements ran; COMMIT failed (a deferred constraint): report it like any SQL error of the file.
    return commitFailure(error, { migration, direction, file, analysis, next });
  }
  return failure(error, { migration, direction, file, analysis, rolledBack: true, next: (sqlstate) => next(sqlstate, watch.last()) });
}

async function settleRecorded(recorded: Promise<unknown>[]): Promise<void> {
  for (const outcome of await Promise.all(recorded)) if (outcome) throw outcome;
}
