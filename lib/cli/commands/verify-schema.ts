/**
 * `pgpair verify --schema`: verify's check of files against history, and then the live schema
 * against what the recorded migrations build (lib/run/schema-verify.ts). Exit 3 when either
 * finds a problem; every difference is listed, objects named.
 */
import { escapeValue } from '../../core/mask.js';
import type { DatabaseContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { problemLines } from '../output.js';

export async function verifySchemaCommand(ctx: DatabaseContext): Promise<ExitCode> {
  const { options, out } = ctx;
  const { verifySchema } = await import('../../run/schema-verify.js');
  const result = await verifySchema({
    url: ctx.base.url,
    dir: ctx.base.dir,
    table: ctx.base.table,
    strict: options.strict,
    logger: ctx.base.logger,
    connectTimeout: ctx.base.connectTimeout,
    signal: ctx.signal,
  });
  const { verify } = result;
  const ok = verify.ok && result.ok;
  if (options.json) {
    out(`${JSON.stringify({ ok, problems: verify.problems, warnings: verify.warnings, current: verify.report.current, head: verify.report.head, schema: { ok: result.ok, built: result.built, unbuilt: result.unbuilt, extensions: result.extensions, differences: result.differences } }, null, 2)}\n`);
    return ok ? EXIT.ok : EXIT.verification;
  }
  if (!verify.ok) out(`${verify.problems.length} problem${verify.problems.length === 1 ? '' : 's'}:\n${problemLines(verify.problems)}\n`);
  if (verify.warnings.length > 0) out(`${verify.warnings.length} warning${verify.warnings.length === 1 ? '' : 's'}:\n${problemLines(verify.warnings)}\n`);
  for (const missing of result.unbuilt) out(`cannot build ${missing.version}: ${missing.reason}; the schema it made is not compared\n`);
  const count = result.differences.length;
  if (count > 0) {
    out(`${count} schema difference${count === 1 ? '' : 's'} between what the ${result.built.length} recorded migration${result.built.length === 1 ? '' : 's'} build and the live database:\n`);
    for (const difference of result.differences) out(`  - ${escapeValue(difference.message)}\n`);
  } else if (!options.quiet || !ok) {
    out(`ok: the live schema is what the ${result.built.length} recorded migration${result.built.length === 1 ? '' : 's'} build (current ${verify.report.current ?? 'base'})\n`);
  }
  return ok ? EXIT.ok : EXIT.verification;
}
