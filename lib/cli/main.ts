/**
 * The CLI: parses the command line with yargs, resolves configuration, calls
 * the library, prints results (stdout) and logs (stderr), and maps errors to
 * exit codes. The only module that writes to stdout or decides an exit code.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Argv } from 'yargs';
import { parseDuration, resolveDatabaseUrl, type ResolvedUrl } from '../config.js';
import { describeTarget } from '../db/target.js';
import { urlPassword } from '../db/url.js';
import { ConfigError, EXIT, InterruptedError, PgpairError, UsageError, type ExitCode } from '../errors.js';
import { createLogger, scrubber, type LogLevel } from '../logger.js';
import { PGPAIR_VERSION } from '../meta.js';
import type * as Migrator from '../migrator.js';
import { runJson, runSummary, statusJson, statusText, stepLine } from './output.js';

interface GlobalArgs {
  url?: string;
  dir?: string;
  table?: string;
  json: boolean;
  'log-level'?: string;
  'lock-timeout'?: string;
  'connect-timeout'?: string;
  'env-file'?: string;
  quiet: boolean;
}

interface Io {
  /** Writes to stdout; false: wait for `drain` before writing more. */
  stdout: (text: string | Uint8Array) => boolean | void;
  /** Resolves when stdout takes more, or when it was closed. */
  drain?: () => Promise<void>;
  /** Why stdout can take nothing more (its reader went away: EPIPE), or null. */
  stdoutClosed?: () => string | null;
  /** Output written but not yet taken by the reader (a pager that stopped reading). */
  stdoutPending?: () => number;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
}

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type Invocation = { command: string; argv: Record<string, unknown> & GlobalArgs };

interface OptionSpec {
  type: 'string' | 'boolean' | 'number';
  describe: string;
  default?: boolean;
  alias?: string;
  choices?: readonly string[];
}

interface CommandSpec {
  name: string;
  describe: string;
  positional?: { name: string; required: boolean; describe: string };
  options: Record<string, OptionSpec>;
}

/** The options every command takes. */
const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: 'string', describe: 'database URL: postgres://user:pass@host:port/db, pglite:PATH or pglite:memory (default: DATABASE_URL, then the embedded pglite:.pgpair/dev)' },
  dir: { type: 'string', describe: 'migration directory (default: PGPAIR_DIR, then ./sql)' },
  table: { type: 'string', describe: 'history table, [schema.]name (default: PGPAIR_TABLE, then pgpair_history in the current schema)' },
  'env-file': { type: 'string', describe: 'read DATABASE_URL and PGPAIR_* from this file instead of ./.env' },
  json: { type: 'boolean', default: false, describe: 'print one JSON document on stdout instead of text' },
  'log-level': { type: 'string', choices: LEVELS, describe: 'stderr log level (default info, error with --quiet)' },
  'lock-timeout': { type: 'string', describe: 'how long to wait for another run\'s migration lock (default 60s)' },
  'connect-timeout': { type: 'string', describe: 'how long to wait for a connection (default 10s; 0: no limit)' },
  quiet: { type: 'boolean', alias: 'q', default: false, describe: 'print only errors (and the output of status/verify)' },
};

const RUN_OPTIONS: Record<string, OptionSpec> = {
  'statement-timeout': { type: 'string', describe: 'statement_timeout for migration SQL, e.g. 30s (default: server setting)' },
  'migration-lock-timeout': { type: 'string', describe: 'lock_timeout for migration SQL, e.g. 5s: DDL waiting on a busy table fails fast instead of blocking traffic' },
};

/** `--sql` and `--from` of up, down and stamp: print the psql script instead of running anything. */
const SCRIPT_OPTIONS: Record<string, OptionSpec> = {
  sql: { type: 'boolean', default: false, describe: 'print a psql script (psql -X -v ON_ERROR_STOP=1 -f FILE) that does the same, history included, instead of running anything; the database is only read' },
  from: { type: 'string', describe: 'with --sql: VERSION or base, the state to start from; works from the files alone, without connecting' },
};

const COMMANDS: CommandSpec[] = [
  {
    name: 'up',
    describe: 'apply pending migrations in version order, up to TARGET (a version or head; default head)',
    positional: { name: 'target', required: false, describe: 'version to stop at, or head' },
    options: {
      ...RUN_OPTIONS,
      ...SCRIPT_OPTIONS,
      steps: { type: 'number', describe: 'apply at most N migrations' },
      'allow-out-of-order': { type: 'boolean', default: false, describe: 'also apply pending versions older than the newest applied one' },
    },
  },
  {
    name: 'down',
    describe: 'revert applied migrations newest first until TARGET is current (base reverts all); without TARGET, one step',
    positional: { name: 'target', required: false, describe: 'version to keep (revert everything above it), or base' },
    options: { ...RUN_OPTIONS, ...SCRIPT_OPTIONS, steps: { type: 'number', describe: 'revert at most N migrations' } },
  },
  { name: 'status', describe: 'show every migration: applied, pending, changed, missing or failed; how, when, by whom, how long', options: {} },
  {
    name: 'verify',
    describe: 'exit 0 when files and history agree, 3 otherwise (changed, missing, failed, out of order), listing every problem',
    options: { strict: { type: 'boolean', default: false, describe: 'also fail when a migration is pending' } },
  },
  {
    name: 'stamp',
    describe: 'record the database as being at TARGET without running migration SQL (adopt a database built from schema.sql or another tool)',
    positional: { name: 'target', required: true, describe: 'a version, head or base' },
    options: { ...SCRIPT_OPTIONS },
  },
  {
    name: 'create',
    describe: 'write the next <version>_<slug>.up.sql / .down.sql pair and print both paths',
    positional: { name: 'slug', required: true, describe: 'name of the migration, e.g. add_users' },
    options: {},
  },
  {
    name: 'load',
    describe: 'bootstrap an empty database from the base schema (default <dir>/schema.sql; pg_dump output accepted) and stamp the version it declares',
    positional: { name: 'file', required: false, describe: 'the base schema file (default <dir>/schema.sql)' },
    options: { stamp: { type: 'string', describe: 'version to stamp (default: the file\'s -- pgpair:version N comment); head for all' } },
  },
  {
    name: 'repair',
    describe: 'after a person fixed the database by hand: resolve a failed version (--applied or --reverted), or accept an edited file (--accept)',
    options: {
      applied: { type: 'string', describe: 'VERSION failed or was interrupted, and you finished it by hand: record it as applied' },
      reverted: { type: 'string', describe: 'VERSION failed or was interrupted, and you undid it by hand: remove it from the history' },
      accept: { type: 'string', describe: 'VERSION was edited after it was applied and the edit is harmless: record the current checksums' },
    },
  },
];

/**
 * The common case without yargs: a known command with known options, each
 * given once, in the forms node:util's parseArgs reads exactly as yargs does.
 * Anything else (help, --version, a typo, a missing argument, --no-…, an
 * option given twice, `--`) returns null and goes to yargs, which alone
 * writes help and usage errors. Importing yargs and rendering its help costs
 * ~100 ms of every start (bench/RESULTS.md); a no-op `up` at deploy time
 * should not pay for it. test/unit/cli-args.test.ts holds both parsers to
 * the same result.
 */
export function quickParse(args: readonly string[]): Invocation | null {
  if (args.includes('--')) return null;
  const all: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS };
  for (const command of COMMANDS) Object.assign(all, command.options);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(all)) options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', ...(spec.alias ? { short: spec.alias } : {}) };
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options; strict: true; allowPositionals: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: true, tokens: true });
  } catch {
    return null;
  }
  const [name, ...rest] = parsed.positionals;
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return null;
  if (rest.length > (command.positional ? 1 : 0) || (command.positional?.required && rest.length === 0)) return null;
  const allowed: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...command.options };
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    // yargs reads a lone `-` (and other values that start with one) in its own ways.
    if (token.kind === 'positional' && token.value.startsWith('-')) return null;
    if (token.kind !== 'option') continue;
    if (token.value?.startsWith('-')) return null;
    // A repeated option is an array to yargs; an inline value (--json=false) on a boolean is read differently.
    if (seen.has(token.name) || !(token.name in allowed) || (allowed[token.name]!.type === 'boolean' && token.value !== undefined)) return null;
    seen.add(token.name);
  }
  const argv: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(allowed)) {
    const value = (parsed.values as Record<string, string | boolean | undefined>)[key];
    if (value === undefined) {
      if (spec.default !== undefined) argv[key] = spec.default;
      continue;
    }
    if (spec.choices && !spec.choices.includes(String(value))) return null;
    if (spec.type === 'number') {
      if (!/^\d+$/.test(String(value))) return null;
      argv[key] = Number(value);
    } else argv[key] = value;
  }
  if (command.positional && rest[0] !== undefined) argv[command.positional.name] = rest[0];
  return { command: command.name, argv: argv as Invocation['argv'] };
}

function addOptions(y: Argv, options: Record<string, OptionSpec>): Argv {
  for (const [name, spec] of Object.entries(options)) y = y.option(name, { ...spec });
  return y;
}

async function buildParser(args: string[], record: (inv: Invocation) => void, fail: (message: string) => void, width: number): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  const handler = (command: string) => (argv: Record<string, unknown>) => record({ command, argv: argv as Invocation['argv'] });
  let parser = addOptions(yargs(args), GLOBAL_OPTIONS)
    .scriptName('pgpair')
    .usage('pgpair: PostgreSQL migrations in plain SQL, as NNNN_slug.up.sql / NNNN_slug.down.sql pairs.\n\nUsage: pgpair <command> [options]');
  for (const command of COMMANDS) {
    const p = command.positional;
    parser = parser.command(
      p ? `${command.name} ${p.required ? `<${p.name}>` : `[${p.name}]`}` : command.name,
      command.describe,
      (y) => {
        const withOptions = addOptions(y, command.options);
        return p ? withOptions.positional(p.name, { type: 'string', describe: p.describe }) : withOptions;
      },
      handler(command.name),
    );
  }
  return parser
    .demandCommand(1, 'Name a command: up, down, status, verify, stamp, create, load or repair.')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(PGPAIR_VERSION)
    .epilogue(
      'Exit codes: 0 success; 1 failure at run time (SQL error, connection, lock timeout); 2 usage or configuration error; 3 verification failed; 130/143 ended by SIGINT/SIGTERM.\nDocs: README.md',
    )
    .wrap(width)
    .exitProcess(false)
    .fail((message, error) => {
      fail(message ?? error?.message ?? 'invalid command line');
    });
}

async function loadEnv(argv: GlobalArgs, io: Io): Promise<Record<string, string | undefined>> {
  const path = argv['env-file'] ?? '.env';
  if (argv['env-file'] !== undefined && !existsSync(path)) {
    throw new ConfigError(`--env-file ${path} does not exist.`);
  }
  const fromFile: Record<string, string> = {};
  if (existsSync(path)) {
    // Imported only when there is a file to read.
    const { default: dotenv } = await import('dotenv');
    const result = dotenv.config({ path, processEnv: fromFile, quiet: true, override: true });
    if (result.error) throw new ConfigError(`Cannot read ${path}: ${result.error.message}`);
  }
  // The real environment wins over the file, as with dotenv's default.
  return { ...fromFile, ...io.env };
}

function optionalDuration(value: string | undefined, option: string): number | undefined {
  return value === undefined ? undefined : parseDuration(value, option);
}

/**
 * yargs' reading of the command line: the invocation, or the text of --help /
 * --version (output), or a usage error.
 */
export async function parseWithYargs(args: string[], width = 100): Promise<{ invocation: Invocation | null; usageFailure: string | null; output: string }> {
  let invocation: Invocation | null = null;
  let usageFailure: string | null = null;
  let output = '';
  const parser = await buildParser(
    args,
    (inv) => {
      invocation = inv;
    },
    (message) => {
      usageFailure = message;
    },
    width,
  );
  try {
    await parser.parseAsync(args, {}, (_err, _argv, text) => {
      output = text;
    });
  } catch (error) {
    usageFailure ??= error instanceof Error ? error.message : String(error);
  }
  return { invocation, usageFailure, output };
}

/** The exit code of a run: ExitCode, or 128 + the signal's number when SIGINT (130) or SIGTERM (143) ended it, as shells expect. */
export type CliExitCode = ExitCode | (typeof SIGNAL_EXIT)[keyof typeof SIGNAL_EXIT];

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

export async function main(args: string[], io: Io = defaultIo()): Promise<CliExitCode> {
  const quick = quickParse(args);
  if (quick) return dispatch(quick, io);
  const { invocation, usageFailure, output } = await parseWithYargs(args, Math.min(100, process.stdout.columns ?? 100));
  if (usageFailure !== null) {
    io.stderr(`pgpair: ${usageFailure}\nRun pgpair --help for the commands and options.\n`);
    return EXIT.usage;
  }
  if (!invocation) {
    // --help or --version: yargs produced the text.
    if (output) io.stdout(`${output}\n`);
    return EXIT.ok;
  }
  return dispatch(invocation, io);
}

async function dispatch(invocation: Invocation, io: Io): Promise<CliExitCode> {
  const stop = interruptions(io);
  try {
    const code = await run(invocation, io, stop);
    const closed = io.stdoutClosed?.();
    if (closed && code === EXIT.ok) io.stderr(`pgpair: stdout was closed (${closed}) before all of the output was written; the command itself completed.\n`);
    if (!stop.received) return code;
    if (code === EXIT.ok) io.stderr(`pgpair: ${stop.received} arrived as the command finished; its work is complete, as printed above.\n`);
    // Output that a reader no longer takes would keep the process alive: the signal says stop now.
    if ((io.stdoutPending?.() ?? 0) > 0) process.exit(SIGNAL_EXIT[stop.received]);
    return SIGNAL_EXIT[stop.received];
  } finally {
    stop.dispose();
  }
}

async function run(invocation: Invocation, io: Io, stop: Interruptions): Promise<ExitCode> {
  const { command, argv } = invocation;
  const signal = stop.signal;
  const json = argv.json;
  let secrets: string[] = [];
  let scrub = (text: string) => text;
  const out = (text: string) => io.stdout(scrub(text));
  const err = (text: string) => io.stderr(scrub(text));
  const level = (argv['log-level'] ?? (argv.quiet ? 'error' : 'info')) as LogLevel;
  let logger = createLogger({ level, secrets });
  try {
    const env = await loadEnv(argv, io);
    const pgpair = await import('../migrator.js');
    if (signal.aborted) throw new InterruptedError(String(signal.reason), null, `Interrupted by ${String(signal.reason)} before pgpair ${command} started; nothing was done.`);
    const dir = argv.dir ?? env.PGPAIR_DIR ?? pgpair.DEFAULT_DIR;
    if (command === 'create') {
      const created = await pgpair.create({ dir, slug: String(argv.slug) });
      if (json) out(`${JSON.stringify({ ok: true, ...created })}\n`);
      else out(`${created.up}\n${created.down}\n`);
      return EXIT.ok;
    }
    const scripting = (command === 'up' || command === 'down' || command === 'stamp') && Boolean(argv.sql);
    if (argv.from !== undefined && !scripting) {
      throw new UsageError(`--from only goes with --sql (it names the state a script starts from); run pgpair ${command} --sql --from ${String(argv.from)}.`);
    }
    // Whatever password is configured never appears in any output or log, even where no
    // connection is made (--sql --from).
    const protect = (url: string | undefined) => {
      const password = (url ? urlPassword(url) : null) ?? env.PGPASSWORD ?? null;
      secrets = password ? [password] : [];
      scrub = scrubber(secrets);
      logger = createLogger({ level, secrets });
    };
    if (scripting && argv.from !== undefined) {
      // Files only: no database URL is resolved, so none is needed; a configured one still holds the password.
      protect(argv.url ?? env.DATABASE_URL);
      return await printScript({ command: command as ScriptCommand, argv, env, dir, logger, secrets, json, io, signal });
    }
    const resolved: ResolvedUrl = resolveDatabaseUrl({ url: argv.url, env });
    protect(resolved.url);
    stop.embedded = resolved.url.startsWith('pglite:');
    if (resolved.source === 'embedded default') {
      logger.info(`no DATABASE_URL set: using the embedded development database ${resolved.url} (set DATABASE_URL or --url for a real server)`);
    }
    const base: Migrator.BaseOptions = {
      url: resolved.url,
      dir,
      table: argv.table ?? env.PGPAIR_TABLE ?? pgpair.DEFAULT_TABLE,
      logger,
      connectTimeout: (optionalDuration(argv['connect-timeout'], '--connect-timeout') ?? 10_000) / 1000,
      signal,
    };
    // The server it really goes to (postgres.js fills what a URL leaves out from the PG* variables of the process).
    const database = describeTarget(resolved.url, io.env);
    switch (command) {
      case 'status': {
        const report = await pgpair.status(base);
        const problems = (await import('../status.js')).verifyProblems(report);
        if (json) out(`${JSON.stringify(statusJson(report, { database }), null, 2)}\n`);
        else out(`${statusText(report, database, problems)}\n`);
        return EXIT.ok;
      }
      case 'verify': {
        const result = await pgpair.verify({ ...base, strict: Boolean(argv.strict) });
        if (json) out(`${JSON.stringify({ ok: result.ok, problems: result.problems, current: result.report.current, head: result.report.head }, null, 2)}\n`);
        else if (result.ok) {
          if (!argv.quiet) out(`ok: files and history agree (current ${result.report.current ?? 'base'}, head ${result.report.head ?? 'none'})\n`);
        } else {
          out(`${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}:\n${result.problems.map((p) => `  ${p.message}`).join('\n')}\n`);
        }
        return result.ok ? EXIT.ok : EXIT.verification;
      }
      case 'up':
      case 'down':
      case 'stamp': {
        if (scripting) return await printScript({ command, argv, env, dir, logger, secrets, json, io, signal, url: resolved.url });
        const run: Migrator.RunOptions = {
          ...base,
          lockTimeoutMs: optionalDuration(argv['lock-timeout'], '--lock-timeout') ?? pgpair.DEFAULT_LOCK_TIMEOUT_MS,
          ...(argv['statement-timeout'] !== undefined ? { statementTimeoutMs: parseDuration(String(argv['statement-timeout']), '--statement-timeout') } : {}),
          ...(argv['migration-lock-timeout'] !== undefined
            ? { migrationLockTimeoutMs: parseDuration(String(argv['migration-lock-timeout']), '--migration-lock-timeout') }
            : {}),
          onStep: (step) => {
            if (!json && !argv.quiet) out(`${stepLine(step, command)}\n`);
          },
        };
        const steps = argv.steps === undefined ? undefined : Number(argv.steps);
        if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) throw new UsageError(`--steps must be a whole number of at least 1 (got ${String(argv.steps)}).`);
        const target = argv.target === undefined ? undefined : String(argv.target);
        const result =
          command === 'up'
            ? await pgpair.up({ ...run, ...(target !== undefined ? { target } : {}), ...(steps !== undefined ? { steps } : {}), allowOutOfOrder: Boolean(argv['allow-out-of-order']) })
            : command === 'down'
              ? await pgpair.down({ ...run, ...(target !== undefined ? { target } : {}), ...(steps !== undefined ? { steps } : {}) })
              : await pgpair.stamp({ ...run, target: target! });
        if (json) out(`${JSON.stringify(runJson(result), null, 2)}\n`);
        else if (!argv.quiet) out(`${runSummary(result)}\n`);
        return EXIT.ok;
      }
      case 'load': {
        const { load } = await import('../load.js');
        const result = await load({
          ...base,
          lockTimeoutMs: optionalDuration(argv['lock-timeout'], '--lock-timeout') ?? pgpair.DEFAULT_LOCK_TIMEOUT_MS,
          ...(argv.file !== undefined ? { file: String(argv.file) } : {}),
          ...(argv.stamp !== undefined ? { stamp: String(argv.stamp) } : {}),
        });
        if (json) out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
        else if (!argv.quiet) out(`loaded ${result.file} (${result.statements} statements in ${result.durationMs} ms)\n${result.steps.map((s) => `stamped ${s.version}_${s.name}`).join('\n')}${result.steps.length ? '\n' : ''}now at ${result.to ?? 'base'}\n`);
        return EXIT.ok;
      }
      case 'repair': {
        const result = await pgpair.repair({
          ...base,
          lockTimeoutMs: optionalDuration(argv['lock-timeout'], '--lock-timeout') ?? pgpair.DEFAULT_LOCK_TIMEOUT_MS,
          ...(argv.applied !== undefined ? { applied: String(argv.applied) } : {}),
          ...(argv.reverted !== undefined ? { reverted: String(argv.reverted) } : {}),
          ...(argv.accept !== undefined ? { accept: String(argv.accept) } : {}),
        });
        const said =
          result.action === 'applied'
            ? `recorded ${result.version}_${result.name} as applied (was ${result.before.state})`
            : result.action === 'reverted'
              ? `removed ${result.version}_${result.name} from the history (was ${result.before.state})`
              : `accepted the current files of ${result.version}_${result.name} (checksum was ${result.before.upChecksum.slice(0, 19)}…)`;
        if (json) out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
        else if (!argv.quiet) out(`${said}\n`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`Unknown command ${command}.`);
    }
  } catch (error) {
    return reportError(error, { json, out, err, logger });
  }
}

type ScriptCommand = 'up' | 'down' | 'stamp';

/** The reader of a script went away before it was written whole (`pgpair up --sql | head`). Exit 1. */
class OutputClosedError extends PgpairError {
  constructor(reason: string) {
    super('E_OUTPUT_CLOSED', `stdout was closed (${reason}) before the script was written whole, so what was printed is incomplete; nothing was run. Write it to a file (> script.sql) to keep all of it.`, EXIT.failure);
  }
}

/**
 * `--sql`: prints the script, and only the script, on stdout (or one JSON
 * document with it under --json). The script is written as is, never
 * scrubbed (masking would corrupt it), so it is refused if it would show the
 * database password.
 */
async function printScript(ctx: {
  command: ScriptCommand;
  argv: Invocation['argv'];
  env: Record<string, string | undefined>;
  dir: string;
  logger: ReturnType<typeof createLogger>;
  secrets: string[];
  json: boolean;
  io: Io;
  signal: AbortSignal;
  url?: string;
}): Promise<ExitCode> {
  const { command, argv } = ctx;
  const pgpair = await import('../migrator.js');
  const steps = argv.steps === undefined ? undefined : Number(argv.steps);
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) throw new UsageError(`--steps must be a whole number of at least 1 (got ${String(argv.steps)}).`);
  const target = argv.target === undefined ? undefined : String(argv.target);
  const from = argv.from === undefined ? undefined : String(argv.from);
  const table = argv.table ?? ctx.env.PGPAIR_TABLE ?? pgpair.DEFAULT_TABLE;
  const request = [
    'pgpair',
    command,
    ...(target !== undefined ? [target] : []),
    ...(steps !== undefined ? ['--steps', String(steps)] : []),
    ...(argv['allow-out-of-order'] ? ['--allow-out-of-order'] : []),
    ...(table !== pgpair.DEFAULT_TABLE ? ['--table', table] : []),
    '--sql',
    ...(from !== undefined ? ['--from', from] : []),
  ].join(' ');
  const result = await pgpair.scriptStream({
    command,
    dir: ctx.dir,
    table,
    logger: ctx.logger,
    connectTimeout: (optionalDuration(argv['connect-timeout'], '--connect-timeout') ?? 10_000) / 1000,
    signal: ctx.signal,
    ...(ctx.url !== undefined ? { url: ctx.url } : {}),
    ...(target !== undefined ? { target } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(from !== undefined ? { from } : {}),
    allowOutOfOrder: Boolean(argv['allow-out-of-order']),
    lockTimeoutMs: optionalDuration(argv['lock-timeout'], '--lock-timeout') ?? pgpair.DEFAULT_LOCK_TIMEOUT_MS,
    ...(argv['statement-timeout'] !== undefined ? { statementTimeoutMs: parseDuration(String(argv['statement-timeout']), '--statement-timeout') } : {}),
    ...(argv['migration-lock-timeout'] !== undefined ? { migrationLockTimeoutMs: parseDuration(String(argv['migration-lock-timeout']), '--migration-lock-timeout') } : {}),
    request,
  });
  if (ctx.secrets.length > 0 && (await holdsAny(result.pieces(), ctx.secrets))) {
    throw new ConfigError('The script would show the database password (a migration file holds it), so it is not printed. Move the secret out of the migration files.');
  }
  const { plan } = result;
  // The script is written as it is read: the COPY data of a large file is never held whole.
  // A reader that stops reading (a pager left open) must not keep a signal from ending the run.
  const interrupted = () =>
    new InterruptedError(String(ctx.signal.reason), null, `Interrupted by ${String(ctx.signal.reason)} while printing the script; what was printed is incomplete, and nothing was run.`);
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(interrupted());
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  const write = async (piece: string | Uint8Array) => {
    if (ctx.signal.aborted) throw interrupted();
    if (ctx.io.stdout(piece) === false) await Promise.race([ctx.io.drain?.(), aborted]);
    const closed = ctx.io.stdoutClosed?.();
    if (closed) throw new OutputClosedError(closed);
  };
  if (ctx.json) {
    const steps = plan.steps.map((s) => (s.action === 'unstamp' ? { action: s.action, version: s.row.version, name: s.row.name } : { action: s.action, version: s.migration.version, name: s.migration.slug }));
    // The document around the script, which is its last field: JSON.stringify escapes a string one character at a time.
    const document = JSON.stringify({ ok: true, command: plan.command, from: plan.from, to: plan.to, steps, script: '' }, null, 2);
    const at = document.lastIndexOf('""') + 1;
    await write(document.slice(0, at));
    const decoder = new TextDecoder();
    for await (const piece of result.pieces()) {
      const text = typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true });
      await write(JSON.stringify(text).slice(1, -1));
    }
    await write(`${document.slice(at)}\n`);
  } else {
    for await (const piece of result.pieces()) await write(piece);
  }
  return EXIT.ok;
}

/** Whether any of `secrets` is in the text (UTF-8) that `pieces` make up, also across two pieces. */
async function holdsAny(pieces: AsyncIterable<string | Uint8Array>, secrets: string[]): Promise<boolean> {
  const needles = secrets.map((secret) => Buffer.from(secret));
  const keep = Math.max(0, ...needles.map((needle) => needle.length - 1));
  let tail = Buffer.alloc(0);
  for await (const piece of pieces) {
    const bytes = Buffer.concat([tail, typeof piece === 'string' ? Buffer.from(piece) : piece]);
    if (needles.some((needle) => bytes.includes(needle))) return true;
    tail = Buffer.from(bytes.subarray(bytes.length - Math.min(keep, bytes.length)));
  }
  return false;
}

interface Interruptions {
  /** Aborted by the first SIGINT or SIGTERM, with the signal's name as the reason. */
  signal: AbortSignal;
  /** The first signal that came, if one did. */
  received: 'SIGINT' | 'SIGTERM' | null;
  /** The run uses the embedded database (for the message of a second signal). */
  embedded: boolean;
  dispose: () => void;
}

/**
 * The first SIGINT/SIGTERM aborts the run: every phase (reading files,
 * connecting, waiting for the lock, a statement, printing) gives up promptly,
 * the statement in progress is cancelled on the server and its transaction
 * rolled back, and the run exits 130/143. A second one exits at once.
 */
function interruptions(io: Io): Interruptions {
  const controller = new AbortController();
  const state: Interruptions = {
    signal: controller.signal,
    received: null,
    embedded: false,
    dispose: () => {
      for (const [name, handler] of handlers) process.off(name, handler);
    },
  };
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const handler = () => {
      if (state.received) {
        const after = state.embedded
          ? 'the embedded database rolls back the unfinished transaction when it is next opened, and its lock file is then taken over as stale'
          : 'the server rolls back an open transaction and releases the migration lock when it notices the session is gone (a statement already running may first run to its end)';
        io.stderr(`pgpair: second ${name}, exiting at once without cleaning up; ${after}. Run pgpair status to see where the database stands.\n`);
        process.exit(SIGNAL_EXIT[name]);
      }
      state.received = name;
      controller.abort(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return state;
}

function reportError(
  error: unknown,
  ctx: { json: boolean; out: (t: string) => void; err: (t: string) => void; logger: { debug: (o: object, m: string) => void } },
): ExitCode {
  if (error instanceof PgpairError) {
    if (ctx.json) ctx.out(`${JSON.stringify({ ok: false, error: error.toJSON() }, null, 2)}\n`);
    ctx.err(`error: ${error.message}\n`);
    return error.exitCode;
  }
  // Not one of ours: a bug or an unexpected failure. Say so plainly; the stack only at debug level.
  const message = error instanceof Error ? error.message : String(error);
  ctx.logger.debug({ err: error }, 'unexpected error');
  if (ctx.json) ctx.out(`${JSON.stringify({ ok: false, error: { code: 'E_INTERNAL', message } }, null, 2)}\n`);
  ctx.err(`error: unexpected failure: ${message}\nRun again with --log-level debug for details, and report it if it persists.\n`);
  return EXIT.failure;
}

function defaultIo(): Io {
  let closed: string | null = null;
  // A reader that goes away (EPIPE) must neither crash the run nor leave it waiting for a drain.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    closed ??= error.code ?? error.message;
    process.stdout.emit('drain');
  });
  return {
    stdout: (text) => (closed ? true : process.stdout.write(text)),
    drain: () => (closed ? Promise.resolve() : new Promise((resolve) => process.stdout.once('drain', resolve))),
    stdoutClosed: () => closed,
    stdoutPending: () => process.stdout.writableLength,
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  };
}
