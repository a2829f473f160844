/**
 * `pgpair test` over several servers (`--url` repeated, `--targets FILE`): the same up/down/up test
 * on a scratch database of each server (PostgreSQL 15 and 18, say), `--parallel` at a time. Every
 * server is tested (a FAILED migration on one is what the run is for, not a reason to skip the
 * next); a signal starts no new one. Each server's lines are printed as one block when it
 * finishes, then one summary line per server; `--json` prints one document. The exit code is the
 * worst server's (worstExitCode, as for fleets).
 */
import { ConfigError, PgpairError } from '../../core/errors.js';
import { maskUrl, normalizeDatabaseUrl, urlScheme } from '../../db/url.js';
import { DEFAULT_PARALLEL, targetLabel } from '../../run/fleet.js';
import type { SchemaTestResult } from '../../run/schema-test.js';
import { checkUrlTargets, readTargetsFile } from '../../run/targets.js';
import type { CommandContext } from '../context.js';
import { EXIT, exitCodeOf, SIGNAL_EXIT, type ExitCode } from '../exit-codes.js';
import { presenter } from '../io.js';
import { errorText, worstExitCode } from './fleet.js';
import { resultLines, summaryLine } from './test.js';

interface ServerOutcome {
  server: string;
  exitCode: number | null;
  result?: SchemaTestResult;
  error?: unknown;
}

/** The servers named by repeated --url or --targets, or null when the invocation names one (or none). */
export async function testServers(ctx: CommandContext): Promise<string[] | null> {
  const { options } = ctx;
  if (options.urls === undefined && options.targetsFile === undefined) return null;
  if (options.urls !== undefined && options.targetsFile !== undefined) throw new ConfigError('Give the servers to test on either as repeated --url or as --targets FILE, not both.');
  for (const url of options.urls ?? []) ctx.protect(url);
  const urls = options.urls !== undefined ? checkUrlTargets(options.urls) : await readTargetsFile(options.targetsFile!);
  for (const url of urls) ctx.protect(url);
  const servers = urls.map((url) => normalizeDatabaseUrl(url));
  const notServers = servers.filter((url) => urlScheme(url) === 'pglite');
  if (notServers.length > 0) throw new ConfigError(`pgpair test on several targets makes a scratch database on each PostgreSQL server; ${notServers.map(maskUrl).join(', ')} is not one (give no URL for one embedded test run).`);
  // By where it goes, as a fleet compares its targets (targetLabel): 127.0.0.1/postgres and 127.0.0.1:5432/postgres are one server.
  const where = servers.map((url) => targetLabel(url));
  const twice = servers.find((_, i) => where.indexOf(where[i]!) !== i);
  if (twice !== undefined) throw new ConfigError(`${maskUrl(twice)} is named twice: each server is tested once.`);
  return servers;
}

export async function testFleetCommand(ctx: CommandContext, servers: string[]): Promise<ExitCode> {
  const { options, out } = ctx;
  const err = presenter(() => ctx.secrets.list).text;
  const { testMigrations } = await import('../../run/schema-test.js');
  const outcomes: ServerOutcome[] = servers.map((url) => ({ server: maskUrl(url), exitCode: null }));
  let next = 0;
  const worker = async () => {
    while (next < servers.length && !ctx.signal.aborted) {
      const index = next++;
      const outcome = outcomes[index]!;
      try {
        outcome.result = await testMigrations({
          url: servers[index]!,
          dir: ctx.dir,
          table: ctx.table,
          from: options.from,
          logger: ctx.logger().child({ server: outcome.server }),
          signal: ctx.signal,
          ...(options.connectTimeoutMs !== undefined ? { connectTimeout: options.connectTimeoutMs / 1000 } : {}),
        });
        outcome.exitCode = outcome.result.ok ? EXIT.ok : EXIT.verification;
      } catch (error) {
        outcome.error = error;
        outcome.exitCode = ctx.signal.aborted ? SIGNAL_EXIT[String(ctx.signal.reason) as keyof typeof SIGNAL_EXIT] ?? EXIT.failure : exitCodeOf(error);
      }
      if (!options.json) out(block(outcome, options.quiet));
      if (outcome.error !== undefined) ctx.io.stderr(err(`error: ${outcome.server}: ${errorText(outcome.error)}\n`));
    }
  };
  const parallel = Math.max(1, Math.min(options.parallel ?? DEFAULT_PARALLEL, servers.length));
  await Promise.all(Array.from({ length: parallel }, worker));
  const exitCode = worstExitCode(outcomes.map((o) => o.exitCode ?? (ctx.signal.aborted ? null : EXIT.failure)));
  if (options.json) {
    const servers = outcomes.map((o) => ({
      server: o.server,
      exitCode: o.exitCode,
      result: o.exitCode === null ? 'skipped' : o.exitCode === 0 ? 'ok' : o.error === undefined ? 'failed' : 'error',
      ...(o.result ? { test: o.result } : {}),
      ...(o.error !== undefined ? { error: o.error instanceof PgpairError ? o.error.toJSON() : { code: 'E_INTERNAL', message: errorText(o.error) } } : {}),
    }));
    out(`${JSON.stringify({ ok: exitCode === 0, exitCode, servers }, null, 2)}\n`);
  } else {
    out(`\n${outcomes.map((o) => `${o.server}: ${o.result ? summaryLine(o.result) : o.exitCode === null ? 'not started (interrupted)' : `error (exit ${o.exitCode}): ${errorText(o.error).split('\n')[0]}`}`).join('\n')}\n`);
  }
  return exitCode as ExitCode;
}

function block(outcome: ServerOutcome, quiet: boolean): string {
  const lines = [`== ${outcome.server}`];
  if (outcome.result) {
    for (const r of outcome.result.migrations) if (!(quiet && (r.outcome === 'ok' || r.outcome === 'irreversible'))) lines.push(resultLines(r));
    lines.push(summaryLine(outcome.result));
  } else {
    lines.push(`error (exit ${outcome.exitCode}): ${errorText(outcome.error).split('\n')[0]}`);
  }
  return `${lines.join('\n')}\n`;
}
