/**
 * `pgpair test`: every migration up, down and up again on a scratch database (lib/run/schema-test.ts).
 * One line per migration on stdout as the run goes, then a summary; exit 3 when any migration
 * fails the test. The scratch database goes on the server of --url or PGPAIR_TEST_URL (never
 * DATABASE_URL: that is the database to migrate, not one to make databases beside), else it is
 * an embedded PGlite in memory.
 */
import { ConfigError } from '../../core/errors.js';
import { escapeValue } from '../../core/mask.js';
import { normalizeDatabaseUrl, urlScheme } from '../../db/url.js';
import type { MigrationTestResult, SchemaTestResult } from '../../run/schema-test.js';
import type { CommandContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

/** The server to make the scratch database on, or undefined for the embedded one. */
export function testServerUrl(ctx: CommandContext): string | undefined {
  const given = ctx.options.url?.trim() || ctx.env.PGPAIR_TEST_URL?.trim() || undefined;
  if (given === undefined) return undefined;
  const url = normalizeDatabaseUrl(given);
  const scheme = urlScheme(url);
  if (scheme === 'pglite') {
    if (url === 'pglite:memory') return undefined;
    throw new ConfigError('pgpair test makes its own scratch database: give it a PostgreSQL server (--url postgres://user:password@host:port/database, or PGPAIR_TEST_URL), or no URL for an embedded one in memory; a pglite:PATH directory is not used.');
  }
  return url;
}

const OUTCOME_WORD: Record<MigrationTestResult['outcome'], string> = { ok: 'ok', failed: 'FAILED', irreversible: 'irreversible', untested: 'untested' };

/** One migration's line, and an indented line for each problem (a failure's message keeps its excerpt lines, indented). */
export function resultLines(result: MigrationTestResult): string {
  const head = `${OUTCOME_WORD[result.outcome].padEnd(12)} ${result.version} ${escapeValue(result.name)}`;
  const lines: string[] = [];
  if (result.outcome === 'ok') lines.push(`${head} (${result.durationMs} ms)${result.allowed.length > 0 ? `; accepted by -- pgpair:test-allow: ${result.allowed.map((d) => d.message).join('; ')}` : ''}`);
  else if (result.outcome === 'irreversible') lines.push(`${head}: no down file; applied, and the next migrations are tested on top of it`);
  else if (result.outcome === 'untested') lines.push(`${head}: not tested, ${result.blockedBy ?? 'an earlier migration'} left the scratch database where no later migration can run`);
  else {
    lines.push(head);
    for (const problem of result.problems) {
      const text = problem.message.split('\n').map((line, i) => (i === 0 ? `  - ${line}` : `    ${line}`));
      lines.push(...text);
    }
  }
  return lines.join('\n');
}

export function summaryLine(result: SchemaTestResult): string {
  const { counts } = result;
  const tested = result.migrations.length;
  const parts = [`${counts.ok} ok`, `${counts.failed} failed`];
  if (counts.irreversible > 0) parts.push(`${counts.irreversible} irreversible`);
  if (counts.untested > 0) parts.push(`${counts.untested} untested`);
  const setup = result.setup.length > 0 ? ` (after ${result.setup.length} applied as setup, up to ${result.setup.at(-1)})` : '';
  const verdict = result.ok ? 'every down undoes its up' : 'fix the migrations marked FAILED';
  return `${tested} migration${tested === 1 ? '' : 's'} tested on ${result.database}${setup}: ${parts.join(', ')}; ${verdict}`;
}

export async function testCommand(ctx: CommandContext): Promise<ExitCode> {
  const { options, out } = ctx;
  // Several servers (--url repeated, --targets FILE): a scratch database on each (test-fleet.ts).
  const { testServers, testFleetCommand } = await import('./test-fleet.js');
  const servers = await testServers(ctx);
  if (servers !== null) return testFleetCommand(ctx, servers);
  ctx.protect(options.url);
  ctx.protect(ctx.env.PGPAIR_TEST_URL);
  const url = testServerUrl(ctx);
  const logger = ctx.logger();
  if (url === undefined) logger.info('no --url or PGPAIR_TEST_URL: testing on an embedded PGlite database in memory');
  const { testMigrations } = await import('../../run/schema-test.js');
  const result = await testMigrations({
    url,
    dir: ctx.dir,
    table: ctx.table,
    from: options.from,
    logger,
    signal: ctx.signal,
    ...(options.connectTimeoutMs !== undefined ? { connectTimeout: options.connectTimeoutMs / 1000 } : {}),
    onResult: (r) => {
      if (!options.json && !(options.quiet && (r.outcome === 'ok' || r.outcome === 'irreversible'))) out(`${resultLines(r)}\n`);
    },
  });
  if (options.json) out(`${JSON.stringify(result, null, 2)}\n`);
  else out(`${summaryLine(result)}\n`);
  return result.ok ? EXIT.ok : EXIT.verification;
}
