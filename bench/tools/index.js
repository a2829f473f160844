/**
 * The tools under test, in report order. Each module exports one Tool:
 *
 * @typedef {object} Context  one run of one tool
 * @property {import('../support/db.js').Target} target  its own scratch database
 * @property {string} dir        its corpus, in its own layout
 * @property {string} workDir    a directory with no config files in it (cwd for the tool)
 * @property {number} n          size of the corpus
 *
 * @typedef {object} NotApplicable
 * @property {string} na         why the tool cannot do the scenario
 *
 * @typedef {object} Tool
 * @property {string} id
 * @property {string} label
 * @property {string[]} notes    how it is run and what it does differently (for RESULTS.md)
 * @property {() => Promise<string|null>} unavailable  null when it can run, else why not
 * @property {() => Promise<string>} version
 * @property {(migrations: import('../corpus.js').Migration[]) => Record<string,string>} layout  file name → text
 * @property {(ctx: Context) => import('../support/exec.js').Command[]} apply     apply everything from empty
 * @property {(ctx: Context) => import('../support/exec.js').Command[] | NotApplicable} noop     `up` with nothing pending
 * @property {(ctx: Context) => import('../support/exec.js').Command[] | NotApplicable} status
 * @property {(ctx: Context) => import('../support/exec.js').Command[] | NotApplicable} revert   revert everything
 */
import dbmate from './dbmate.js';
import nodePgMigrate from './node-pg-migrate.js';
import pgpair from './pgpair.js';
import postgrator from './postgrator.js';
import psqlOneTx from './psql-one-tx.js';
import psqlPerTx from './psql-per-tx.js';

/** @type {Tool[]} */
export const TOOLS = [psqlOneTx, psqlPerTx, pgpair, dbmate, postgrator, nodePgMigrate];
