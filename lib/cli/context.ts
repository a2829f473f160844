/**
 * What a command runs with, built once per invocation from its checked options: the
 * configuration (.env file, PGPAIR_* settings), the logger, where output goes, and for the
 * commands that talk to a database the URL resolved and described.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../core/errors.js';
import { describeTarget } from '../db/target.js';
import { dotenvTruncation, resolveDatabaseUrl, type ResolvedUrl } from '../run/config.js';
import { createLogger } from '../run/logger.js';
import type { BaseOptions } from '../run/session.js';
import type { Io, Secrets } from './io.js';
import type { CliOptions } from './options.js';
import { describeDatabase } from './output.js';
import { nearDatabaseUrl } from './suggest.js';

export type Env = Record<string, string | undefined>;

/** What every command gets. */
export interface CommandContext {
  options: CliOptions;
  /** The process environment over the .env file's values. */
  env: Env;
  io: Io;
  /** Aborted by the first SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** The migration directory: --dir, else PGPAIR_DIR, else the library's default. */
  dir: string;
  /** The history table: --table, else PGPAIR_TABLE, else the library's default. */
  table: string;
  /** The passwords no output may show; grows as URLs are learnt. */
  secrets: Secrets;
  /** The logger, rebuilt (masking the new password) whenever `secrets` grows through `protect`. */
  logger: () => Logger;
  /** Adds a URL's password to what output and logs mask. Call before the URL is used. */
  protect: (url: string | undefined) => void;
  /** Writes a result to stdout, masked (a JSON document is kept parseable). */
  out: (text: string) => void;
}

/** What the commands that connect get besides. */
export interface DatabaseContext extends CommandContext {
  resolved: ResolvedUrl;
  /** The options every library call takes: URL, directory, table, logger, connect timeout, signal. */
  base: BaseOptions;
  /** The server it really goes to, for JSON output (postgres.js fills what a URL leaves out from PG*). */
  database: string;
  /** Where a change went, for result lines: the server without the password, or the embedded database and how to choose another. */
  where: string;
}

/** The environment with `--env-file` (or ./.env when there is one) under it: the real environment wins, as with dotenv's default. */
export async function loadEnv(envFile: string | undefined, io: Io): Promise<Env> {
  const path = envFile ?? '.env';
  if (envFile !== undefined && !existsSync(path)) {
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
  return { ...fromFile, ...io.env };
}

/** A logger that masks every password in `secrets`, rebuilt by `protect` when one is added. */
export function protectedLogger(ctx: { level: CliOptions['logLevel']; secrets: Secrets; env: Env; pretty?: boolean }): { logger: () => Logger; protect: (url: string | undefined) => void } {
  const make = () => createLogger({ level: ctx.level, secrets: [...ctx.secrets.list], ...(ctx.pretty !== undefined ? { pretty: ctx.pretty } : {}) });
  let logger = make();
  return {
    logger: () => logger,
    protect: (url) => {
      if (ctx.secrets.add(url, ctx.env)) logger = make();
    },
  };
}

/**
 * Resolves the database URL (--url, DATABASE_URL, PG*, else the embedded default) with every
 * password it could show protected first, and says on stderr when the embedded default is used.
 */
export function databaseContext(ctx: CommandContext, embedded: (isEmbedded: boolean) => void): DatabaseContext {
  const { options, env, io } = ctx;
  // The given URL's password first: a malformed one is refused with it masked.
  ctx.protect(options.url);
  ctx.protect(env.DATABASE_URL);
  const resolved = resolveDatabaseUrl({ url: options.url, env });
  if (options.command === 'wait' && resolved.source === 'embedded default') {
    // Waiting is for a server: with nothing configured, a compose file or CI job forgot DATABASE_URL.
    throw new ConfigError(`pgpair wait waits for a database server, but no DATABASE_URL is set (nor --url). Set DATABASE_URL=postgres://user:password@host:5432/dbname, or pass --url.${nearDatabaseUrl(env).map((name) => ` ${name} is set: did you mean DATABASE_URL?`).join('')}`);
  }
  ctx.protect(resolved.url);
  embedded(resolved.url.startsWith('pglite:'));
  // On a terminal, where stdout and stderr share the screen, a result line that names the database says it already.
  const resultSaysWhere = !options.json && !options.quiet && !options.sql && ['status', 'up', 'down', 'stamp', 'load', 'repair'].includes(options.command);
  const sameScreen = process.stdout.isTTY === true && process.stderr.isTTY === true;
  const logger = ctx.logger();
  if (resolved.source === 'embedded default' && !(resultSaysWhere && sameScreen)) {
    logger.info(`no DATABASE_URL set: using the embedded development database ${resolved.url} (set DATABASE_URL or --url for a real server)`);
    for (const name of nearDatabaseUrl(env)) logger.warn(`${name} is set, but pgpair reads DATABASE_URL: did you mean DATABASE_URL?`);
  }
  const base: BaseOptions = {
    url: resolved.url,
    dir: ctx.dir,
    table: ctx.table,
    logger,
    ...(options.connectTimeoutMs !== undefined ? { connectTimeout: options.connectTimeoutMs / 1000 } : {}),
    signal: ctx.signal,
  };
  return { ...ctx, resolved, base, database: describeTarget(resolved.url, io.env), where: describeDatabase(resolved, io.env) };
}
