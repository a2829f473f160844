/**
 * The one place where option values from the command line (and their PGPAIR_*
 * settings) are checked and turned into what the library takes: durations in
 * ms with their limits, whole numbers, single values, formats. readOptions
 * reads an Invocation into one typed CliOptions object; the commands read
 * that, never argv. Each helper throws a UsageError (exit 2) that names the
 * option, the value and what to give instead. Pure: no I/O.
 */
import { UsageError } from '../core/errors.js';
import { parseTarget, type Target } from '../core/plan.js';
import type { LogLevel } from '../run/logger.js';
import type { Invocation } from './parse.js';
import { COMMANDS, optionsOf } from './spec.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * Limits of the duration options. statement_timeout and lock_timeout hold at
 * most 2147483647 ms in PostgreSQL, and Node's timers at most 2^31-1 ms (a
 * longer one fires at once, with a warning); 24 h is far below both and above
 * any wait a deploy means. A connection that takes over an hour is not coming.
 */
export const DURATION_LIMITS: Record<string, { maxMs: number; min: 'zero' | 'positive'; zero?: string }> = {
  '--lock-timeout': { maxMs: 24 * HOUR, min: 'zero', zero: 'fail at once when another run holds the lock' },
  '--statement-timeout': { maxMs: 24 * HOUR, min: 'zero', zero: 'no limit' },
  '--migration-lock-timeout': { maxMs: 24 * HOUR, min: 'zero', zero: 'no limit' },
  // 0 waits as long as the connection takes (libpq's connect_timeout=0); a signal still ends it.
  '--connect-timeout': { maxMs: HOUR, min: 'zero', zero: 'no limit' },
  '--timeout': { maxMs: 24 * HOUR, min: 'zero', zero: 'try once' },
};

const UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: MINUTE, min: MINUTE, h: HOUR };
const DURATION_FORMS = 'seconds (30), or a number with ms, s, min or h (500ms, 2min, 1h)';

function spell(ms: number): string {
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE}min`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A duration option in ms, within its limits (DURATION_LIMITS), or undefined when not given. */
export function durationOption(option: keyof typeof DURATION_LIMITS & string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const text = single(option, value);
  const limit = DURATION_LIMITS[option]!;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$/.exec(text);
  if (!match) throw new UsageError(`Invalid ${option} ${JSON.stringify(text)}: use ${DURATION_FORMS}.`);
  const ms = Math.round(Number(match[1]) * UNITS[match[2] ?? 's']!);
  if (!Number.isFinite(ms) || ms > limit.maxMs) {
    throw new UsageError(`${option} ${text} is too long: the most it takes is ${spell(limit.maxMs)}. Use ${DURATION_FORMS}.`);
  }
  if (ms === 0 && limit.min === 'positive') throw new UsageError(`${option} ${text} would give up before trying: give at least 1ms (e.g. 10s).`);
  return ms;
}

/** The value of an option that is given at most once; a repeated one is a usage error (yargs would pass an array). */
export function single(option: string, value: unknown): string {
  if (Array.isArray(value)) {
    throw new UsageError(`${option} was given ${value.length} times; give it once.`);
  }
  return String(value);
}

/** A whole number of at least `min` (steps, limits), or undefined when not given. */
export function wholeNumber(option: string, value: unknown, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const text = single(option, value).trim();
  const shown = /^[\w.+-]+$/.test(text) ? text : JSON.stringify(text);
  if (!/^\d+$/.test(text)) throw new UsageError(`${option} must be a whole number of at least ${min}: ${shown} is not a whole number (e.g. ${option} 2).`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${option} ${text} is too large.`);
  if (n < min) throw new UsageError(`${option} must be a whole number of at least ${min} (got ${text}).`);
  return n;
}

/** --lock-retries: 0 or more, at most 100 (each retry waits up to 30 s: more would be a hang by other means). */
function lockRetriesOption(value: unknown): number | undefined {
  const n = wholeNumber('--lock-retries', value, 0);
  if (n !== undefined && n > 100) throw new UsageError(`--lock-retries ${n} is too many: at most 100 (each retry waits up to 30s after the lock timeout). Raise --migration-lock-timeout instead.`);
  return n;
}

/** A target argument, checked for form only (whether the version exists is the planner's to say): the parsed target and the text as given. */
export function targetArgument(value: unknown): { target: Target; text: string } | undefined {
  if (value === undefined) return undefined;
  const text = single('TARGET', value);
  return { target: parseTarget(text), text };
}

export type LogFormat = 'pretty' | 'json';

/**
 * `--log-format` (the parsers only take pretty or json), else PGPAIR_LOG_FORMAT, else pretty on
 * a terminal and in CI (CI logs are read by people), JSON lines otherwise (a log collector).
 */
export function logFormat(option: LogFormat | undefined, env: Record<string, string | undefined>, stderrIsTerminal: boolean): LogFormat {
  if (option !== undefined) return option;
  const given = env.PGPAIR_LOG_FORMAT?.trim() || undefined;
  if (given !== undefined) {
    if (given === 'pretty' || given === 'json') return given;
    throw new UsageError(`PGPAIR_LOG_FORMAT ${JSON.stringify(given)}: use pretty (readable lines) or json (one JSON object per line).`);
  }
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI.toLowerCase() !== 'false';
  return stderrIsTerminal || ci ? 'pretty' : 'json';
}

export type VersionStyle = 'timestamp' | 'sequential';

/** `create --timestamp`, else PGPAIR_VERSIONS=timestamp|sequential, else undefined (keep the directory's style). */
export function versionStyle(timestamp: boolean, env: Record<string, string | undefined>): VersionStyle | undefined {
  if (timestamp) return 'timestamp';
  const setting = env.PGPAIR_VERSIONS?.trim();
  if (!setting) return undefined;
  if (setting === 'timestamp' || setting === 'sequential') return setting;
  throw new UsageError(`PGPAIR_VERSIONS ${JSON.stringify(setting)}: use timestamp (YYYYMMDDHHMMSS versions) or sequential (newest + 1).`);
}

/** What decides how output and logs look: read first, so that even a refused option is reported as asked (--json). */
export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  /** --log-level, else error with --quiet, else info. */
  logLevel: LogLevel;
}

/** The output options of an invocation. Never throws: a repeated --log-level is refused by readOptions. */
export function outputOptions(argv: Record<string, unknown>): OutputOptions {
  const quiet = Boolean(argv.quiet);
  const level = typeof argv['log-level'] === 'string' ? (argv['log-level'] as LogLevel) : undefined;
  return { json: Boolean(argv.json), quiet, logLevel: level ?? (quiet ? 'error' : 'info') };
}

/**
 * Every option of an invocation, checked and converted. Absent options stay undefined (the
 * library's defaults apply), flags are booleans. What a command does not take is refused by
 * the parsers, so each field is only set for the commands that list it in spec.ts.
 */
export interface CliOptions extends OutputOptions {
  command: string;
  logFormat?: LogFormat;
  envFile?: string;
  dir?: string;
  table?: string;
  /** --url as given (empty: fall back to DATABASE_URL). */
  url?: string;
  /** TARGET of up/down/stamp, parsed; whether the version exists is the planner's to say. */
  target?: Target;
  /** TARGET as given, for the header of a --sql script. */
  targetText?: string;
  steps?: number;
  limit?: number;
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
  migrationLockTimeoutMs?: number;
  /** --lock-retries. */
  lockRetries?: number;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  /** --sql: print the script instead of running; --from: the state it starts from (only with --sql). */
  sql: boolean;
  from?: string;
  createSchema: boolean;
  allowOutOfOrder: boolean;
  strict: boolean;
  /** verify --schema: compare the live schema with what the recorded migrations build. */
  schema: boolean;
  /** load: the schema file and --stamp. */
  file?: string;
  stamp?: string;
  /** repair: --applied, --reverted, --accept. */
  applied?: string;
  reverted?: string;
  accept?: string;
  /** Fleets: --url given more than once (then `url` is unset), --targets FILE, --schemas GLOB, --parallel, --canary, --keep-going. */
  urls?: string[];
  targetsFile?: string;
  schemas?: string;
  parallel?: number;
  canary?: number;
  keepGoing: boolean;
  /** create: the words of the migration's name, joined with spaces; --timestamp. */
  message?: string;
  timestamp: boolean;
  /** lint and up --lint (lib/cli/commands/lint.ts). */
  lint?: 'off' | 'warn' | 'error';
  minRows?: number;
  serverVersion?: string;
  all: boolean;
  format?: 'human' | 'json' | 'github';
  /** template: --clean. */
  clean: boolean;
}

/**
 * Checks every option of an invocation once, before anything is read or
 * connected: each option must come once (yargs gives an array for a repeated
 * one), and each value must be well formed.
 */
export function readOptions(invocation: Invocation, output: OutputOptions): CliOptions {
  const { command, argv } = invocation;
  const spec = COMMANDS.find((c) => c.name === command);
  if (!spec) throw new UsageError(`Unknown command ${command}.`);
  const stringOptions = Object.entries(optionsOf(spec)).filter(([, o]) => o.type !== 'boolean').map(([name]) => name);
  // `--dir --json` leaves --dir empty; an empty --url is allowed (it falls back to DATABASE_URL).
  for (const name of stringOptions) {
    if (name !== 'url' && typeof argv[name] === 'string' && (argv[name] as string).trim() === '') throw new UsageError(`--${name} needs a value.`);
  }
  const text = (name: string) => (argv[name] === undefined ? undefined : single(`--${name}`, argv[name]));
  const options: CliOptions = {
    ...output,
    command,
    sql: Boolean(argv.sql),
    createSchema: Boolean(argv['create-schema']),
    allowOutOfOrder: Boolean(argv['allow-out-of-order']),
    strict: Boolean(argv.strict),
    schema: Boolean(argv.schema),
    timestamp: Boolean(argv.timestamp),
    all: Boolean(argv.all),
    clean: Boolean(argv.clean),
    keepGoing: Boolean(argv['keep-going']),
  };
  const set = <K extends keyof CliOptions>(key: K, value: CliOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  // outputOptions took --log-level only when given once (the parsers check its choices): a repeated one is refused here.
  text('log-level');
  set('logFormat', text('log-format') as LogFormat | undefined);
  set('envFile', text('env-file'));
  set('dir', text('dir'));
  set('table', text('table'));
  // Fleets: a repeated --url (yargs gives an array) is a list of targets, for the commands that take several.
  if (Array.isArray(argv.url) && spec.options.targets !== undefined) set('urls', argv.url.map(String));
  else set('url', text('url'));
  set('targetsFile', text('targets'));
  set('schemas', text('schemas'));
  set('parallel', wholeNumber('--parallel', argv.parallel));
  set('canary', wholeNumber('--canary', argv.canary));
  const target = targetArgument(argv.target);
  set('target', target?.target);
  set('targetText', target?.text);
  set('steps', wholeNumber('--steps', argv.steps));
  set('limit', wholeNumber('--limit', argv.limit));
  set('lockTimeoutMs', durationOption('--lock-timeout', argv['lock-timeout']));
  set('statementTimeoutMs', durationOption('--statement-timeout', argv['statement-timeout']));
  set('migrationLockTimeoutMs', durationOption('--migration-lock-timeout', argv['migration-lock-timeout']));
  set('lockRetries', lockRetriesOption(argv['lock-retries']));
  set('connectTimeoutMs', durationOption('--connect-timeout', argv['connect-timeout']));
  set('timeoutMs', durationOption('--timeout', argv.timeout));
  set('from', text('from'));
  set('file', argv.file === undefined ? undefined : single('FILE', argv.file));
  set('stamp', text('stamp'));
  set('applied', text('applied'));
  set('reverted', text('reverted'));
  set('accept', text('accept'));
  // The words of `create add comments table` arrive as a list; `create "add comments table"` as one.
  if (argv.slug !== undefined) options.message = Array.isArray(argv.slug) ? argv.slug.map(String).join(' ') : single('SLUG', argv.slug);
  // lint and up --lint.
  set('lint', text('lint') as CliOptions['lint']);
  set('minRows', wholeNumber('--min-rows', argv['min-rows'], 0));
  set('serverVersion', text('server-version'));
  set('format', text('format') as CliOptions['format']);
  if (options.sql && options.lint !== undefined && options.lint !== 'off') {
    throw new UsageError(`--lint ${options.lint} does not apply to --sql (nothing runs); lint the migrations with pgpair lint instead.`);
  }
  if (options.format !== undefined && options.json && options.format !== 'json') {
    throw new UsageError(`--json and --format ${options.format} ask for two formats; give one of them.`);
  }
  // `test --from V` names the migrations applied as setup; `lint --from` the state the files start from.
  if (options.from !== undefined && !options.sql && command !== 'lint' && command !== 'test') {
    throw new UsageError(`--from only goes with --sql (it names the state a script starts from); run pgpair ${command} --sql --from ${options.from}.`);
  }
  return options;
}
