/**
 * The floor: psql runs every migration in one transaction and records
 * nothing. No tool that keeps history and commits per migration can beat it.
 */
import { join } from 'node:path';
import { psql, psqlUnavailable, psqlVersion } from './psql.js';

const NO_HISTORY = { na: 'keeps no history, so it cannot tell what is applied' };

/** @type {import('./index.js').Tool} */
export default {
  id: 'psql-1tx',
  label: 'psql, one transaction (floor)',
  notes: ['`psql -1 -f all.up.sql`: every up file concatenated, one transaction, no history table; revert runs every down file, newest first, in one transaction.'],
  unavailable: psqlUnavailable,
  version: psqlVersion,
  layout: (migrations) => ({
    'all.up.sql': migrations.map((m) => m.up).join(''),
    'all.down.sql': [...migrations].reverse().map((m) => m.down).join(''),
  }),
  apply: (ctx) => [psql(ctx.target, ['-1', '-f', join(ctx.dir, 'all.up.sql')])],
  noop: () => NO_HISTORY,
  status: () => NO_HISTORY,
  revert: (ctx) => [psql(ctx.target, ['-1', '-f', join(ctx.dir, 'all.down.sql')])],
};
