/**
 * The CLI: parses the command line with yargs, resolves configuration, calls
 * the library, prints results (stdout) and logs (stderr), and maps errors to
 * exit codes. The only module that writes to stdout or decides an exit code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Argv } from 'yargs';
import { dotenvTruncation, resolveDatabaseUrl, type ResolvedUrl } from '../run/config.js';
import { describeTarget } from '../db/target.js';
import { urlPassword } from '../db/url.js';
import { ConfigError, EXIT, InterruptedError, PgpairError, UsageError, type ExitCode } from '../core/errors.js';
import { createLogger, type LogLevel } from '../run/logger.js';
import { escapeControls, maskedJson, maskSecrets, showsPassword, showsPasswordWindow } from '../core/mask.js';
import { PGPAIR_VERSION } from '../core/meta.js';
import type * as Migrator from '../run/migrator.js';
import { commandOptions, logFormat, type CommandOptions } from './options.js';
import { describeDatabase, problemLines, runJson, runSummary, statusJson, statusText, stepLine } from './output.js';
import { COMMANDS, commandWord, dashValueMessage, GLOBAL_OPTIONS, nearDatabaseUrl, optionsOf, unknownCommandMessage, type OptionSpec } from './spec.js';

interface GlobalArgs {
  url?: string;
  dir?: string;
  table?: string;
  json: boolean;
  'log-level'?: string;
  'lock-timeout'?: string;
  'connect-timeout'?: string;
  'env-file'?: string;
  'log-format'?: string;
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

export type Invocation = { command: string; argv: Record<string, unknown> & GlobalArgs };

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
  if (rest.length > (command.positional ? (command.positional.variadic ? Infinity : 1) : 0) || (command.positional?.required && rest.length === 0)) return null;
  const allowed: Record<string, OptionSpec> = optionsOf(command);
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
  if (command.positional && rest[0] !== undefined) argv[command.positional.name] = command.positional.variadic ? rest : rest[0];
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
      p ? `${command.name} ${p.required ? `<${p.name}${p.variadic ? '..' : ''}>` : `[${p.name}${p.variadic ? '..' : ''}]`}` : command.name,
      command.describe,
      (y) => {
        let withOptions = addOptions(y, command.options);
        for (const [line, what] of command.examples) withOptions = withOptions.example(line, what);
        return p ? withOptions.positional(p.name, { type: 'string', describe: p.describe }) : withOptions;
      },
      handler(command.name),
    );
  }
  return parser
    .example('pgpair create "add users table"', 'write sql/0001_add_users_table.up.sql and .down.sql')
    .example('pgpair up', 'apply every pending migration; the last line names the database')
    .example('pgpair status', 'what is applied, pending or changed')
    .demandCommand(1, `Name a command: ${COMMANDS.map((c) => c.name).join(', ')}.`)
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(PGPAIR_VERSION)
    .epilogue(
      'pgpair COMMAND --help shows the options and examples of one command.\nExit codes: 0 success; 1 failure at run time (SQL error, connection, lock timeout); 2 usage or configuration error; 3 verification failed; 130/143 ended by SIGINT/SIGTERM.\nDocs: README.md',
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
    // A value dotenv cut at an unquoted #, where it is the one in effect (the environment wins).
    const cut = dotenvTruncation(path, readFileSync(path, 'utf8'), (key) => io.env[key] === undefined && /^(DATABASE_URL|PG\w+)$/.test(key));
    if (cut) throw cut;
  }
  // The real environment wins over the file, as with dotenv's default.
  return { ...fromFile, ...io.env };
}

/**
 * yargs' reading of the command line: the invocation, or the text of --help /
 * --version (output), or a usage error.
 */
export async function parseWithYargs(args: string[], width = 100): Promise<{ invocation: Invocation | null; usageFailure: string | null; output: string }> {
  const word = commandWord(args);
  const unknown = (word === undefined ? null : unknownCommandMessage(word)) ?? dashValueMessage(args);
  if (unknown !== null) return { invocation: null, usageFailure: unknown, output: '' };
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
    // yargs echoes the values it refuses (a URL given where a level goes): masked, controls escaped.
    // A libpq string given unquoted reaches yargs as several arguments.
    const split = /Unknown argument/.test(usageFailure) && args.some((arg) => /^[A-Za-z_]\w*=/.test(arg));
    const hint = split ? "A key=value connection string is one argument: quote it, e.g. --url 'host=db dbname=app user=me'.\n" : '';
    io.stderr(escapeControls(maskSecrets(`pgpair: ${usageFailure}\n${hint}Run pgpair --help for the commands and options.\n`, givenPasswords(args, io.env))));
    return EXIT.usage;
  }
  if (!invocation) {
    // --help or --version: yargs produced the text.
    if (output) io.stdout(`${output}\n`);
    return EXIT.ok;
  }
  return dispatch(invocation, io);
}

/**
 * The passwords a command line and environment hold (--url, DATABASE_URL, PGPASSWORD), for the
 * output written before the URL is resolved: a usage error that echoes them.
 */
function givenPasswords(args: readonly unknown[], env: Record<string, string | undefined>): string[] {
  const urls = [env.DATABASE_URL];
  args.forEach((arg, index) => {
    if (arg === '--url') urls.push(String(args[index + 1] ?? ''));
    else if (typeof arg === 'string' && arg.startsWith('--url=')) urls.push(arg.slice('--url='.length));
  });
  const found = urls.map((url) => (url ? urlPassword(url) : null));
  return [...new Set([...found, env.PGPASSWORD].filter((p): p is string => Boolean(p)))];
}

/**
 * Everything the CLI writes passes through here. Human text: credentials masked (lib/mask.ts)
 * and control characters escaped, so that a name from a file or the database cannot drive the
 * terminal. A JSON document (under --json) is parsed and written again with its string values
 * masked, so that it always parses and keeps every other value; JSON escaping shows controls.
 */
function presenter(passwords: () => readonly string[]): { text: (text: string) => string; json: (text: string) => string } {
  const text = (value: string) => escapeControls(maskSecrets(value, passwords()));
  return {
    text,
    json: (value) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        return text(value);
      }
      return `${maskedJson(parsed, passwords(), /^[[{]\n/.test(value) ? 2 : undefined)}${value.endsWith('\n') ? '\n' : ''}`;
    },
  };
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
  // --url given twice is an array to yargs.
  let secrets: string[] = givenPasswords([argv.url as unknown].flat().flatMap((url) => (url === undefined ? [] : ['--url', url])), io.env);
  const present = presenter(() => secrets);
  const out = (text: string) => io.stdout(json ? present.json(text) : present.text(text));
  const err = (text: string) => io.stderr(present.text(text));
  const level = (argv['log-level'] ?? (argv.quiet ? 'error' : 'info')) as LogLevel;
  let pretty: boolean | undefined;
  let logger = createLogger({ level, secrets });
  try {
    const spec = COMMANDS.find((c) => c.name === command);
    if (!spec) throw new UsageError(`Unknown command ${command}.`);
    // Every option is checked before anything is read or connected.
    const opts = commandOptions(argv, Object.entries(optionsOf(spec)).filter(([, o]) => o.type !== 'boolean').map(([name]) => name));
    const env = await loadEnv(argv, io);
    pretty = logFormat(argv['log-format'], env, process.stderr.isTTY === true) === 'pretty';
    logger = createLogger({ level, secrets, pretty });
    const pgpair = await import('../run/migrator.js');
    if (signal.aborted) throw new InterruptedError(String(signal.reason), null, `Interrupted by ${String(signal.reason)} before pgpair ${command} started; nothing was done.`);
    const dir = argv.dir ?? env.PGPAIR_DIR ?? pgpair.DEFAULT_DIR;
    if (command === 'create') {
      const created = await (await import('./commands/create.js')).createCommand({ dir, slug: argv.slug, timestamp: argv.timestamp, env });
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
      const passwords = [url ? urlPassword(url) : null, env.PGPASSWORD];
      secrets = [...new Set([...secrets, ...passwords.filter((p): p is string => Boolean(p))])];
      logger = createLogger({ level, secrets, ...(pretty !== undefined ? { pretty } : {}) });
    };
    if (scripting && argv.from !== undefined) {
      // Files only: no database URL is resolved, so none is needed; a configured one still holds the password.
      for (const url of [argv.url as unknown].flat()) protect(typeof url === 'string' ? url : undefined);
      protect(env.DATABASE_URL);
      return await printScript({ command: command as ScriptCommand, argv, opts, env, dir, logger, secrets, json, io, signal });
    }
    // The given URL's password first: a malformed one is refused with it masked.
    for (const url of [argv.url as unknown].flat()) protect(typeof url === 'string' ? url : undefined);
    protect(env.DATABASE_URL);
    const resolved: ResolvedUrl = resolveDatabaseUrl({ url: argv.url, env });
    if (command === 'wait' && resolved.source === 'embedded default') {
      // Waiting is for a server: with nothing configured, a compose file or CI job forgot DATABASE_URL.
      throw new ConfigError(`pgpair wait waits for a database server, but no DATABASE_URL is set (nor --url). Set DATABASE_URL=postgres://user:password@host:5432/dbname, or pass --url.${nearDatabaseUrl(env).map((name) => ` ${name} is set: did you mean DATABASE_URL?`).join('')}`);
    }
    protect(resolved.url);
    stop.embedded = resolved.url.startsWith('pglite:');
    // On a terminal, where stdout and stderr share the screen, a result line that names the database says it already.
    const resultSaysWhere = !json && !argv.quiet && !scripting && ['status', 'up', 'down', 'stamp', 'load', 'repair'].includes(command);
    const sameScreen = process.stdout.isTTY === true && process.stderr.isTTY === true;
    if (resolved.source === 'embedded default' && !(resultSaysWhere && sameScreen)) {
      logger.info(`no DATABASE_URL set: using the embedded development database ${resolved.url} (set DATABASE_URL or --url for a real server)`);
      for (const name of nearDatabaseUrl(env)) logger.warn(`${name} is set, but pgpair reads DATABASE_URL: did you mean DATABASE_URL?`);
    }
    const base: Migrator.BaseOptions = {
      url: resolved.url,
      dir,
      table: argv.table ?? env.PGPAIR_TABLE ?? pgpair.DEFAULT_TABLE,
      logger,
      connectTimeout: (opts.connectTimeoutMs ?? 10_000) / 1000,
      signal,
    };
    // The server it really goes to (postgres.js fills what a URL leaves out from the PG* variables of the process).
    const database = describeTarget(resolved.url, io.env);
    /** Where a change went, for the result line: the server without the password, or the embedded database and how to choose another. */
    const where = describeDatabase(resolved, io.env);
    const lockTimeoutMs = opts.lockTimeoutMs ?? pgpair.DEFAULT_LOCK_TIMEOUT_MS;
    switch (command) {
      case 'status': {
        const report = await pgpair.status(base);
        const problems = (await import('../core/status.js')).verifyProblems(report);
        if (json) out(`${JSON.stringify(statusJson(report, { database }), null, 2)}\n`);
        else out(`${statusText(report, where, problems)}\n`);
        return EXIT.ok;
      }
      case 'current':
        return await (await import('./commands/current.js')).currentCommand({ base, json, out });
      case 'history':
        return await (await import('./commands/history.js')).historyCommand({ base, json, out, limit: opts.limit, where });
      case 'wait':
        return await (await import('./commands/wait.js')).waitCommand({ url: resolved.url, where, json, quiet: argv.quiet, out, logger, connectTimeoutMs: opts.connectTimeoutMs, timeoutMs: opts.timeoutMs, signal });
      case 'verify': {
        const result = await pgpair.verify({ ...base, strict: Boolean(argv.strict) });
        if (json) out(`${JSON.stringify({ ok: result.ok, problems: result.problems, warnings: result.warnings, current: result.report.current, head: result.report.head }, null, 2)}\n`);
        else if (result.ok) {
          if (!argv.quiet) out(`ok: files and history agree (current ${result.report.current ?? 'base'}, head ${result.report.head ?? 'none'})\n`);
        } else {
          out(`${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}:\n${problemLines(result.problems)}\n`);
        }
        const warned = result.warnings.length;
        if (!json && warned > 0) out(`${warned} warning${warned === 1 ? '' : 's'} (pgpair verify --strict fails on ${warned === 1 ? 'it' : 'them'}):\n${problemLines(result.warnings)}\n`);
        return result.ok ? EXIT.ok : EXIT.verification;
      }
      case 'up':
      case 'down':
      case 'stamp': {
        if (scripting) return await printScript({ command, argv, opts, env, dir, logger, secrets, json, io, signal, url: resolved.url });
        const run: Migrator.RunOptions = {
          ...base,
          lockTimeoutMs,
          ...(opts.statementTimeoutMs !== undefined ? { statementTimeoutMs: opts.statementTimeoutMs } : {}),
          ...(opts.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: opts.migrationLockTimeoutMs } : {}),
          onStep: (step) => {
            if (!json && !argv.quiet) out(`${stepLine(step, command)}\n`);
          },
          ...(argv['create-schema'] ? { createSchema: true } : {}),
        };
        const { steps, target } = opts;
        const result =
          command === 'up'
            ? await pgpair.up({ ...run, ...(target !== undefined ? { target } : {}), ...(steps !== undefined ? { steps } : {}), allowOutOfOrder: Boolean(argv['allow-out-of-order']) })
            : command === 'down'
              ? await pgpair.down({ ...run, ...(target !== undefined ? { target } : {}), ...(steps !== undefined ? { steps } : {}) })
              : await pgpair.stamp({ ...run, target: target! });
        if (json) out(`${JSON.stringify(runJson(result), null, 2)}\n`);
        else if (!argv.quiet) out(`${runSummary(result, where)}\n`);
        return EXIT.ok;
      }
      case 'load': {
        const { load } = await import('../run/load.js');
        const result = await load({
          ...base,
          lockTimeoutMs,
          ...(argv.file !== undefined ? { file: String(argv.file) } : {}),
          ...(argv.stamp !== undefined ? { stamp: String(argv.stamp) } : {}),
          ...(argv['create-schema'] ? { createSchema: true } : {}),
        });
        if (json) out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
        else if (!argv.quiet) out(`loaded ${result.file} (${result.statements} statements in ${result.durationMs} ms)\n${result.adopted ? `adopted the history it holds (${result.adopted.length} version${result.adopted.length === 1 ? '' : 's'} recorded)\n` : ''}${result.steps.map((s) => `stamped ${s.version}_${s.name}`).join('\n')}${result.steps.length ? '\n' : ''}now at ${result.to ?? 'base'} on ${where}\n`);
        return EXIT.ok;
      }
      case 'repair': {
        const result = await pgpair.repair({
          ...base,
          lockTimeoutMs,
          ...(argv.applied !== undefined ? { applied: String(argv.applied) } : {}),
          ...(argv.reverted !== undefined ? { reverted: String(argv.reverted) } : {}),
          ...(argv.accept !== undefined ? { accept: String(argv.accept) } : {}),
        });
        const said =
          result.action === 'applied'
            ? `recorded ${result.version}_${result.name} as applied (was ${result.before.state})`
            : result.action === 'reverted'
              ? `removed ${result.version}_${result.name} from the history (was ${result.before.state})`
              : result.before.name !== result.name
                ? `recorded ${result.version}_${result.name} as the new name of ${result.version}_${result.before.name} (same SQL, checksum ${result.before.upChecksum.slice(0, 19)}…)`
                : `accepted the current files of ${result.version}_${result.name} (checksum was ${result.before.upChecksum.slice(0, 19)}…)`;
        if (json) out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
        else if (!argv.quiet) out(`${said} on ${where}\n`);
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
  opts: CommandOptions;
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
  const pgpair = await import('../run/migrator.js');
  const { steps, target } = ctx.opts;
  const from = argv.from === undefined ? undefined : String(argv.from);
  const table = argv.table ?? ctx.env.PGPAIR_TABLE ?? pgpair.DEFAULT_TABLE;
  const request = [
    'pgpair',
    command,
    ...(target !== undefined ? [target] : []),
    ...(steps !== undefined ? ['--steps', String(steps)] : []),
    ...(argv['allow-out-of-order'] ? ['--allow-out-of-order'] : []),
    ...(table !== pgpair.DEFAULT_TABLE ? ['--table', table] : []),
    ...(argv['create-schema'] ? ['--create-schema'] : []),
    '--sql',
    ...(from !== undefined ? ['--from', from] : []),
  ].join(' ');
  const result = await pgpair.scriptStream({
    command,
    dir: ctx.dir,
    table,
    logger: ctx.logger,
    connectTimeout: (ctx.opts.connectTimeoutMs ?? 10_000) / 1000,
    signal: ctx.signal,
    ...(ctx.url !== undefined ? { url: ctx.url } : {}),
    ...(target !== undefined ? { target } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(from !== undefined ? { from } : {}),
    allowOutOfOrder: Boolean(argv['allow-out-of-order']),
    lockTimeoutMs: ctx.opts.lockTimeoutMs ?? pgpair.DEFAULT_LOCK_TIMEOUT_MS,
    ...(argv['create-schema'] ? { createSchema: true } : {}),
    ...(ctx.opts.statementTimeoutMs !== undefined ? { statementTimeoutMs: ctx.opts.statementTimeoutMs } : {}),
    ...(ctx.opts.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: ctx.opts.migrationLockTimeoutMs } : {}),
    request,
  });
  if (ctx.secrets.length > 0 && (await showsAny(result.pieces(), ctx.secrets))) {
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
    const steps = plan.steps.map((s) => (s.action === 'unstamp' ? { action: s.action, version: s.row.version, name: s.row.name } : { action: s.action, version: s.migration.version, name: s.migration.name }));
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

/**
 * Whether the text that `pieces` make up shows one of the passwords as the output scrubber would
 * mask it (showsPassword: as a credential, or a distinctive one anywhere), also across two
 * pieces. The script is printed as written, so it is refused instead: a common-word password
 * (`postgres`) in a migration's text is not the password shown, and does not refuse it.
 */
async function showsAny(pieces: AsyncIterable<string | Uint8Array>, passwords: string[]): Promise<boolean> {
  const keep = Math.max(...passwords.map(showsPasswordWindow));
  const decoder = new TextDecoder();
  let tail = '';
  for await (const piece of pieces) {
    const text = tail + (typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true }));
    if (passwords.some((password) => showsPassword(text, password))) return true;
    tail = text.slice(-keep);
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
