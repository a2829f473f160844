/** `pgpair status` (the table of every migration) and `pgpair verify` (exit 3 when files and history disagree). */
import { verifyProblems } from '../../core/status.js';
import { status, verify } from '../../run/migrator.js';
import type { DatabaseContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { problemLines, statusJson, statusText } from '../output.js';

export async function statusCommand(ctx: DatabaseContext): Promise<ExitCode> {
  const report = await status(ctx.base);
  if (ctx.options.json) ctx.out(`${JSON.stringify(statusJson(report, { database: ctx.database }), null, 2)}\n`);
  else ctx.out(`${statusText(report, ctx.where, verifyProblems(report))}\n`);
  return EXIT.ok;
}

export async function verifyCommand(ctx: DatabaseContext): Promise<ExitCode> {
  const { options, out } = ctx;
  if (options.schema) return (await import('./verify-schema.js')).verifySchemaCommand(ctx);
  const result = await verify({ ...ctx.base, strict: options.strict });
  if (options.json) out(`${JSON.stringify({ ok: result.ok, problems: result.problems, warnings: result.warnings, current: result.report.current, head: result.report.head }, null, 2)}\n`);
  else if (result.ok) {
    if (!options.quiet) out(`ok: files and history agree (current ${result.report.current ?? 'base'}, head ${result.report.head ?? 'none'})\n`);
  } else {
    out(`${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}:\n${problemLines(result.problems)}\n`);
  }
  const warned = result.warnings.length;
  if (!options.json && warned > 0) out(`${warned} warning${warned === 1 ? '' : 's'} (pgpair verify --strict fails on ${warned === 1 ? 'it' : 'them'}):\n${problemLines(result.warnings)}\n`);
  return result.ok ? EXIT.ok : EXIT.verification;
}
