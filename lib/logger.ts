/**
 * pino on stderr: readable lines on a terminal, JSON lines otherwise. Every
 * line passes through a scrubber so that a password never reaches the log.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

const require = createRequire(import.meta.url);

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  level: LogLevel;
  /** Strings to mask wherever they appear (passwords). */
  secrets?: string[];
  /** Force pretty or JSON output; default: pretty when stderr is a terminal. */
  pretty?: boolean;
}

/**
 * Masks secrets wherever they appear. A very short password (under 4
 * characters) would turn ordinary words into *** if masked everywhere, so it
 * is masked where a password is written: in `:PASSWORD@` and `password=…`.
 */
export function scrubber(secrets: readonly string[]): (text: string) => string {
  const list = secrets.filter((s) => s.length > 0);
  if (list.length === 0) return (text) => text;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return (text) => {
    let out = text;
    for (const secret of list) {
      if (secret.length < 4) {
        for (const form of new Set([secret, encodeURIComponent(secret)])) {
          out = out.replace(new RegExp(`:${escape(form)}@`, 'g'), ':***@').replace(new RegExp(`(password=)${escape(form)}(?![^&\\s])`, 'gi'), '$1***');
        }
        continue;
      }
      out = out.split(secret).join('***');
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) out = out.split(encoded).join('***');
      const json = JSON.stringify(secret).slice(1, -1);
      if (json !== secret) out = out.split(json).join('***');
    }
    return out;
  };
}

const SEVERITY: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

function buildPino(options: LoggerOptions): Logger {
  const pino = require('pino') as typeof import('pino').default;
  const scrub = scrubber(options.secrets ?? []);
  const pretty = options.pretty ?? process.stderr.isTTY === true;
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
