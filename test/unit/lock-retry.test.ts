/**
 * The pure parts of the lock retries (lib/run/execute/retry.ts, cic.ts): the backoff between
 * attempts, and what a CREATE INDEX CONCURRENTLY statement names (the table whose left-over
 * INVALID index pgpair may drop, and the index name when there is one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitStatements } from '../../lib/core/lexer.js';
import { concurrentIndexOf, dropIndexSql } from '../../lib/run/execute/cic.js';
import { backoffMs, LOCK_RETRY_CAP_MS } from '../../lib/run/execute/retry.js';

const statement = (sql: string) => splitStatements(sql).statements[0]!;

describe('backoffMs', () => {
  it('doubles from the base, keeps the upper half at random, and never passes the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, 1000, () => 0)), [500, 1000, 2000, 4000, 8000, 15000]);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, 1000, () => 1)), [1000, 2000, 4000, 8000, 16000, 30000]);
    assert.equal(backoffMs(100, 1000, () => 1), LOCK_RETRY_CAP_MS);
    assert.equal(backoffMs(1, 10, () => 0.5), 8);
  });
});

describe('concurrentIndexOf', () => {
  it('reads the table and the index name as PostgreSQL stores it', () => {
    assert.deepEqual(concurrentIndexOf(statement('CREATE INDEX CONCURRENTLY t_a ON t (a);')), { table: 't', name: 't_a', ifNotExists: false });
    assert.deepEqual(concurrentIndexOf(statement('create unique index concurrently if not exists "Idx ""1""" on only "S"."My T" using btree (a);')), { table: '"S"."My T"', name: 'Idx "1"', ifNotExists: true });
    assert.deepEqual(concurrentIndexOf(statement('CREATE INDEX CONCURRENTLY Mixed_Case ON public.t(a)')), { table: 'public.t', name: 'mixed_case', ifNotExists: false });
    assert.deepEqual(concurrentIndexOf(statement('CREATE INDEX CONCURRENTLY ON t (a);')), { table: 't', name: null, ifNotExists: false });
    assert.deepEqual(concurrentIndexOf(statement('CREATE INDEX CONCURRENTLY /* c */ ON -- x\n t (a);')), { table: 't', name: null, ifNotExists: false });
  });

  it('is null for anything else', () => {
    for (const sql of ['CREATE INDEX t_a ON t (a);', 'DROP INDEX CONCURRENTLY t_a;', 'REINDEX INDEX CONCURRENTLY t_a;', "SELECT 'CREATE INDEX CONCURRENTLY x ON t (a)';", 'CREATE INDEX CONCURRENTLY IF EXISTS x ON t (a);', 'CREATE INDEX CONCURRENTLY x ON (a);']) {
      assert.equal(concurrentIndexOf(statement(sql)), null, sql);
    }
  });

  it('drops a left-over index by its quoted, qualified name', () => {
    assert.equal(dropIndexSql({ schema: 'app', name: 'x"; DROP TABLE t; --' }), 'DROP INDEX CONCURRENTLY IF EXISTS "app"."x""; DROP TABLE t; --"');
  });
});
