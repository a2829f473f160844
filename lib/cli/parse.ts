/**
 * Reading the command line into an Invocation: the command and its raw option values, as yargs
 * would give them. Two readers built from one table (spec.ts): a quick one for the common case,
 * and yargs for everything else (help, --version, usage errors). Values are checked and converted
 * afterwards, once, in options.ts.
 */
import { parseArgs } from 'node:util';
import type { Argv } from 'yargs';
import { PGPAIR_VERSION } from '../core/meta.js';
import { ALL_OPTIONS, COMMANDS, GLOBAL_OPTIONS, optionsOf, type OptionSpec } from './spec.js';
import { unknownCommandMessage } from './suggest.js';
import { TOP_HELP } from './help-text.js';

/** A command and its option values as read: strings, booleans, or arrays where an option came twice. */
export type Invocation = { command: string; argv: Record<string, unknown> };

/**
 * The common case without yargs: a known command with known options, each
 * given once, in the forms node:util's parseArgs reads exactly as yargs does.
 * Anything else (help, --version, a typo, a missing argument, --no-…, an
 * option given twice, `--`) returns null and goes to yargs, which alone
 * writes help and usage errors. Importing yargs and rendering its help costs
 * ~100 ms of every start (bench/RESULTS.md); a no-op `up` at deploy time
 * should not pay for it. test/unit/cli-args.test.ts holds both parsers to
 * the same result.
 */
export function quickParse(args: readonly string[]): Invocation | null {
  if (args.includes('--')) return null;
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(ALL_OPTIONS)) options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', ...(spec.alias ? { short: spec.alias } : {}) };
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options; strict: true; allowPositionals: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: true, tokens: true });
  } catch {
    return null;
  }
  const [name, ...rest] = parsed.positionals;
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return null;
  if (rest.length > (command.positional ? (command.positional.variadic ? Infinity : 1) : 0) || (command.positional?.required && rest.length === 0)) return null;
  const allowed: Record<string, OptionSpec> = optionsOf(command);
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    // yargs reads a lone `-` (and other values that start with one) in its own ways.
    if (token.kind === 'positional' && token.value.startsWith('-')) return null;
    if (token.kind !== 'option') continue;
    if (token.value?.startsWith('-')) return null;
    // A repeated option is an array to yargs; an inline value (--json=false) on a boolean is read differently.
    if (seen.has(token.name) || !(token.name in allowed) || (allowed[token.name]!.type === 'boolean' && token.value !== undefined)) return null;
    seen.add(token.name);
  }
  const argv: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(allowed)) {
    const value = (parsed.values as Record<string, string | boolean | undefined>)[key];
    if (value === undefined) {
      if (spec.default !== undefined) argv[key] = spec.default;
      continue;
    }
    if (spec.choices && !spec.choices.includes(String(value))) return null;
    argv[key] = value;
  }
  if (command.positional && rest[0] !== undefined) argv[command.positional.name] = command.positional.variadic ? rest : rest[0];
  return { command: command.name, argv };
}

function addOptions(y: Argv, options: Record<string, OptionSpec>): Argv {
  for (const [name, spec] of Object.entries(options)) y = y.option(name, { ...spec });
  return y;
}

async function buildParser(args: string[], record: (inv: Invocation) => void, fail: (message: string) => void, width: number): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  const handler = (command: string) => (argv: Record<string, unknown>) => record({ command, argv });
  let parser = addOptions(yargs(args), GLOBAL_OPTIONS).scriptName('pgpair').usage(TOP_HELP.usage);
  for (const command of COMMANDS) {
    const p = command.positional;
    parser = parser.command(
      p ? `${command.name} ${p.required ? `<${p.name}${p.variadic ? '..' : ''}>` : `[${p.name}${p.variadic ? '..' : ''}]`}` : command.name,
      command.describe,
      (y) => {
        let withOptions = addOptions(y, command.options);
        for (const [line, what] of command.examples) withOptions = withOptions.example(line, what);
        return p ? withOptions.positional(p.name, { type: 'string', describe: p.describe }) : withOptions;
      },
      handler(command.name),
    );
  }
  for (const [line, what] of TOP_HELP.examples) parser = parser.example(line, what);
  return parser
    .demandCommand(1, `Name a command: ${COMMANDS.map((c) => c.name).join(', ')}.`)
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(PGPAIR_VERSION)
    .epilogue(TOP_HELP.epilogue)
    .wrap(width)
    .exitProcess(false)
    .fail((message, error) => {
      fail(message ?? error?.message ?? 'invalid command line');
    });
}

/** The first word of the command line that is not an option or an option's value: the command, if any. */
function commandWord(args: readonly string[]): string | undefined {
  const all = ALL_OPTIONS;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return args[i + 1];
    if (!arg.startsWith('-') || arg === '-') return arg;
    if (arg.includes('=')) continue;
    const name = arg.replace(/^-+/, '');
    const spec = all[name] ?? Object.values(all).find((o) => o.alias === name);
    if (spec && spec.type !== 'boolean') i++;
  }
  return undefined;
}

/**
 * `--lock-timeout -5s`: yargs would read `-5s` as the flags -5 and -s and say "Unknown arguments: 5, s".
 * A value after an option that takes one, starting with "-" and not itself an option, gets this instead.
 */
function dashValueMessage(args: readonly string[]): string | null {
  const all = ALL_OPTIONS;
  const isOption = (word: string) => /^--?[a-z]/i.test(word) && (word.replace(/^-+/, '').split('=')[0]! in all || Object.values(all).some((o) => o.alias === word.replace(/^-+/, '')) || ['help', 'h', 'version'].includes(word.replace(/^-+/, '')));
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === '--') break;
    const name = /^--([a-z-]+)$/.exec(args[i]!)?.[1];
    const next = args[i + 1]!;
    if (name && all[name] && all[name].type !== 'boolean' && next.startsWith('-') && next !== '-' && !/^-\d+(\.\d+)?$/.test(next) && !isOption(next)) {
      return `--${name} ${next}: a value that starts with "-" must be written --${name}=${next}.`;
    }
  }
  return null;
}

/**
 * yargs' reading of the command line: the invocation, or the text of --help /
 * --version (output), or a usage error.
 */
export async function parseWithYargs(args: string[], width = 100): Promise<{ invocation: Invocation | null; usageFailure: string | null; output: string }> {
  const word = commandWord(args);
  const unknown = (word === undefined ? null : unknownCommandMessage(word)) ?? dashValueMessage(args);
  if (unknown !== null) return { invocation: null, usageFailure: unknown, output: '' };
  let invocation: Invocation | null = null;
  let usageFailure: string | null = null;
  let output = '';
  const parser = await buildParser(
    args,
    (inv) => {
      invocation = inv;
    },
    (message) => {
      usageFailure = message;
    },
    width,
  );
  try {
    await parser.parseAsync(args, {}, (_err, _argv, text) => {
      output = text;
    });
  } catch (error) {
    usageFailure ??= error instanceof Error ? error.message : String(error);
  }
  return { invocation, usageFailure, output };
}
