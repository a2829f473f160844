/**
 * The command line: every command, the options each one uses, and the
 * examples its --help shows. Both parsers (the quick one and yargs, in
 * parse.ts) are built from this table, so a command's help lists exactly the
 * options it reads.
 */
import type { LogLevel } from '../run/logger.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  describe: string;
  default?: boolean;
  alias?: string;
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  describe: string;
  /** variadic: the words are joined with spaces (create add comments table). */
  positional?: { name: string; required: boolean; describe: string; variadic?: boolean };
  options: Record<string, OptionSpec>;
  /** [command line, what it does], shown under Examples in `pgpair NAME --help`. */
  examples: [string, string][];
}

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The options every command takes: where the files are, and how output and logs look. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  dir: { type: 'string', describe: 'migration directory (default: PGPAIR_DIR, then ./sql)' },
  'env-file': { type: 'string', describe: 'read DATABASE_URL and PGPAIR_* from this file instead of ./.env' },
  json: { type: 'boolean', default: false, describe: 'print one JSON document on stdout instead of text' },
  'log-level': { type: 'string', choices: LEVELS, describe: 'stderr log level (default info, error with --quiet)' },
  'log-format': { type: 'string', choices: ['pretty', 'json'], describe: 'stderr logs as readable lines or JSON lines (default: PGPAIR_LOG_FORMAT, then pretty on a terminal and when CI is set, json otherwise)' },
  quiet: { type: 'boolean', alias: 'q', default: false, describe: 'print only errors (and the output of status/verify/current/history)' },
};

/** The options of every command that talks to the database. */
const DATABASE_OPTIONS: Record<string, OptionSpec> = {
  url: { type: 'string', describe: 'database URL: postgres://user:pass@host:port/db, pglite:PATH or pglite:memory (default: DATABASE_URL, then the embedded pglite:.pgpair/dev)' },
  table: { type: 'string', describe: 'history table, [schema.]name (default: PGPAIR_TABLE, then pgpair_history in the current schema)' },
  'connect-timeout': { type: 'string', describe: 'how long to wait for a connection (default 10s, at most 1h)' },
};

/** The options of the commands that change the database and so take the migration lock. */
const LOCKING_OPTIONS: Record<string, OptionSpec> = {
  ...DATABASE_OPTIONS,
  'lock-timeout': { type: 'string', describe: 'how long to wait for another run\'s migration lock (default 60s, at most 24h; 0: do not wait)' },
};

const RUN_OPTIONS: Record<string, OptionSpec> = {
  'statement-timeout': { type: 'string', describe: 'statement_timeout for migration SQL, e.g. 30s (default: server setting; at most 24h)' },
  'migration-lock-timeout': { type: 'string', describe: 'lock_timeout for migration SQL, e.g. 5s: DDL waiting on a busy table fails fast instead of blocking traffic (default 5s, at most 24h; 0: off)' },
  // Lock retries (issue 15).
  'lock-retries': { type: 'string', describe: 'how often a migration that hit the lock timeout or a deadlock is retried, after a backoff doubling from 1s (default 5; 0: never)' },
};

/** For the commands that may create the history table. */
const CREATE_SCHEMA_OPTION: Record<string, OptionSpec> = {
  'create-schema': { type: 'boolean', default: false, describe: 'create the schema of --table schema.name when it does not exist (with the history table, in one transaction)' },
};

/** `--sql` and `--from` of up, down and stamp: print the psql script instead of running anything. */
const SCRIPT_OPTIONS: Record<string, OptionSpec> = {
  sql: { type: 'boolean', default: false, describe: 'print a psql script (psql -X -v ON_ERROR_STOP=1 -f FILE) that does the same, history included, instead of running anything; the database is only read' },
  from: { type: 'string', describe: 'with --sql: VERSION or base, the state to start from; works from the files alone, without connecting' },
};

/** `lint` and `up --lint` (lib/cli/commands/lint.ts, lib/run/lint.ts). */
const LINT_MIN_ROWS: OptionSpec = { type: 'string', describe: 'tables with fewer estimated rows (pg_class.reltuples) count as small: the lock and rewrite rules stay quiet on them (default 0: none)' };
/** Fleets (lib/run/fleet.ts): several targets, for up, down, status, verify and stamp. --url may be repeated too. */
const FLEET_OPTIONS: Record<string, OptionSpec> = {
  targets: { type: 'string', describe: 'run on every database listed in FILE, one URL per line (# comments; postgres://…/db?schema=NAME for a schema); default: PGPAIR_TARGETS' },
  schemas: { type: 'string', describe: "run on every schema of the --url database whose name matches this glob (* any characters, ? one), e.g. 'tenant_*'" },
  parallel: { type: 'string', describe: 'with several targets: how many run at a time, each on one connection (default 4)' },
  canary: { type: 'string', describe: 'with several targets: run the first N alone, one at a time, and stop when one fails' },
  'keep-going': { type: 'boolean', default: false, describe: 'with several targets: go on after a target fails (default: start no new target after a failure)' },
};

export const COMMANDS: CommandSpec[] = [
  {
    name: 'up',
    describe: 'apply pending migrations in version order, up to TARGET (a version, head, or +N steps; default head)',
    positional: { name: 'target', required: false, describe: 'version to stop at, head, or +N (that many pending migrations)' },
    options: {
      ...LOCKING_OPTIONS,
      ...RUN_OPTIONS,
      ...SCRIPT_OPTIONS,
      ...CREATE_SCHEMA_OPTION,
      ...FLEET_OPTIONS,
      steps: { type: 'string', describe: 'apply at most N migrations' },
      'allow-out-of-order': { type: 'boolean', default: false, describe: 'also apply pending versions older than the newest applied one' },
      lint: { type: 'string', choices: ['off', 'warn', 'error'], describe: 'lint the migrations about to run first: warn logs the findings (default), error refuses to start while an error-level finding remains (exit 3), off skips it' },
      'min-rows': LINT_MIN_ROWS,
    },
    examples: [
      ['pgpair up', 'apply every pending migration (upgrade head)'],
      ['pgpair up +1', 'apply the next pending migration only'],
      ['pgpair up --sql > release.sql', 'write the psql script of the same run for a DBA, without running it'],
      ["pgpair up --url postgres://db/app --schemas 'tenant_*' --canary 1", 'every tenant schema, the first one alone'],
    ],
  },
  {
    name: 'down',
    describe: 'revert applied migrations newest first until TARGET is current (base reverts all; -N reverts N); without TARGET, one step',
    positional: { name: 'target', required: false, describe: 'version to keep (revert everything above it), base, or -N (that many applied migrations)' },
    options: { ...LOCKING_OPTIONS, ...RUN_OPTIONS, ...SCRIPT_OPTIONS, ...FLEET_OPTIONS, steps: { type: 'string', describe: 'revert at most N migrations' } },
    examples: [
      ['pgpair down', 'revert the newest applied migration'],
      ['pgpair down -2', 'revert the two newest applied migrations'],
      ['pgpair down base', 'revert everything'],
    ],
  },
  {
    name: 'status',
    describe: 'show every migration: applied, pending, changed, missing or failed; how, when, by whom, how long',
    options: { ...DATABASE_OPTIONS, ...FLEET_OPTIONS },
    examples: [
      ['pgpair status', 'the table of every migration and the database it describes'],
      ['pgpair status --json', 'the same as one JSON document'],
    ],
  },
  {
    name: 'current',
    describe: 'print the current version, one line (base when nothing is applied), for scripts',
    options: { ...DATABASE_OPTIONS },
    examples: [
      ['pgpair current', 'e.g. 0003'],
      ['echo "deployed at $(pgpair current)"', 'in a script: the output is the version and nothing else'],
    ],
  },
  {
    name: 'history',
    describe: 'show the append-only log of every change, newest first: when, who, what, how long, failures',
    options: {
      ...DATABASE_OPTIONS,
      limit: { type: 'string', describe: 'show the newest N entries (default 50)' },
    },
    examples: [
      ['pgpair history', 'the 50 newest entries'],
      ['pgpair history --limit 5 --json', 'the 5 newest, as JSON'],
    ],
  },
  {
    name: 'verify',
    describe: 'exit 0 when files and history agree, 3 otherwise (changed, missing, failed, out of order), listing every problem',
    options: {
      ...DATABASE_OPTIONS,
      ...FLEET_OPTIONS,
      strict: { type: 'boolean', default: false, describe: 'also fail when a migration is pending' },
      schema: { type: 'boolean', default: false, describe: "also build the recorded migrations on a scratch database (on the same server, or embedded) and list every difference from the live schema (hand edits)" },
    },
    examples: [
      ['pgpair verify', 'in CI before a deploy: exit 3 lists what disagrees'],
      ['pgpair verify --strict', 'also fail when something is not applied yet'],
      ['pgpair verify --schema', 'also find what was changed by hand: an index added, a column altered, a function replaced'],
    ],
  },
  {
    name: 'stamp',
    describe: 'record the database as being at TARGET without running migration SQL (adopt a database built from schema.sql or another tool)',
    positional: { name: 'target', required: true, describe: 'a version, head or base' },
    options: { ...LOCKING_OPTIONS, ...SCRIPT_OPTIONS, ...CREATE_SCHEMA_OPTION, ...FLEET_OPTIONS },
    examples: [
      ['psql -f sql/schema.sql && pgpair stamp head', 'adopt a database built from the base schema'],
      ['pgpair stamp 0002', 'record 0002 as current without running any down file'],
    ],
  },
  {
    name: 'create',
    describe: 'write the next <version>_<slug>.up.sql / .down.sql pair and print both paths',
    positional: { name: 'slug', required: true, variadic: true, describe: 'name of the migration, e.g. add_users or "add users" (spaces become _)' },
    options: {
      timestamp: { type: 'boolean', default: false, describe: 'version the pair by the time, YYYYMMDDHHMMSS (UTC), so two branches never pick the same number (default: PGPAIR_VERSIONS, then the style of the newest file)' },
    },
    examples: [
      ['pgpair create "add comments table"', 'writes sql/0004_add_comments_table.up.sql and .down.sql'],
      ['pgpair create add_index --timestamp', 'writes sql/20261203091500_add_index.up.sql and .down.sql'],
    ],
  },
  {
    name: 'load',
    describe: 'bootstrap an empty database from the base schema (default <dir>/schema.sql; pg_dump output accepted) and stamp the version it declares',
    positional: { name: 'file', required: false, describe: 'the base schema file (default <dir>/schema.sql)' },
    options: { ...LOCKING_OPTIONS, ...CREATE_SCHEMA_OPTION, stamp: { type: 'string', describe: 'version to stamp (default: the file\'s -- pgpair:version N comment); head for all' } },
    examples: [
      ['pgpair load', 'load sql/schema.sql and stamp the version it declares'],
      ['pg_dump -s prod > base.sql && pgpair load base.sql --stamp head', 'start from a dump of production'],
    ],
  },
  {
    name: 'repair',
    describe: 'after a person fixed the database by hand: resolve a failed version (--applied or --reverted), or accept an edited file (--accept)',
    options: {
      ...LOCKING_OPTIONS,
      applied: { type: 'string', describe: 'VERSION failed or was interrupted, and you finished it by hand: record it as applied' },
      reverted: { type: 'string', describe: 'VERSION failed or was interrupted, and you undid it by hand: remove it from the history' },
      accept: { type: 'string', describe: 'VERSION was edited after it was applied and the edit is harmless: record the current checksums' },
    },
    examples: [
      ['pgpair repair --reverted 0005', 'you undid what a failed 0005 did; pgpair up runs it again'],
      ['pgpair repair --accept 0003', 'a comment changed in an applied file: record its new checksum'],
    ],
  },
  // pgpair test (lib/cli/commands/test.ts): every down file proven on a scratch database.
  {
    name: 'test',
    describe: 'run every migration up, down and up again on a scratch database, one step at a time, comparing schema fingerprints; exit 3 when a down does not undo its up',
    options: {
      url: { type: 'string', describe: 'a PostgreSQL server to make the scratch database on (default: PGPAIR_TEST_URL, then an embedded PGlite in memory); never DATABASE_URL' },
      table: DATABASE_OPTIONS.table!,
      'connect-timeout': DATABASE_OPTIONS['connect-timeout']!,
      from: { type: 'string', describe: 'VERSION or base: apply the migrations up to VERSION once as setup and test only those above it (what a pull request adds)' },
      targets: { type: 'string', describe: 'test on a scratch database of every server listed in FILE, one URL per line (# comments); --url may be repeated instead' },
      parallel: { type: 'string', describe: 'with several servers: how many are tested at a time (default 4)' },
    },
    examples: [
      ['pgpair test', 'test every migration on an embedded scratch database'],
      ['pgpair test --url postgres://ci@pg15/postgres --url postgres://ci@pg18/postgres', 'the same test on PostgreSQL 15 and 18; exit 3 when a down fails on either'],
      ['pgpair test --url postgres://localhost/postgres --from 0012', 'test what comes after 0012 on a scratch database on that server'],
    ],
  },
  {
    name: 'lint',
    describe: 'check the pending migrations for statements that lock busy tables or break running code; exit 3 on an error-level finding. Offline without a configured database',
    options: {
      url: { type: 'string', describe: 'database to read the server version, history and table sizes from (default: DATABASE_URL; with neither, lint works offline and never uses the embedded database)' },
      table: DATABASE_OPTIONS.table!,
      'connect-timeout': DATABASE_OPTIONS['connect-timeout']!,
      'server-version': { type: 'string', describe: 'offline: the PostgreSQL version the migrations will run on, e.g. 15 or 14.2 (default 12, the oldest supported)' },
      'min-rows': LINT_MIN_ROWS,
      all: { type: 'boolean', default: false, describe: 'lint every file, not only the pending ones' },
      from: { type: 'string', describe: 'offline: VERSION or base the database is at; the later files are linted together as one run (default: each file as if all before it were applied)' },
      format: { type: 'string', choices: ['human', 'json', 'github'], describe: 'human (default), json (same as --json) or github (workflow annotations ::error file=…)' },
    },
    examples: [
      ['pgpair lint', 'offline: every file, each against a database where the earlier ones are applied'],
      ['pgpair lint --url "$DATABASE_URL" --min-rows 10000', 'the pending migrations, knowing the server and which tables are big'],
      ['pgpair lint --format github --server-version 15', 'in a GitHub workflow: findings as annotations on the pull request'],
    ],
  },
  {
    name: 'wait',
    describe: 'wait until the database accepts connections, then exit 0 (for compose files and CI); exit 1 naming the last error after --timeout',
    options: {
      url: DATABASE_OPTIONS.url!,
      'connect-timeout': DATABASE_OPTIONS['connect-timeout']!,
      timeout: { type: 'string', describe: 'how long to keep trying (default 60s, at most 24h; 0: try once)' },
    },
    examples: [
      ['pgpair wait && pgpair up', 'in a compose file or CI job: migrate once the server is up'],
      ['pgpair wait --timeout 2min', 'give a slow server two minutes'],
    ],
  },
  // Test templates (lib/run/template.ts, lib/cli/commands/template.ts).
  {
    name: 'template',
    describe: 'build (once) the template database of this migration set at head and print its name, for test suites that clone it (CREATE DATABASE … TEMPLATE); --clean drops this directory\'s templates',
    options: {
      ...DATABASE_OPTIONS,
      ...CREATE_SCHEMA_OPTION,
      clean: { type: 'boolean', default: false, describe: 'drop every template of this directory and history table instead, and the test databases cloned from them that were never dropped (and print their names)' },
    },
    examples: [
      ['createdb -T "$(pgpair template)" test_1', 'a fresh database at head, in milliseconds'],
      ['pgpair template --clean', 'drop the templates of this directory, e.g. in a teardown'],
    ],
  },
];

/** The options a command reads: the global ones and its own. */
export function optionsOf(command: CommandSpec): Record<string, OptionSpec> {
  return { ...GLOBAL_OPTIONS, ...command.options };
}

/** Every option of any command, by name: what the parsers know of before they know the command. */
export const ALL_OPTIONS: Record<string, OptionSpec> = Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options));
