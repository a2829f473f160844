/** `pgpair wait`: exit 0 once the database accepts connections; exit 1 naming the last error after --timeout. */
import type { Logger } from 'pino';
import { waitForDatabase } from '../../run/wait.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

export async function waitCommand(ctx: {
  url: string;
  where: string;
  json: boolean;
  quiet: boolean;
  out: (text: string) => void;
  logger: Logger;
  connectTimeoutMs: number | undefined;
  timeoutMs: number | undefined;
  signal: AbortSignal;
}): Promise<ExitCode> {
  const result = await waitForDatabase({
    url: ctx.url,
    logger: ctx.logger,
    signal: ctx.signal,
    ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}),
    ...(ctx.connectTimeoutMs !== undefined ? { connectTimeoutMs: ctx.connectTimeoutMs } : {}),
  });
  if (ctx.json) ctx.out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
  else if (!ctx.quiet) {
    ctx.out(
      result.embedded
        ? `nothing to wait for: ${ctx.where} runs inside pgpair\n`
        : `${ctx.where} accepts connections (${result.attempts} attempt${result.attempts === 1 ? '' : 's'}, ${(result.elapsedMs / 1000).toFixed(1)} s)\n`,
    );
  }
  return EXIT.ok;
}
