/**
 * One invocation, from its options to its exit code: options checked, configuration read,
 * the command's context built, the command run, and any error it ends with reported (here
 * alone) and mapped to an exit code (exit-codes.ts).
 */
import type { Logger } from 'pino';
import { InterruptedError, PgpairError, UsageError } from '../core/errors.js';
import { createLogger } from '../run/logger.js';
import { databaseContext, loadEnv, protectedLogger, type CommandContext, type DatabaseContext } from './context.js';
import { EXIT, exitCodeOf, type ExitCode } from './exit-codes.js';
import { presenter, Secrets, type Io } from './io.js';
import { logFormat, outputOptions, readOptions, type CliOptions } from './options.js';
import type { Invocation } from './parse.js';
import type { Interruptions } from './signals.js';

type Runner = (ctx: DatabaseContext) => Promise<ExitCode>;

/** Fleets: the commands that take several targets, and whether this invocation names several (or a way of naming them). */
const FLEET_COMMANDS = new Set(['up', 'down', 'stamp', 'status', 'verify']);
function isFleetInvocation(options: CliOptions, env: Record<string, string | undefined>): boolean {
  if (!FLEET_COMMANDS.has(options.command)) return false;
  if (options.urls !== undefined || options.targetsFile !== undefined || options.schemas !== undefined) return true;
  if (options.parallel !== undefined || options.canary !== undefined || options.keepGoing) return true;
  return options.url === undefined && Boolean(env.PGPAIR_TARGETS?.trim());
}

const migrate: Runner = async (ctx) => (await import('./commands/migrate.js')).migrateCommand(ctx);

/** The commands that talk to a database, each in its own module, imported when it runs. */
const DATABASE_COMMANDS: Record<string, Runner> = {
  up: migrate,
  down: migrate,
  stamp: migrate,
  status: async (ctx) => (await import('./commands/status.js')).statusCommand(ctx),
  verify: async (ctx) => (await import('./commands/status.js')).verifyCommand(ctx),
  current: async (ctx) => (await import('./commands/current.js')).currentCommand({ base: ctx.base, json: ctx.options.json, out: ctx.out }),
  history: async (ctx) => (await import('./commands/history.js')).historyCommand({ base: ctx.base, json: ctx.options.json, out: ctx.out, limit: ctx.options.limit, where: ctx.where }),
  wait: async (ctx) =>
    (await import('./commands/wait.js')).waitCommand({
      url: ctx.resolved.url,
      where: ctx.where,
      json: ctx.options.json,
      quiet: ctx.options.quiet,
      out: ctx.out,
      logger: ctx.logger(),
      connectTimeoutMs: ctx.options.connectTimeoutMs,
      timeoutMs: ctx.options.timeoutMs,
      signal: ctx.signal,
    }),
  load: async (ctx) => (await import('./commands/load.js')).loadCommand(ctx),
  repair: async (ctx) => (await import('./commands/repair.js')).repairCommand(ctx),
  template: async (ctx) => (await import('./commands/template.js')).templateCommand(ctx),
};

/**
 * Runs an invocation. `passwords`: those the raw command line and environment hold, masked in
 * all output from the start. Never throws: an error is reported on stderr (and as the JSON
 * document under --json) and becomes the exit code.
 */
export async function runInvocation(invocation: Invocation, io: Io, stop: Interruptions, passwords: readonly string[]): Promise<ExitCode> {
  const output = outputOptions(invocation.argv);
  const secrets = new Secrets(passwords);
  const present = presenter(() => secrets.list);
  const out = (text: string) => void io.stdout(output.json ? present.json(text) : present.text(text));
  const err = (text: string) => io.stderr(present.text(text));
  const initial = createLogger({ level: output.logLevel, secrets: [...secrets.list] });
  let logger: () => Logger = () => initial;
  try {
    // Every option is checked before anything is read or connected.
    const options = readOptions(invocation, output);
    const { command } = options;
    const env = await loadEnv(options.envFile, io);
    const pretty = logFormat(options.logFormat, env, process.stderr.isTTY === true) === 'pretty';
    const logs = protectedLogger({ level: output.logLevel, secrets, env, pretty });
    logger = logs.logger;
    const { DEFAULT_DIR, DEFAULT_TABLE } = await import('../run/session.js');
    const signal = stop.signal;
    if (signal.aborted) throw new InterruptedError(String(signal.reason), null, `Interrupted by ${String(signal.reason)} before pgpair ${command} started; nothing was done.`);
    const ctx: CommandContext = {
      options,
      env,
      io,
      signal,
      dir: options.dir ?? env.PGPAIR_DIR ?? DEFAULT_DIR,
      table: options.table ?? env.PGPAIR_TABLE ?? DEFAULT_TABLE,
      secrets,
      logger: logs.logger,
      protect: logs.protect,
      out,
    };
    if (command === 'create') {
      const created = await (await import('./commands/create.js')).createCommand({ dir: ctx.dir, message: options.message ?? '', timestamp: options.timestamp, env });
      if (options.json) out(`${JSON.stringify({ ok: true, ...created })}\n`);
      else out(`${created.up}\n${created.down}\n`);
      return EXIT.ok;
    }
    if (command === 'lint') {
      // Offline unless a database is configured: lint never falls back to the embedded database.
      return await (await import('./commands/lint.js')).lintCommand(ctx, (embedded) => {
        stop.embedded = embedded;
      });
    }
    // pgpair test makes its own scratch database (--url or PGPAIR_TEST_URL, else embedded): DATABASE_URL is not resolved.
    if (command === 'test') return await (await import('./commands/test.js')).testCommand(ctx);
    const script = async () => (await import('./commands/script.js')).scriptCommand;
    if (options.sql && options.from !== undefined) {
      // Files only: no database URL is resolved, so none is needed; a configured one still holds
      // the password, which never appears in any output or log.
      ctx.protect(options.url);
      ctx.protect(env.DATABASE_URL);
      return await (await script())(ctx);
    }
    // Fleets (commands/fleet.ts): several targets, or a way of naming them; a single --url goes on below as before.
    if (isFleetInvocation(options, env)) return await (await import('./commands/fleet.js')).fleetCommand(ctx);
    const db = databaseContext(ctx, (embedded) => {
      stop.embedded = embedded;
    });
    if (options.sql) return await (await script())({ ...db, url: db.resolved.url });
    const runner = DATABASE_COMMANDS[command];
    if (!runner) throw new UsageError(`Unknown command ${command}.`);
    return await runner(db);
  } catch (error) {
    return reportError(error, { json: output.json, out, err, logger: logger() });
  }
}

/** Says what went wrong, once: the message on stderr, and under --json the error's data on stdout. */
function reportError(error: unknown, ctx: { json: boolean; out: (t: string) => void; err: (t: string) => void; logger: Logger }): ExitCode {
  if (error instanceof PgpairError) {
    if (ctx.json) ctx.out(`${JSON.stringify({ ok: false, error: error.toJSON() }, null, 2)}\n`);
    ctx.err(`error: ${error.message}\n`);
    return exitCodeOf(error);
  }
  // Not one of ours: a bug or an unexpected failure. Say so plainly; the stack only at debug level.
  const message = error instanceof Error ? error.message : String(error);
  ctx.logger.debug({ err: error }, 'unexpected error');
  if (ctx.json) ctx.out(`${JSON.stringify({ ok: false, error: { code: 'E_INTERNAL', message } }, null, 2)}\n`);
  ctx.err(`error: unexpected failure: ${message}\nRun again with --log-level debug for details, and report it if it persists.\n`);
  return exitCodeOf(error);
}
