/** postgrator-cli (Node, node-postgres), run as `node …/postgrator-cli/index.js`. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

function cliPath() {
  return join(dirname(require.resolve('postgrator-cli/package.json')), 'index.js');
}

function postgrator(ctx, args) {
  const t = ctx.target;
  return {
    cmd: process.execPath,
    args: [
      cliPath(),
      ...args,
      '--no-config',
      '--driver', 'pg',
      '--host', t.host,
      '--port', String(t.port),
      '--database', t.database,
      '--username', t.user,
      ...(t.password ? ['--password', t.password] : []),
      '--migration-pattern', `${ctx.dir}/*`,
    ],
    cwd: ctx.workDir,
  };
}

/** @type {import('./index.js').Tool} */
export default {
  id: 'postgrator',
  label: 'postgrator-cli',
  notes: [
    '`postgrator migrate` (to max) and `postgrator 0` (revert all), with default settings. Each migration file is one multi-statement query (an implicit transaction), and its history row is written by a second query afterwards: the two are not atomic. With checksum validation on (the default), every `up` first reads the checksum of every applied migration, one query each.',
  ],
  async unavailable() {
    try {
      cliPath();
      require.resolve('pg');
      return null;
    } catch (error) {
      return `postgrator-cli or pg is not installed: ${error instanceof Error ? error.message : String(error)}`;
    }
  },
  async version() {
    const cli = require('postgrator-cli/package.json').version;
    // The library as postgrator-cli resolves it.
    const lib = createRequire(require.resolve('postgrator-cli/package.json'))('postgrator/package.json').version;
    return `postgrator-cli ${cli} (postgrator ${lib})`;
  },
  layout: (migrations) =>
    Object.fromEntries(migrations.flatMap((m) => [[`${m.version}.do.${m.slug}.sql`, m.up], [`${m.version}.undo.${m.slug}.sql`, m.down]])),
  apply: (ctx) => [postgrator(ctx, ['migrate'])],
  noop: (ctx) => [postgrator(ctx, ['migrate'])],
  status: () => ({ na: 'postgrator-cli has no status command (only migrate and drop-schema)' }),
  revert: (ctx) => [postgrator(ctx, ['0'])],
};
