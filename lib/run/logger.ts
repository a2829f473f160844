/**
 * pino on stderr: readable lines on a terminal, JSON lines otherwise. Every
 * line passes through a scrubber so that a password never reaches the log,
 * nor a control character a terminal.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { escapeControls, jsonForTerminal, maskSecrets } from '../core/mask.js';

const require = createRequire(import.meta.url);

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  level: LogLevel;
  /** The configured passwords: masked where they stand as credentials (lib/mask.ts). */
  secrets?: string[];
  /** Force pretty or JSON output; default: pretty when stderr is a terminal. */
  pretty?: boolean;
}

/**
 * What every log line passes through before it is written: pino hands over the serialised JSON
 * line, which is parsed, has each string value masked (maskSecrets: credentials as such, and the
 * configured passwords where they stand as credentials; lib/mask.ts states the rule) and is
 * serialised again, so a JSON log line stays valid JSON and keeps every other value. For the
 * terminal (pretty) the values also have their control characters escaped, since pino-pretty
 * prints them raw; JSON lines keep the real values.
 */
export function scrubber(secrets: readonly string[], options: { pretty?: boolean } = {}): (line: string) => string {
  const passwords = secrets.filter((s) => s.length > 0);
  const value = options.pretty ? (v: string) => escapeControls(maskSecrets(v, passwords)) : (v: string) => maskSecrets(v, passwords);
  return (line) => {
    const newline = line.endsWith('\n') ? '\n' : '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return options.pretty ? escapeControls(maskSecrets(line, passwords)) : maskSecrets(line, passwords);
    }
    return `${jsonForTerminal(JSON.stringify(parsed, (_key, v: unknown) => (typeof v === 'string' ? value(v) : v)))}${newline}`;
  };
}

const SEVERITY: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

function buildPino(options: LoggerOptions): Logger {
  const pino = require('pino') as typeof import('pino').default;
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const scrub = scrubber(options.secrets ?? [], { pretty: pretty && options.level !== 'silent' });
  const base = { level: options.level, base: undefined, hooks: { streamWrite: scrub } };
  if (pretty && options.level !== 'silent') {
    // Loaded only for readable lines (a terminal, CI, --log-format pretty): JSON logging pays nothing for it.
    // Colours only on a terminal: CI logs that show escape codes raw stay readable.
    const pinoPretty = require('pino-pretty') as (opts: object) => NodeJS.WritableStream;
    return pino(base, pinoPretty({ destination: 2, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss', colorize: process.stderr.isTTY === true && !process.env.NO_COLOR }) as never);
  }
  return pino(base, pino.destination({ fd: 2, sync: true }));
}

/**
 * A pino logger that loads pino only when a line is actually written at an
 * enabled level (or a pino feature beyond the level methods is used): most
 * runs log nothing at info, and importing pino costs ~27 ms of every start
 * (bench/RESULTS.md).
 */
export function createLogger(options: LoggerOptions): Logger {
  let real: Logger | undefined;
  const threshold = SEVERITY[options.level];
  const noop = () => {};
  return new Proxy({} as Logger, {
    get(_target, property) {
      if (!real) {
        if (property === 'level') return options.level;
        if (property === 'isLevelEnabled') return (level: LogLevel) => SEVERITY[level] >= threshold;
        if (typeof property === 'string' && property in SEVERITY && property !== 'silent' && SEVERITY[property as LogLevel] < threshold) return noop;
        real = buildPino(options);
      }
      const value: unknown = Reflect.get(real, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(real) : value;
    },
  });
}
