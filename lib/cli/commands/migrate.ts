/** `pgpair up`, `down` and `stamp` run against the database (with --sql they print a script instead: script.ts). */
import { up, down, stamp, type RunOptions } from '../../run/migrator.js';
import type { DatabaseContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { runJson, runSummary, stepLine } from '../output.js';

export async function migrateCommand(ctx: DatabaseContext): Promise<ExitCode> {
  const { options, out } = ctx;
  const command = options.command as 'up' | 'down' | 'stamp';
  const run: RunOptions = {
    ...ctx.base,
    ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
    ...(options.lockRetries !== undefined ? { lockRetries: options.lockRetries } : {}),
    onStep: (step) => {
      if (!options.json && !options.quiet) out(`${stepLine(step, command)}\n`);
    },
    ...(options.createSchema ? { createSchema: true } : {}),
    // up lints what it is about to apply (lib/run/lint.ts): findings logged, or refused with --lint error.
    ...(command === 'up' && options.lint !== 'off' ? { lint: { level: options.lint === 'error' ? 'error' as const : 'warn' as const, minRows: options.minRows } } : {}),
  };
  const { steps, target } = options;
  const result =
    command === 'up'
      ? await up({ ...run, ...(target !== undefined ? { target } : {}), ...(steps !== undefined ? { steps } : {}), allowOutOfOrder: options.allowOutOfOrder })
      : command === 'down'
        ? await down({ ...run, ...(target !== undefined ? { target } : {}), ...(steps !== undefined ? { steps } : {}) })
        : await stamp({ ...run, target: target! });
  if (options.json) out(`${JSON.stringify(runJson(result), null, 2)}\n`);
  else if (!options.quiet) out(`${runSummary(result, ctx.where)}\n`);
  return EXIT.ok;
}
