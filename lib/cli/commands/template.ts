/**
 * `pgpair template`: builds (once) the template database of this migration set and prints its
 * name and nothing else on stdout, for test runners that clone it themselves
 * (`createdb -T "$(pgpair template)" …`); `--clean` drops this directory's templates.
 */
import { ConfigError } from '../../core/errors.js';
import { dropTemplates, templateDatabase } from '../../run/template.js';
import type { DatabaseContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

export async function templateCommand(ctx: DatabaseContext): Promise<ExitCode> {
  const { base, options } = ctx;
  if (!/^postgres(ql)?:/i.test(base.url)) {
    const given = ctx.resolved.source === 'embedded default' ? 'no DATABASE_URL is set (nor --url)' : `${ctx.where} is not one`;
    throw new ConfigError(
      `pgpair template builds a template database on a PostgreSQL server, and ${given}. Set DATABASE_URL or --url to a postgres:// URL; for PGlite, call testDatabase() from pgpair in your tests (its template is a snapshot held in the test process).`,
    );
  }
  const call = {
    url: base.url,
    dir: ctx.dir,
    table: ctx.table,
    logger: ctx.logger(),
    signal: ctx.signal,
    ...(base.connectTimeout !== undefined ? { connectTimeout: base.connectTimeout } : {}),
  };
  if (options.clean) {
    const { dropped } = await dropTemplates(call);
    if (options.json) ctx.out(`${JSON.stringify({ ok: true, dropped }, null, 2)}\n`);
    else ctx.out(dropped.map((name) => `${name}\n`).join(''));
    if (!options.json && dropped.length === 0) ctx.logger().info('no template of this directory to drop');
    return EXIT.ok;
  }
  const result = await templateDatabase({ ...call, createSchema: options.createSchema });
  if (options.json) ctx.out(`${JSON.stringify({ ok: true, template: result.name, built: result.built, dropped: result.dropped }, null, 2)}\n`);
  else ctx.out(`${result.name}\n`);
  return EXIT.ok;
}
