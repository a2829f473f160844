/**
 * The CLI's entry: read the command line (parse.ts), run the command (run.ts) under the
 * signal handlers (signals.ts), and end with its exit code (exit-codes.ts). lib/cli is the
 * only code that writes to stdout or decides an exit code.
 */
import { escapeControls, maskSecrets } from '../core/mask.js';
import { EXIT, SIGNAL_EXIT, type CliExitCode } from './exit-codes.js';
import { defaultIo, givenPasswords, type Io } from './io.js';
import { quickText } from './help-text.js';
import { parseWithYargs, quickParse, type Invocation } from './parse.js';
import { interruptions } from './signals.js';

export type { CliExitCode } from './exit-codes.js';

export async function main(args: string[], io: Io = defaultIo()): Promise<CliExitCode> {
  const width = Math.min(100, process.stdout.columns ?? 100);
  // --version and --help: the text yargs would write, without loading yargs (help-text.ts).
  const text = quickText(args, width, io.env);
  if (text !== null) {
    io.stdout(`${text}\n`);
    return EXIT.ok;
  }
  const passwords = givenPasswords(args, io.env);
  const quick = quickParse(args);
  if (quick) return dispatch(quick, io, passwords);
  const { invocation, usageFailure, output } = await parseWithYargs(args, width);
  if (usageFailure !== null) {
    // yargs echoes the values it refuses (a URL given where a level goes): masked, controls escaped.
    // A libpq string given unquoted reaches yargs as several arguments.
    const split = /Unknown argument/.test(usageFailure) && args.some((arg) => /^[A-Za-z_]\w*=/.test(arg));
    const hint = split ? "A key=value connection string is one argument: quote it, e.g. --url 'host=db dbname=app user=me'.\n" : '';
    io.stderr(escapeControls(maskSecrets(`pgpair: ${usageFailure}\n${hint}Run pgpair --help for the commands and options.\n`, passwords)));
    return EXIT.usage;
  }
  if (!invocation) {
    // --help or --version: yargs produced the text.
    if (output) io.stdout(`${output}\n`);
    return EXIT.ok;
  }
  return dispatch(invocation, io, passwords);
}

async function dispatch(invocation: Invocation, io: Io, passwords: readonly string[]): Promise<CliExitCode> {
  const stop = interruptions(io);
  try {
    // Imported here: --version and --help need none of the commands' modules.
    const { runInvocation } = await import('./run.js');
    const code = await runInvocation(invocation, io, stop, passwords);
    const closed = io.stdoutClosed?.();
    if (closed && code === EXIT.ok) io.stderr(`pgpair: stdout was closed (${closed}) before all of the output was written; the command itself completed.\n`);
    if (!stop.received) return code;
    if (code === EXIT.ok) io.stderr(`pgpair: ${stop.received} arrived as the command finished; its work is complete, as printed above.\n`);
    // Output that a reader no longer takes would keep the process alive: the signal says stop now.
    if ((io.stdoutPending?.() ?? 0) > 0) process.exit(SIGNAL_EXIT[stop.received]);
    return SIGNAL_EXIT[stop.received];
  } finally {
    stop.dispose();
  }
}
