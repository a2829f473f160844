/**
 * The pipeline across migrations. A run sends migration i+1 whole (BEGIN to COMMIT) while
 * migration i still runs or commits, so the server goes from one to the next without waiting
 * for the client. Only a run over a pipelining driver does this, and only for transactional
 * blocks without COPY and without a word that may end a transaction (pipelinable). It keeps
 * every guarantee of one migration at a time:
 *
 * - Nothing commits after a failure. Migration i sets a session marker in its own transaction
 *   (markCommittedSql), and i+1's transaction begins with a guard that aborts it unless the
 *   marker is there (previousCommittedGuardSql). A session setting made in a transaction lasts
 *   only if that transaction commits. So when i fails, i+1 fails at its first statement, and
 *   its COMMIT becomes a ROLLBACK.
 * - The history row is written only in pgpair's transaction and under the lock. COMMIT goes out
 *   before the client has read a single answer, so the check before the history row must abort
 *   on the server (pipelinedCommitGuardSql). It travels in one message with the session restore
 *   and the marker: when it fails, neither of them happens.
 * - Failures point at the file. Every answer is read in order, and a statement's error is reported
 *   as it is today. After a statement that could run a function (anything but plain DDL,
 *   core/classify.ts inertStatements), pgpair's check travels right behind it, so a lock released
 *   through a function is pinned to its statement.
 * - At most two migrations are on their way. A signal stops the sending, and the run reports what
 *   the server did with the ones already sent (committed or rolled back), as the history says.
 * - The history row's duration_ms is the server's time since BEGIN (as in a `--sql` script). The
 *   client measures the duration it reports.
 */
import { pgErrorFields } from '../../db/errors.js';
import type { Connection } from '../../db/types.js';
import { inertStatements } from '../../core/classify.js';
import type { HistoryTables } from '../../core/history.js';
import type { SqlStatement } from '../../core/lexer.js';
import { bindElapsed, type Block, type MigrationBlock } from '../../core/program.js';
import { SET_GUARD_SQL } from '../../core/guards.js';
import { inlineParams } from '../../core/literal.js';
import {
  GUARD_LOCK_LOST,
  GUARD_PREVIOUS_FAILED,
  GUARD_SESSION_MOVED,
  GUARD_TRANSACTION_ENDED,
  lockGuardUnderEventTriggersSql,
  markCommittedSql,
  pipelinedCommitGuardSql,
  previousCommittedGuardSql,
  type SessionClaim,
} from '../../core/session-state.js';
import { caught, elapsed, sendRecordBound, watchLockWaits, type ExecuteOptions, type LockWaitWatch, type RunContext } from './context.js';
import { checkFailure, LockReleased, StatementFailure, TransactionEnded } from './failures.js';
import { MAY_END_TRANSACTION, transactionFailure } from './transaction.js';

type Outcome<T = unknown> = Promise<{ value: T } | { error: unknown }>;

type Item =
  /** BEGIN, with the guard that the migration before committed when there is one. */
  | { kind: 'begin'; outcome: Outcome }
  | { kind: 'setting'; outcome: Outcome }
  | { kind: 'statement'; index: number; statement: SqlStatement; outcome: Outcome }
  | { kind: 'check'; index: number; statement: SqlStatement; outcome: Outcome }
  /** The guard before the history row, the session restore and the marker, in one message. */
  | { kind: 'commit-guard'; outcome: Outcome }
  | { kind: 'record'; outcome: Outcome }
  | { kind: 'commit'; outcome: Outcome };

/** A migration sent whole, its answers still to be read. */
export interface Flight {
  block: MigrationBlock;
  /** What its marker says once it committed. */
  token: string;
  items: Item[];
  xid: Promise<string | null>;
}

const KNOWN_OPS = new Set(['begin', 'capture-xid', 'guards', 'statement', 'check', 'restore', 'record', 'commit']);

/** Whether a block can be sent whole, without waiting for any of its answers. */
export function pipelinable(db: Connection, block: Block | undefined): block is MigrationBlock {
  if (!db.pipelining || block?.kind !== 'migration' || block.mode !== 'transaction') return false;
  if (!block.ops.every((op) => KNOWN_OPS.has(op.op))) return false;
  return block.analysis.statements.every((statement) => !statement.copyData && !MAY_END_TRANSACTION.test(statement.text));
}

/** One of pgpair's statements, ended by a semicolon, to travel with others in one message. */
function terminated(sql: string): string {
  const text = sql.trimEnd();
  return text.endsWith(';') ? text : `${text};`;
}

/**
 * Sends a pipelinable block whole: nothing here waits. `previous` is the token of the migration
 * sent before it, still unread (null when that one is known to have committed, or there is none).
 */
export function sendFlight(db: Connection, block: MigrationBlock, ctx: RunContext, token: string, previous: string | null, claim: SessionClaim | undefined): Flight {
  const items: Item[] = [];
  let xid: Promise<string | null> = Promise.resolve(null);
  // Plain DDL cannot end the transaction: its migration needs no check after its statements and no xid at BEGIN. It runs
  // the user's code only through an event trigger, so its guard reads the lock only while one is enabled (below).
  const inertFlags = inertStatements(block.analysis.statements);
  const inert = !ctx.userCodeOnDdl && inertFlags.every(Boolean);
  // pgpair's own statements that return nothing travel in one message, up to the next that must be told apart.
  let begin: string[] = [];
  const guardSql = pipelinedCommitGuardSql(ctx.lockKeySql);
  const sendBegin = () => {
    if (begin.length > 0) items.push({ kind: 'begin', outcome: caught(db.exec(begin.join(' '))) });
    begin = [];
  };
  // The guard before the history row, the restore, the marker and the records that follow: one message.
  let tail: string[] | null = null;
  const sendTail = () => {
    if (tail !== null) items.push({ kind: 'commit-guard', outcome: caught(db.exec(tail.join(' '))) });
    tail = null;
  };
  for (const op of block.ops) {
    switch (op.op) {
      case 'begin':
        begin.push('BEGIN;');
        if (previous !== null) begin.push(previousCommittedGuardSql(previous, claim));
        break;
      case 'capture-xid':
        if (inert) break;
        sendBegin();
        // The checks compare it; and it gives pgpair's transaction an id, which the guard before the history row looks for.
        xid = db.query<{ xid: string }>('SELECT txid_current()::text AS xid').then((rows) => rows[0]?.xid ?? null, () => null);
        break;
      case 'guards':
        for (const [name, value] of op.settings) begin.push(terminated(inlineParams(SET_GUARD_SQL, [name, value, op.local])));
        break;
      case 'statement':
        sendBegin();
        items.push({ kind: 'statement', index: op.index, statement: op.statement, outcome: caught(db.exec(op.statement.text)) });
        // The check raises: a migration that lets the lock go is rolled back even when it takes the lock again.
        if (!inert && (ctx.userCodeOnDdl || !inertFlags[op.index])) items.push({ kind: 'check', index: op.index, statement: op.statement, outcome: caught(db.exec(guardSql)) });
        break;
      case 'check':
        // Sent with the restore, in one message (below).
        break;
      case 'restore':
        sendBegin();
        // An inert migration has no check after its statements and no xid read at BEGIN (so the guard's transaction half
        // cannot run). Its restore comes first: with the run's claim it begins with the own-session guard, so the one
        // guard is not sent twice; neither it nor the restore touches an advisory lock, so the lock guard after it reads
        // what the migration left (an event trigger, made by dynamic SQL earlier in the run too, may have let go).
        tail = inert ? [ctx.restoreSql, lockGuardUnderEventTriggersSql(ctx.lockKeySql), markCommittedSql(token)] : [guardSql, ctx.restoreSql, markCommittedSql(token)];
        break;
      case 'record':
        // A record that need not say how many rows it changed travels in the guard's message, after the marker.
        if (tail !== null && op.record.mustChangeOneRow === undefined) {
          tail.push(terminated(inlineParams(op.record.sql, bindElapsed(op.record.params, (e) => e.script))));
          break;
        }
        sendTail();
        items.push({ kind: 'record', outcome: caught(sendRecordBound(db, op.record, (e) => e.script)) });
        break;
      case 'commit':
        sendTail();
        items.push({ kind: 'commit', outcome: caught(db.exec('COMMIT')) });
        break;
      default:
        throw new Error(`unexpected ${op.op} operation in a pipelined step`);
    }
  }
  return { block, token, items, xid };
}

/** Reads every answer of a flight that will not be reported (it was refused by its guard, or the run stops). */
export async function drainFlight(flight: Flight | null): Promise<void> {
  if (flight) for (const item of flight.items) await item.outcome;
}

const sqlstateOf = (error: unknown) => pgErrorFields(error)?.sqlstate ?? null;

/**
 * Reads a flight's answers in order and returns its duration (ms, measured from `since`), or
 * throws what a transactional block throws when it fails (transaction.ts transactionFailure).
 * Every answer is read before it returns or throws, so the session is where the flight left it.
 */
export async function settleFlight(
  db: Connection,
  tables: HistoryTables,
  flight: Flight,
  options: ExecuteOptions,
  ctx: RunContext,
  next: (sqlstate?: string | null, waitedFor?: string | null) => string,
  since: number,
  watched: { watch?: LockWaitWatch },
): Promise<number> {
  const { block } = flight;
  const watch = watchLockWaits(db, block.step.migration, options);
  watched.watch = watch;
  const statements = block.analysis.statements;
  const last = statements.length > 0 ? { index: statements.length - 1, statement: statements[statements.length - 1]! } : null;
  let thrown: unknown = null;
  try {
    for (const item of flight.items) {
      const outcome = await item.outcome;
      if (thrown !== null) continue;
      if (!('error' in outcome)) continue;
      const error = outcome.error;
      if (item.kind === 'check') {
        const sqlstate = sqlstateOf(error);
        thrown = sqlstate === GUARD_LOCK_LOST ? new LockReleased(item.index, item.statement) : sqlstate === GUARD_TRANSACTION_ENDED ? new TransactionEnded(item.index, item.statement, null) : checkFailure(error, item);
        continue;
      }
      if (item.kind === 'statement') thrown = new StatementFailure(error, item.index, item.statement);
      else if (item.kind === 'begin' && sqlstateOf(error) === GUARD_PREVIOUS_FAILED) {
        // The migration before committed (it was read first), so its marker was set, and something else took it from
        // the session between the two transactions: another client on the same server connection (a pooler in
        // transaction mode). It is reported as the session check it is (lib/run/pooler.ts looks for the SQLSTATE).
        thrown = Object.assign(Object.create(Object.getPrototypeOf(error) as object) as object, error, {
          code: GUARD_SESSION_MOVED,
          message: `pgpair: between the run's transactions another client changed this server connection's settings (a pooler in transaction mode)`,
        });
      } else if (item.kind === 'commit-guard' && sqlstateOf(error) === GUARD_LOCK_LOST && last) {
        // No check after a statement saw it: plain DDL released it through an event trigger, or a function did so in a statement checked as inert.
        thrown = new LockReleased(last.index, last.statement, true);
      } else if (item.kind === 'commit-guard' && sqlstateOf(error) === GUARD_TRANSACTION_ENDED && last) {
        thrown = new TransactionEnded(last.index, last.statement, null);
      } else thrown = error;
    }
    if (thrown !== null) throw thrown;
  } catch (error) {
    throw await transactionFailure(db, tables, block, options, ctx, next, watch, error, await flight.xid, elapsed(since));
  } finally {
    watch.stop();
  }
  return elapsed(since);
}
