/** Pure: every lint rule's stable id, with its usual severity and what it is about (the README's table says more). */
import type { Severity } from './types.js';

export const RULES: Readonly<Record<string, { severity: Severity; what: string }>> = {
  'index-not-concurrent': { severity: 'error', what: 'CREATE INDEX without CONCURRENTLY on an existing table' },
  'drop-index-not-concurrent': { severity: 'warning', what: 'DROP INDEX without CONCURRENTLY on an existing table' },
  'concurrent-index-pg14-bug': { severity: 'error', what: 'CREATE INDEX / REINDEX CONCURRENTLY on PostgreSQL 14.0-14.3' },
  'add-column-volatile-default': { severity: 'error', what: 'ADD COLUMN with a volatile default (or serial) on an existing table' },
  'add-column-generated': { severity: 'error', what: 'ADD COLUMN … GENERATED … STORED or AS IDENTITY on an existing table' },
  'set-not-null': { severity: 'error', what: 'SET NOT NULL without a validated CHECK (col IS NOT NULL)' },
  'alter-column-type': { severity: 'error', what: 'ALTER COLUMN TYPE that rewrites the table' },
  'foreign-key-not-valid': { severity: 'error', what: 'FOREIGN KEY added without NOT VALID' },
  'check-not-valid': { severity: 'error', what: 'CHECK constraint added without NOT VALID' },
  'validate-in-same-transaction': { severity: 'error', what: 'VALIDATE CONSTRAINT in the transaction that added it NOT VALID' },
  'unique-constraint-without-index': { severity: 'error', what: 'UNIQUE / PRIMARY KEY / EXCLUDE added without USING INDEX' },
  'reindex-not-concurrent': { severity: 'error', what: 'REINDEX without CONCURRENTLY' },
  'detach-partition-not-concurrent': { severity: 'error', what: 'DETACH PARTITION without CONCURRENTLY (a warning before PostgreSQL 14)' },
  'vacuum-full': { severity: 'error', what: 'VACUUM FULL' },
  'table-rewrite': { severity: 'error', what: 'ALTER TABLE … SET LOGGED / UNLOGGED / TABLESPACE / ACCESS METHOD (a copy of the table)' },
  cluster: { severity: 'error', what: 'CLUSTER' },
  'rename-table': { severity: 'error', what: 'ALTER TABLE … RENAME TO' },
  'rename-column': { severity: 'error', what: 'ALTER TABLE … RENAME COLUMN' },
  'drop-table': { severity: 'warning', what: 'DROP TABLE of an existing table' },
  'drop-column': { severity: 'warning', what: 'ALTER TABLE … DROP COLUMN' },
  'multiple-exclusive-locks': { severity: 'warning', what: 'one transaction taking ACCESS EXCLUSIVE on several existing tables' },
  'lint-ignore-without-reason': { severity: 'error', what: 'a -- pgpair:lint-ignore comment without a rule id or a reason' },
  'lint-ignore-unknown-rule': { severity: 'error', what: 'a -- pgpair:lint-ignore comment naming no known rule' },
  'lint-ignore-unused': { severity: 'warning', what: 'a -- pgpair:lint-ignore comment that silenced nothing' },
};
