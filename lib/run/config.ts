/**
 * Which database a run goes to. Pure: takes the option and an environment
 * (process.env merged with .env by the CLI) and returns the URL and where it
 * came from, or a ConfigError.
 */
import { normalizeDatabaseUrl } from '../db/url.js';
import { ConfigError } from '../core/errors.js';

export const DEFAULT_DEV_URL = 'pglite:.pgpair/dev';

export type UrlSource = 'option' | 'DATABASE_URL' | 'PG variables' | 'embedded default';

export interface ResolvedUrl {
  url: string;
  source: UrlSource;
}

export const PG_VARIABLES = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'];

/**
 * The URL comes back normalised (normalizeDatabaseUrl): a libpq key=value string as the
 * postgres:// URL it means, a mistyped URL as a ConfigError that shows it masked.
 */
export function resolveDatabaseUrl(input: { url?: string | undefined; env: Record<string, string | undefined> }): ResolvedUrl {
  const given = input.url?.trim();
  if (given) return { url: normalizeDatabaseUrl(given), source: 'option' };
  const fromEnv = input.env.DATABASE_URL?.trim();
  if (fromEnv) return { url: normalizeDatabaseUrl(fromEnv), source: 'DATABASE_URL' };
  if (PG_VARIABLES.some((name) => input.env[name])) return { url: 'postgres://', source: 'PG variables' };
  const strict = isTruthy(input.env.CI) || input.env.NODE_ENV === 'production';
  if (strict) {
    const why = isTruthy(input.env.CI) ? 'CI is set' : 'NODE_ENV is production';
    throw new ConfigError(
      `No database configured, and ${why}, so pgpair will not fall back to its embedded development database. Set DATABASE_URL (e.g. DATABASE_URL=postgres://user:password@host:5432/dbname) or pass --url.`,
    );
  }
  return { url: DEFAULT_DEV_URL, source: 'embedded default' };
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** Parses a duration option: a number of seconds, or a number with ms/s/min. */
export function parseDuration(text: string | number, option: string): number {
  if (typeof text === 'number') {
    if (Number.isFinite(text) && text >= 0) return Math.round(text * 1000);
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min)?\s*$/.exec(text);
    if (match) {
      const value = Number(match[1]);
      const unit = match[2] ?? 's';
      return Math.round(unit === 'ms' ? value : unit === 'm' || unit === 'min' ? value * 60_000 : value * 1000);
    }
  }
  throw new ConfigError(`Invalid ${option} "${text}": use seconds (30), or a number with ms, s or min (500ms, 2min).`);
}

/**
 * dotenv reads an unquoted `#` as the start of a comment, anywhere in a value: the line
 * `DATABASE_URL=postgres://u:pa#ss@h/db` gives `postgres://u:pa`, and the run would fail far
 * from the cause, or go elsewhere. Given the .env text, returns the first line whose value for
 * one of `keys` was cut so (a `#` glued to the value; ` # note` after a space is a comment),
 * as a ConfigError naming the file, line and key and saying how to quote it. Never shows the value.
 */
export function dotenvTruncation(file: string, text: string, keys: (key: string) => boolean): ConfigError | null {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let index = 0; index < lines.length; index++) {
    const match = /^\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*|:\s+)(.*)$/.exec(lines[index]!);
    if (!match || !keys(match[1]!)) continue;
    const value = match[2]!;
    if (/^['"`]/.test(value)) continue;
    const hash = value.indexOf('#');
    if (hash > 0 && !/\s/.test(value[hash - 1]!)) {
      const key = match[1]!;
      return new ConfigError(
        `${file}:${index + 1}: the value of ${key} holds a #, and an unquoted # starts a comment in a .env file, so the value was cut there. In a URL write # as %23 (a URL cannot hold a bare # in its password either); otherwise quote the value: ${key}="...".`,
      );
    }
  }
  return null;
}
