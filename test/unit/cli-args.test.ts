import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseWithYargs, quickParse } from '../../lib/cli/parse.js';

/** The keys a command reads: long option names and positionals (yargs adds aliases, camelCase copies, _ and $0). */
function meaningful(argv: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(argv).filter(([key]) => key !== '_' && key !== '$0' && key.length > 1 && !/[A-Z]/.test(key)));
}

const TAKEN = [
  ['up'],
  ['up', '0003'],
  ['up', '--steps', '2', '--url', 'postgres://u:p@h/db'],
  ['up', '--steps=2', '--allow-out-of-order', '--json', '-q'],
  ['--url', 'pglite:memory', 'up', 'head', '--dir', 'migrations', '--table', 's.t'],
  ['up', '--sql', '--from', 'base', '--dir', 'x'],
  ['up', '--sql', '--from', '0002', '--statement-timeout', '30s', '--migration-lock-timeout', '5s'],
  ['down'],
  ['down', 'base', '--lock-timeout', '1s', '--connect-timeout', '2s'],
  ['down', '--steps', '3', '--sql'],
  ['status', '--json'],
  ['status', '--log-level', 'debug', '--env-file', '.env.test'],
  ['verify', '--strict'],
  ['stamp', 'head'],
  ['stamp', '0002', '--sql', '--from', 'base'],
  ['create', 'add_users', '--dir', 'sql'],
  ['load'],
  ['load', 'schema.sql', '--stamp', 'head'],
  ['repair', '--applied', '0003'],
  ['repair', '--accept', '7', '--quiet'],
  ['up', '--url='],
  ['down', '0002', '--table', 'public.history', '-q', '--json'],
  // Checked once, in lib/cli/options.ts, whichever parser read them.
  ['up', '--steps', 'two'],
  ['up', '+2', '--log-format', 'json'],
  ['create', 'add', 'comments', 'table', '--timestamp'],
  ['current', '--url', 'postgres://h/db'],
  ['history', '--limit', '5', '--json'],
  ['wait', '--timeout', '30s', '--connect-timeout', '2s'],
];

const LEFT_TO_YARGS = [
  [],
  ['--help'],
  ['-h'],
  ['up', '--help'],
  ['--version'],
  ['upp'],
  ['up', '--stepz', '2'],
  ['status', '--steps', '2'],
  ['up', 'a', 'b'],
  ['stamp'],
  ['create'],
  ['up', '--steps', '-1'],
  ['down', '-1'],
  ['up', '--url', 'a', '--url', 'b'],
  ['create', '--url', 'postgres://h/db', 'x'],
  ['current', '--lock-timeout', '1s'],
  ['up', '--json=false'],
  ['up', '--no-json'],
  ['up', '--dir', 'a', '--dir', 'b'],
  ['up', '--log-level', 'loud'],
  ['up', '--', '--json'],
  ['up', '--url'],
  ['up', '--dir', '-'],
  ['up', '-'],
  ['up', '--dir=-x'],
];

describe('command line: the quick parser and yargs', () => {
  for (const args of TAKEN) {
    it(`reads ${JSON.stringify(args)} without yargs, exactly as yargs does`, async () => {
      const quick = quickParse(args);
      assert.ok(quick, 'the quick parser takes it');
      const yargs = await parseWithYargs(args);
      assert.equal(yargs.usageFailure, null);
      assert.ok(yargs.invocation);
      assert.equal(quick.command, yargs.invocation.command);
      assert.deepEqual(meaningful(quick.argv), meaningful(yargs.invocation.argv));
    });
  }

  for (const args of LEFT_TO_YARGS) {
    it(`leaves ${JSON.stringify(args)} to yargs (help, version, usage errors, unusual forms)`, () => {
      assert.equal(quickParse(args), null);
    });
  }
});

describe('command line: each command takes only the options it uses', () => {
  for (const args of [['create', 'x', '--url', 'postgres://h/db'], ['create', 'x', '--lock-timeout', '1s'], ['current', '--lock-timeout', '1s'], ['wait', '--table', 't'], ['status', '--steps', '2']]) {
    it(`refuses ${JSON.stringify(args)} as a usage error`, async () => {
      const yargs = await parseWithYargs(args);
      assert.match(yargs.usageFailure ?? '', /Unknown argument/);
    });
  }

  it('an unknown command suggests the nearest one, wherever it stands among the options', async () => {
    assert.match((await parseWithYargs(['upp'])).usageFailure ?? '', /Unknown command "upp": did you mean up\?/);
    assert.match((await parseWithYargs(['--dir', 'sql', 'histroy'])).usageFailure ?? '', /did you mean history\?/);
    assert.match((await parseWithYargs(['stauts', '--json'])).usageFailure ?? '', /did you mean status\?/);
    assert.match((await parseWithYargs(['upgrade', 'head'])).usageFailure ?? '', /Unknown command "upgrade": did you mean up\? \(pgpair up is what other tools call upgrade\.\)/);
    assert.match((await parseWithYargs(['revision', '-m', 'x'])).usageFailure ?? '', /did you mean create\?/);
    const far = (await parseWithYargs(['frobnicate'])).usageFailure ?? '';
    assert.match(far, /Unknown command "frobnicate"\. The commands are up, down, status/);
  });
});

describe('the database a result names', () => {
  it('is user@host:port/db for every form of URL, never with the password', async () => {
    const { describeDatabase } = await import('../../lib/cli/output.js');
    const cases: [string, 'option' | 'PG variables' | 'embedded default', Record<string, string>, string][] = [
      ['postgres://app:s3cret@db.internal:6432/prod', 'option', {}, 'app@db.internal:6432/prod'],
      ['postgresql://app@db/prod', 'option', {}, 'app@db:5432/prod'],
      ['host=db.internal port=6432 user=app password=s3cret dbname=prod', 'option', {}, 'app@db.internal:6432/prod'],
      ['postgres://', 'PG variables', { PGHOST: 'h', PGUSER: 'me', PGDATABASE: 'd', PGPASSWORD: 's3cret' }, 'me@h:5432/d (from the PG* variables)'],
      ['pglite:.pgpair/dev', 'embedded default', {}, 'the embedded development database .pgpair/dev (no DATABASE_URL set: pass --url or set DATABASE_URL to use a server)'],
      ['pglite:data', 'option', {}, 'the embedded database pglite:data'],
    ];
    for (const [url, source, env, expected] of cases) assert.equal(describeDatabase({ url, source }, env), expected);
    assert.doesNotMatch(describeDatabase({ url: 'postgres://u:s3cret@/db?host=/tmp', source: 'option' }), /s3cret/);
  });
});

describe('command line: every option is checked and converted once, in readOptions', () => {
  const read = async (args: string[]) => {
    const { outputOptions, readOptions } = await import('../../lib/cli/options.js');
    const invocation = quickParse(args) ?? (await parseWithYargs(args)).invocation;
    assert.ok(invocation, `${args.join(' ')} parses`);
    return readOptions(invocation, outputOptions(invocation.argv));
  };

  it('reads each option into one typed value, whichever parser read it', async () => {
    for (const args of [
      ['up', '+2', '--steps', '3', '--lock-timeout', '2min', '--connect-timeout', '0', '--statement-timeout', '1.5s', '--migration-lock-timeout=500ms', '--allow-out-of-order', '--create-schema', '--table', 's.t', '--dir', 'm'],
      ['up', '+2', '--steps', '3', '--lock-timeout', '2min', '--connect-timeout', '0', '--statement-timeout', '1.5s', '--migration-lock-timeout=500ms', '--allow-out-of-order', '--create-schema', '--table', 's.t', '--dir', 'm', '--', '--json'],
    ]) {
      const options = await read(args);
      assert.deepEqual(
        { target: options.target, targetText: options.targetText, steps: options.steps, lock: options.lockTimeoutMs, connect: options.connectTimeoutMs, statement: options.statementTimeoutMs, ddl: options.migrationLockTimeoutMs },
        { target: { relative: 2 }, targetText: '+2', steps: 3, lock: 120_000, connect: 0, statement: 1500, ddl: 500 },
      );
      assert.deepEqual([options.allowOutOfOrder, options.createSchema, options.sql, options.table, options.dir, options.json], [true, true, false, 's.t', 'm', false]);
    }
    const created = await read(['create', 'add', 'comments', 'table', '--timestamp', '-q']);
    assert.deepEqual([created.message, created.timestamp, created.quiet, created.logLevel], ['add comments table', true, true, 'error']);
    const repaired = await read(['repair', '--applied', '0003', '--log-level', 'debug', '--json']);
    assert.deepEqual([repaired.applied, repaired.logLevel, repaired.json], ['0003', 'debug', true]);
  });

  it('refuses every single-valued option of every command when given twice, naming it', async () => {
    const { COMMANDS, optionsOf } = await import('../../lib/cli/spec.js');
    const { outputOptions, readOptions } = await import('../../lib/cli/options.js');
    for (const command of COMMANDS) {
      const names = Object.entries(optionsOf(command)).filter(([, o]) => o.type === 'string').map(([name]) => name);
      for (const name of names) {
        const argv = { [name]: ['a', 'b'] };
        // Fleets: a repeated --url names several targets, for the commands that run over a fleet.
        if (name === 'url' && command.options.targets !== undefined) {
          assert.deepEqual(readOptions({ command: command.name, argv }, outputOptions(argv)).urls, ['a', 'b'], `${command.name} --url twice`);
          continue;
        }
        assert.throws(() => readOptions({ command: command.name, argv }, outputOptions(argv)), new RegExp(`^UsageError: --${name} was given 2 times; give it once\\.$`), `${command.name} --${name}`);
      }
    }
  });

  it('refuses bad values with the option named, before anything is read', async () => {
    await assert.rejects(read(['up', '--steps', 'two']), /--steps must be a whole number of at least 1: two is not a whole number/);
    await assert.rejects(read(['up', '--lock-timeout', '5x']), /Invalid --lock-timeout "5x"/);
    await assert.rejects(read(['up', '--connect-timeout', '2h']), /--connect-timeout 2h is too long: the most it takes is 1h/);
    await assert.rejects(read(['down', 'nope']), /Invalid target "nope"/);
    await assert.rejects(read(['up', '--from', 'base']), /--from only goes with --sql/);
    await assert.rejects(read(['up', '--dir=']), /--dir needs a value/);
  });
});
