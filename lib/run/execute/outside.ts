/**
 * A migration block of the program (lib/core/program.ts) that runs outside
 * pgpair's transaction: a no-transaction file, or one with its own
 * BEGIN/COMMIT. The history row says `running` while the statements run, its
 * progress is recorded after each one, and it ends `ok` (or deleted, for
 * down) or `failed` with the error.
 */
import { pgErrorFields } from '../../db/errors.js';
import type { Connection, Queryable } from '../../db/types.js';
import { InterruptedError, MigrationFailedError, PgpairError } from '../../core/errors.js';
import type { MigrationFile } from '../../core/files.js';
import { SET_GUARD_SQL } from '../../core/guards.js';
import { markFailedSql, type HistoryTables } from '../../core/history.js';
import type { SqlStatement } from '../../core/lexer.js';
import { inlineParams } from '../../core/literal.js';
import type { MigrationBlock } from '../../core/program.js';
import { AS_LOGIN_USER_SQL, GUARD_LOCK_LOST, lockGuardSql } from '../../core/session-state.js';
import { readCopyData } from '../../read/source.js';
import { elapsed, sendRecord, signalsDelivered, watchLockWaits, type ExecuteOptions, type RunContext } from './context.js';
import { runStatementWithRetries, type Attempts } from './retry.js';
import { failure, interrupted, leaveAbortedTransaction, LockReleased, lockReleased, log, lostDuring, StatementFailure } from './failures.js';

/** Runs one statement of a file; COPY data is streamed (a large file's from the file). A driver error becomes a StatementFailure. */
export async function runStatement(q: Queryable, file: MigrationFile, index: number, statement: SqlStatement, signal: AbortSignal | undefined): Promise<void> {
  await signalsDelivered(signal);
  if (signal?.aborted) throw new StatementFailure(new Error('interrupted'), index, statement);
  try {
    const copyData = statement.copyData;
    if (copyData) await q.copyFrom(statement.text, copyData.location ? readCopyData(file, copyData.location) : copyData.text);
    else await q.exec(statement.text);
  } catch (error) {
    if (error instanceof PgpairError) throw error;
    throw new StatementFailure(error, index, statement);
  }
}

/**
 * Runs a block that runs outside pgpair's transaction, operation by operation: the records before
 * its first statement (the `running` row), then the guards, statements and progress, the session
 * restored, and from its BEGIN on the records that end it. On a failure the row is marked failed
 * with what happened. Returns the measured duration (ms).
 */
export async function runOutsideTransaction(
  db: Connection,
  tables: HistoryTables,
  block: MigrationBlock,
  options: ExecuteOptions,
  ctx: RunContext,
  next: (sqlstate?: string | null, waitedFor?: string | null) => string,
  /** Lock-failure retries of its statements (execute/retry.ts); none when not given. A file with its own BEGIN/COMMIT is never retried: its transaction would be gone. */
  attempts?: Attempts,
): Promise<number> {
  const { file, analysis } = block;
  const migration = block.step.migration;
  const direction = block.step.action;
  const total = analysis.statements.length;
  const ops = block.ops;
  let at = 0;
  for (; at < ops.length && ops[at]!.op === 'record'; at++) await sendRecord(db, (ops[at] as Extract<typeof ops[number], { op: 'record' }>).record, null);
  const started = performance.now();
  // Progress after each statement, as the login user whatever role the file SET (in one message, one implicit
  // transaction, which the lock guard aborts when the session no longer holds the migration lock). A file with its
  // own BEGIN may be inside its transaction block: there SET LOCAL would outlive this message, so it is left out.
  const asLoginUser = analysis.mode === 'own-transaction' ? '' : `${AS_LOGIN_USER_SQL} `;
  const lockGuard = lockGuardSql(ctx.lockKeySql);
  const watch = watchLockWaits(db, migration, options);
  try {
    for (; at < ops.length && ops[at]!.op !== 'begin'; at++) {
      const op = ops[at]!;
      switch (op.op) {
        case 'guards':
          for (const [name, value] of op.settings) await db.query(SET_GUARD_SQL, [name, value, op.local]);
          break;
        case 'statement': {
          const run = () => runStatement(db, file, op.index, op.statement, options.signal);
          if (attempts && analysis.mode === 'no-transaction') await runStatementWithRetries(db, tables, block, options, attempts, watch, op, run);
          else await run();
          break;
        }
        case 'progress':
          try {
            await db.exec(`${asLoginUser}${inlineParams(op.record.sql, op.record.params)} ${lockGuard}`);
          } catch (error) {
            if (pgErrorFields(error)?.sqlstate === GUARD_LOCK_LOST) throw new LockReleased(op.done - 1, analysis.statements[op.done - 1]!);
            throw error;
          }
          break;
        case 'reset-guards':
          for (const [name] of op.settings) await db.exec(`RESET ${name}`);
          break;
        case 'restore':
          await db.exec(ctx.restoreSql);
          break;
        default:
          throw new Error(`unexpected ${op.op} operation while a step runs outside a transaction`);
      }
    }
    watch.stop();
  } catch (error) {
    watch.stop();
    const mapped =
      error instanceof LockReleased
        ? await lockReleased(db, migration, direction, file, analysis, ctx, error)
        : options.signal?.aborted
          ? interrupted(options.signal, migration, direction, analysis, error)
          : await failure(error, { migration, direction, file, analysis, rolledBack: false, next: (sqlstate) => next(sqlstate, watch.last()) });
    if (db.lost) throw lostDuring(mapped, migration, analysis);
    await leaveAbortedTransaction(db);
    await db.exec(ctx.restoreSql).catch(() => {});
    const statement = error instanceof StatementFailure ? error.index + 1 : null;
    const summary =
      error instanceof LockReleased
        ? `${direction} stopped: statement ${error.index + 1} of ${total} (${file.path}:${error.statement.line}) released the migration lock`
        : mapped instanceof InterruptedError
          ? `${direction} interrupted by ${mapped.reason}${error instanceof StatementFailure ? ` at statement ${error.index + 1} of ${total}` : ''}`
          : mapped instanceof MigrationFailedError
            ? `${direction} failed at statement ${statement} of ${total} (${file.path}:${mapped.line}): ${mapped.pg.message}`
            : `${direction} failed: ${(mapped as Error).message}`;
    await db.transaction(async (tx) => {
      await tx.query(markFailedSql(tables), [migration.key, summary, elapsed(started)]);
      await log(tx, tables, 'failed', { version: migration.version, name: migration.name, checksum: file.checksum, how: 'executed', durationMs: elapsed(started), detail: summary });
    });
    throw mapped;
  }
  const durationMs = elapsed(started);
  await db.transaction(async (tx) => {
    for (const op of ops.slice(at)) {
      if (op.op === 'record') await sendRecord(tx, op.record, durationMs);
      else if (op.op !== 'begin' && op.op !== 'commit') throw new Error(`unexpected ${op.op} operation in the records that end a step`);
    }
  });
  return durationMs;
}
