/** `pgpair repair`: after a person fixed the database by hand, record what they did. */
import { repair, type RepairResult } from '../../run/repair.js';
import type { DatabaseContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

/** What a repair recorded, in one line. */
function said(result: RepairResult): string {
  if (result.action === 'applied') return `recorded ${result.version}_${result.name} as applied (was ${result.before.state})`;
  if (result.action === 'reverted') return `removed ${result.version}_${result.name} from the history (was ${result.before.state})`;
  return result.before.name !== result.name
    ? `recorded ${result.version}_${result.name} as the new name of ${result.version}_${result.before.name} (same SQL, checksum ${result.before.upChecksum.slice(0, 19)}…)`
    : `accepted the current files of ${result.version}_${result.name} (checksum was ${result.before.upChecksum.slice(0, 19)}…)`;
}

export async function repairCommand(ctx: DatabaseContext): Promise<ExitCode> {
  const { options, out } = ctx;
  const result = await repair({
    ...ctx.base,
    ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    ...(options.applied !== undefined ? { applied: options.applied } : {}),
    ...(options.reverted !== undefined ? { reverted: options.reverted } : {}),
    ...(options.accept !== undefined ? { accept: options.accept } : {}),
  });
  if (options.json) out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
  else if (!options.quiet) out(`${said(result)} on ${ctx.where}\n`);
  return EXIT.ok;
}
