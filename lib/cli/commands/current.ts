/** `pgpair current`: the current version, one line, for `$(pgpair current)`. */
import { currentVersion } from '../../run/history-log.js';
import type { BaseOptions } from '../../run/session.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

export async function currentCommand(ctx: { base: BaseOptions; json: boolean; out: (text: string) => void }): Promise<ExitCode> {
  const result = await currentVersion(ctx.base);
  if (result.state !== null && result.state !== 'ok') {
    ctx.base.logger?.warn(`${result.current} is recorded as ${result.state === 'running' ? 'interrupted (running)' : 'failed'}: pgpair status shows it, pgpair repair resolves it`);
  }
  if (ctx.json) {
    ctx.out(`${JSON.stringify({ current: result.current, state: result.state, database: result.database }, null, 2)}\n`);
  } else {
    // The version and nothing else on stdout; an unfinished one is a fact for stderr-reading humans, not for $(…).
    ctx.out(`${result.current ?? 'base'}\n`);
  }
  return EXIT.ok;
}
