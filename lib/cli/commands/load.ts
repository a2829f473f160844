/** `pgpair load [FILE]`: bootstrap an empty database from the base schema and stamp the version it declares. */
import { load } from '../../run/load.js';
import type { DatabaseContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

export async function loadCommand(ctx: DatabaseContext): Promise<ExitCode> {
  const { options, out } = ctx;
  const result = await load({
    ...ctx.base,
    ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    ...(options.file !== undefined ? { file: options.file } : {}),
    ...(options.stamp !== undefined ? { stamp: options.stamp } : {}),
    ...(options.createSchema ? { createSchema: true } : {}),
  });
  if (options.json) out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
  else if (!options.quiet) {
    const adopted = result.adopted ? `adopted the history it holds (${result.adopted.length} version${result.adopted.length === 1 ? '' : 's'} recorded)\n` : '';
    const stamped = result.steps.map((s) => `stamped ${s.version}_${s.name}\n`).join('');
    out(`loaded ${result.file} (${result.statements} statements in ${result.durationMs} ms)\n${adopted}${stamped}now at ${result.to ?? 'base'} on ${ctx.where}\n`);
  }
  return EXIT.ok;
}
