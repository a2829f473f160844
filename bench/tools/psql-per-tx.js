/**
 * The floor for what a migration tool has to do: psql runs each migration in
 * its own transaction together with one history insert (or delete), on one
 * connection, from a script written in advance. No-op and status are one
 * query on the history table: the least any tool can do to answer them.
 */
import { join } from 'node:path';
import { psql, psqlUnavailable, psqlVersion } from './psql.js';

const HISTORY = 'bench_history';

/** @type {import('./index.js').Tool} */
export default {
  id: 'psql-per-tx',
  label: 'psql, transaction per migration + history row',
  notes: [
    `\`psql -f\` of a script with, per migration, \`BEGIN; <up file>; INSERT INTO ${HISTORY} …; COMMIT;\` (revert: \`BEGIN; <down file>; DELETE …; COMMIT;\`, newest first). psql sends each statement as its own query.`,
    `No-op \`up\` and \`status\` are a single \`psql -c\` reading ${HISTORY}: a floor (one process, one connection, one query), not a real comparison with the files.`,
  ],
  unavailable: psqlUnavailable,
  version: psqlVersion,
  layout: (migrations) => ({
    'all.up.sql': [
      `SET client_min_messages = warning;\nCREATE TABLE IF NOT EXISTS ${HISTORY} (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());\n`,
      ...migrations.map((m) => `BEGIN;\n${m.up}INSERT INTO ${HISTORY} (version) VALUES ('${m.version}');\nCOMMIT;\n`),
    ].join(''),
    'all.down.sql': [...migrations]
      .reverse()
      .map((m) => `BEGIN;\n${m.down}DELETE FROM ${HISTORY} WHERE version = '${m.version}';\nCOMMIT;\n`)
      .join(''),
  }),
  apply: (ctx) => [psql(ctx.target, ['-f', join(ctx.dir, 'all.up.sql')])],
  noop: (ctx) => [psql(ctx.target, ['-At', '-c', `SELECT max(version) FROM ${HISTORY}`])],
  status: (ctx) => [psql(ctx.target, ['-At', '-c', `SELECT version, applied_at FROM ${HISTORY} ORDER BY version`])],
  revert: (ctx) => [psql(ctx.target, ['-f', join(ctx.dir, 'all.down.sql')])],
};
