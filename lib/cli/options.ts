/**
 * The one place where option values from the command line (and their PGPAIR_*
 * settings) are checked and turned into what the library takes: durations in
 * ms with their limits, whole numbers, single values, formats. Each helper
 * throws a UsageError (exit 2) that names the option, the value and what to
 * give instead. Pure: no I/O.
 */
import { UsageError } from '../core/errors.js';
import { parseTarget } from '../core/plan.js';

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

/** Every option the spec lists as single-valued must not come as an array. */
export function checkSingleValued(argv: Record<string, unknown>, names: readonly string[]): void {
  for (const name of names) if (Array.isArray(argv[name])) single(`--${name}`, argv[name]);
}

/** A target argument, checked for form only (whether the version exists is the planner's to say). */
export function targetArgument(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const text = single('TARGET', value);
  parseTarget(text);
  return text;
}

export type LogFormat = 'pretty' | 'json';

/**
 * `--log-format`, else PGPAIR_LOG_FORMAT, else pretty on a terminal and in CI
 * (CI logs are read by people), JSON lines otherwise (a log collector).
 */
export function logFormat(option: unknown, env: Record<string, string | undefined>, stderrIsTerminal: boolean): LogFormat {
  const given = option !== undefined ? single('--log-format', option) : env.PGPAIR_LOG_FORMAT?.trim() || undefined;
  if (given !== undefined) {
    if (given === 'pretty' || given === 'json') return given;
    const from = option !== undefined ? '--log-format' : 'PGPAIR_LOG_FORMAT';
    throw new UsageError(`${from} ${JSON.stringify(given)}: use pretty (readable lines) or json (one JSON object per line).`);
  }
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI.toLowerCase() !== 'false';
  return stderrIsTerminal || ci ? 'pretty' : 'json';
}

export type VersionStyle = 'timestamp' | 'sequential';

/** `create --timestamp`, else PGPAIR_VERSIONS=timestamp|sequential, else undefined (keep the directory's style). */
export function versionStyle(timestamp: unknown, env: Record<string, string | undefined>): VersionStyle | undefined {
  if (timestamp === true) return 'timestamp';
  const setting = env.PGPAIR_VERSIONS?.trim();
  if (!setting) return undefined;
  if (setting === 'timestamp' || setting === 'sequential') return setting;
  throw new UsageError(`PGPAIR_VERSIONS ${JSON.stringify(setting)}: use timestamp (YYYYMMDDHHMMSS versions) or sequential (newest + 1).`);
}

/** The checked values of a command's options: what dispatch passes on. Absent options stay undefined. */
export interface CommandOptions {
  target?: string;
  steps?: number;
  limit?: number;
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
  migrationLockTimeoutMs?: number;
  connectTimeoutMs?: number;
  timeoutMs?: number;
}

/**
 * Checks every option of an invocation once, before anything is read or
 * connected: `stringOptions` (the command's single-valued options) must each
 * come once, and each known value must be well formed.
 */
export function commandOptions(argv: Record<string, unknown>, stringOptions: readonly string[]): CommandOptions {
  checkSingleValued(argv, stringOptions);
  // `--dir --json` leaves --dir empty; an empty --url is allowed (it falls back to DATABASE_URL).
  for (const name of stringOptions) {
    if (name !== 'url' && typeof argv[name] === 'string' && (argv[name] as string).trim() === '') throw new UsageError(`--${name} needs a value.`);
  }
  const options: CommandOptions = {};
  const set = <K extends keyof CommandOptions>(key: K, value: CommandOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('target', targetArgument(argv.target));
  set('steps', wholeNumber('--steps', argv.steps));
  set('limit', wholeNumber('--limit', argv.limit));
  set('lockTimeoutMs', durationOption('--lock-timeout', argv['lock-timeout']));
  set('statementTimeoutMs', durationOption('--statement-timeout', argv['statement-timeout']));
  set('migrationLockTimeoutMs', durationOption('--migration-lock-timeout', argv['migration-lock-timeout']));
  set('connectTimeoutMs', durationOption('--connect-timeout', argv['connect-timeout']));
  set('timeoutMs', durationOption('--timeout', argv.timeout));
  return options;
}
