/** The program both runners carry out (lib/core/program.ts), without a database: plans built from inline files. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMigrationDirectory, type Migration } from '../../lib/core/files.js';
import { historyTables, type HistoryRow } from '../../lib/core/history.js';
import { planDown, planStamp, planUp, type Plan } from '../../lib/core/plan.js';
import { bindElapsed, Elapsed, programOf, type Block, type MigrationBlock, type Op } from '../../lib/core/program.js';
import { computeStatus } from '../../lib/core/status.js';
import { historyRowOf } from '../helpers/history-row.js';

const tables = historyTables({ schema: null, name: 'pgpair_history' }, 'public');

function migrations(files: Record<string, string>): Migration[] {
  return parseMigrationDirectory('sql', Object.entries(files).map(([name, text]) => ({ name, text }))).migrations;
}

const row = (m: Migration, how: HistoryRow['how'] = 'executed'): HistoryRow => historyRowOf(m, { how });

const FILES = {
  '0001_users.up.sql': 'CREATE TABLE users (id int);\nINSERT INTO users VALUES (1);\n',
  '0001_users.down.sql': 'DROP TABLE users;\n',
  '0002_index.up.sql': 'CREATE INDEX CONCURRENTLY users_id ON users (id);\nANALYZE users;\n',
  '0002_index.down.sql': '-- pgpair:no-transaction\nDROP INDEX CONCURRENTLY users_id;\n',
  '0003_own.up.sql': 'BEGIN;\nCREATE TABLE own (x int);\nCOMMIT;\n',
  '0004_empty.up.sql': '-- nothing yet\n',
};

/** Each operation as a short word: the shape of a block, what a reader of the program sees. */
function shape(ops: readonly Op[]): string[] {
  return ops.map((op) => {
    if (op.op === 'statement') return `statement ${op.index + 1}`;
    if (op.op === 'progress') return `progress ${op.done}`;
    if (op.op === 'record') return `record ${op.record.sql.split(/\s/, 1)[0]}${op.record.mustChangeOneRow ? ' (one row)' : ''}`;
    if (op.op === 'guards' || op.op === 'reset-guards') return `${op.op}${op.settings.length > 0 ? ` ${op.settings.map(([name]) => name).join(',')}` : ''}${op.op === 'guards' ? (op.local ? ' local' : ' session') : ''}`;
    return op.op;
  });
}

const migrationBlocks = (blocks: Block[]): MigrationBlock[] => blocks.map((block) => (block.kind === 'migration' ? block : assert.fail('a stamp block in an up/down program')));

describe('programOf', () => {
  const all = migrations(FILES);
  const empty = computeStatus(all, []);

  it('a transactional step: BEGIN, its id, the guards for the transaction, the statements, the check, the session back, history and log rows, COMMIT', () => {
    const [block] = migrationBlocks(programOf(planUp(empty, { target: { version: '0001' } }), { tables, how: 'executed', statementTimeoutMs: 5000 }));
    assert.equal(block!.mode, 'transaction');
    assert.deepEqual(shape(block!.ops), ['begin', 'capture-xid', 'guards statement_timeout,lock_timeout local', 'statement 1', 'statement 2', 'check', 'restore', 'record INSERT', 'record INSERT', 'commit']);
  });

  it('a step outside a transaction: a running row, session guards, each statement followed by its progress, the guards reset, then its end recorded in a transaction', () => {
    const status = computeStatus(all, [row(all[0]!)]);
    const [block] = migrationBlocks(programOf(planUp(status, { target: { version: '0002' } }), { tables, how: 'executed', migrationLockTimeoutMs: 100 }));
    assert.equal(block!.mode, 'no-transaction');
    assert.deepEqual(shape(block!.ops), [
      'record INSERT',
      'guards lock_timeout session',
      'statement 1',
      'progress 1',
      'statement 2',
      'progress 2',
      'reset-guards lock_timeout',
      'restore',
      'begin',
      'record UPDATE',
      'record INSERT',
      'commit',
    ]);
    const progress = block!.ops.find((op) => op.op === 'progress');
    assert.deepEqual(progress?.op === 'progress' && progress.record.params, ['2', 1]);
  });

  it('a file with its own BEGIN/COMMIT runs outside pgpair\'s transaction; an empty file is a step with no statement', () => {
    const status = computeStatus(all, [row(all[0]!), row(all[1]!)]);
    const [own, nothing] = migrationBlocks(programOf(planUp(status), { tables, how: 'script' }));
    assert.equal(own!.mode, 'own-transaction');
    assert.deepEqual(shape(own!.ops).filter((s) => s.startsWith('statement')), ['statement 1', 'statement 2', 'statement 3']);
    assert.equal(nothing!.mode, 'transaction');
    assert.deepEqual(shape(nothing!.ops), ['begin', 'capture-xid', 'guards lock_timeout local', 'check', 'restore', 'record INSERT', 'record INSERT', 'commit']);
  });

  it('migration SQL gets lock_timeout 5s unless told otherwise; --migration-lock-timeout 0 sets it off explicitly', () => {
    const plan = planUp(empty, { target: { version: '0001' } });
    const guards = (options: { migrationLockTimeoutMs?: number }) => migrationBlocks(programOf(plan, { tables, how: 'executed', ...options }))[0]!.ops.find((op) => op.op === 'guards');
    assert.deepEqual(guards({}), { op: 'guards', settings: [['lock_timeout', '5000ms']], local: true });
    assert.deepEqual(guards({ migrationLockTimeoutMs: 0 }), { op: 'guards', settings: [['lock_timeout', '0ms']], local: true });
    assert.deepEqual(guards({ migrationLockTimeoutMs: 250 }), { op: 'guards', settings: [['lock_timeout', '250ms']], local: true });
  });

  it('a transactional down deletes exactly one history row, and runs the down file', () => {
    const status = computeStatus(all, [row(all[0]!)]);
    const plan = planDown(status);
    const [block] = migrationBlocks(programOf(plan, { tables, how: 'executed' }));
    assert.equal(block!.file.path, 'sql/0001_users.down.sql');
    assert.ok(shape(block!.ops).includes('record DELETE (one row)'));
  });

  it('records say how the step ran, and stand for the duration with an Elapsed each runner binds', () => {
    const plan = planUp(empty, { target: { version: '0001' } });
    const [run] = migrationBlocks(programOf(plan, { tables, how: 'executed' }));
    const [script] = migrationBlocks(programOf(plan, { tables, how: 'script' }));
    const records = (block: MigrationBlock) => block.ops.flatMap((op) => (op.op === 'record' ? [op.record] : []));
    const [history] = records(run!);
    assert.equal(history!.params[5], 'executed');
    assert.equal(records(script!)[0]!.params[5], 'script');
    const elapsed = history!.params.find((p) => p instanceof Elapsed) as Elapsed;
    assert.ok(elapsed, 'the duration is symbolic');
    assert.match(elapsed.script!.sql, /transaction_timestamp\(\)/);
    assert.equal(bindElapsed(history!.params, () => 42)[11], 42);
    // Apart from how, the two runners get the same records.
    const strip = (block: MigrationBlock) => records(block).map((r) => ({ ...r, params: r.params.map((p) => (p === 'executed' || p === 'script' ? 'how' : p)) }));
    assert.deepEqual(strip(run!), strip(script!));
  });

  it('stamps: one block, at most three records whatever the number of steps, log entries first and unstamps reading how from the row', () => {
    const up = programOf(planStamp(empty, 'head'), { tables, how: 'executed' });
    assert.equal(up.length, 1);
    assert.equal(up[0]!.kind, 'stamp');
    assert.deepEqual(shape(up[0]!.ops), ['begin', 'record INSERT', 'record INSERT', 'commit']);
    const status = computeStatus(all, all.map((m) => row(m, 'script')));
    const back = programOf(planStamp(status, { version: '0001' }), { tables, how: 'script' });
    assert.deepEqual(shape(back[0]!.ops), ['begin', 'record INSERT', 'record DELETE', 'commit']);
    const log = back[0]!.ops[1]!;
    assert.ok(log.op === 'record');
    const entries = JSON.parse(String(log.record.params[0])) as unknown[][];
    assert.deepEqual(entries.map((e) => [e[0], e[1], e[4], e[8]]), [['unstamp', '0004', null, '4'], ['unstamp', '0003', null, '3'], ['unstamp', '0002', null, '2']]);
    assert.match(log.record.sql, /coalesce\(r->>4, \(SELECT h\.how FROM .* WHERE h\.version = r->>8\)\)/);
    assert.deepEqual(programOf(planStamp(computeStatus(all, []), 'base'), { tables, how: 'executed' }), [], 'nothing to stamp: no block');
  });

  it('refuses a plan that mixes step kinds, once, for both runners', () => {
    const up = planUp(empty);
    const stamp = planStamp(empty, 'head');
    const mixed: Plan = { ...up, steps: [...up.steps, ...stamp.steps] };
    assert.throws(() => programOf(mixed, { tables, how: 'executed' }), /unexpected stamp step in a up plan/);
    assert.throws(() => programOf({ ...stamp, steps: up.steps }, { tables, how: 'script' }), /unexpected up step in a stamp plan/);
  });
});
