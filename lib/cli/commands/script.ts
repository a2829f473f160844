/**
 * `up`, `down` and `stamp` with `--sql`: print the psql script of the same run, and only the
 * script, on stdout (or one JSON document with it under --json). With --from no database is read.
 */
import { ConfigError, InterruptedError, PgpairError } from '../../core/errors.js';
import { showsPassword, showsPasswordWindow } from '../../core/mask.js';
import { DEFAULT_TABLE, scriptStream } from '../../run/migrator.js';
import type { CommandContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

/** The reader of a script went away before it was written whole (`pgpair up --sql | head`). */
class OutputClosedError extends PgpairError {
  constructor(reason: string) {
    super('E_OUTPUT_CLOSED', `stdout was closed (${reason}) before the script was written whole, so what was printed is incomplete; nothing was run. Write it to a file (> script.sql) to keep all of it.`);
  }
}

/** The command line a script says it came from, for its header: the options that shape it, never a URL. */
function requestLine(ctx: CommandContext): string {
  const { options } = ctx;
  return [
    'pgpair',
    options.command,
    ...(options.targetText !== undefined ? [options.targetText] : []),
    ...(options.steps !== undefined ? ['--steps', String(options.steps)] : []),
    ...(options.allowOutOfOrder ? ['--allow-out-of-order'] : []),
    ...(ctx.table !== DEFAULT_TABLE ? ['--table', ctx.table] : []),
    ...(options.createSchema ? ['--create-schema'] : []),
    '--sql',
    ...(options.from !== undefined ? ['--from', options.from] : []),
  ].join(' ');
}

/**
 * Prints the script as it is made: the COPY data of a large file is never held whole. The
 * script is written as is, never scrubbed (masking would corrupt it), so it is refused if it
 * would show the database password. `url` is absent with --from (files only).
 */
export async function scriptCommand(ctx: CommandContext & { url?: string }): Promise<ExitCode> {
  const { options, io, signal } = ctx;
  const { steps, target, from } = options;
  const result = await scriptStream({
    command: options.command as 'up' | 'down' | 'stamp',
    dir: ctx.dir,
    table: ctx.table,
    logger: ctx.logger(),
    ...(options.connectTimeoutMs !== undefined ? { connectTimeout: options.connectTimeoutMs / 1000 } : {}),
    signal,
    ...(ctx.url !== undefined ? { url: ctx.url } : {}),
    ...(target !== undefined ? { target } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(from !== undefined ? { from } : {}),
    allowOutOfOrder: options.allowOutOfOrder,
    ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    ...(options.createSchema ? { createSchema: true } : {}),
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
    request: requestLine(ctx),
  });
  const secrets = ctx.secrets.list;
  if (secrets.length > 0 && (await showsAny(result.pieces(), secrets))) {
    throw new ConfigError('The script would show the database password (a migration file holds it), so it is not printed. Move the secret out of the migration files.');
  }
  const { plan } = result;
  // A reader that stops reading (a pager left open) must not keep a signal from ending the run.
  const interrupted = () => new InterruptedError(String(signal.reason), null, `Interrupted by ${String(signal.reason)} while printing the script; what was printed is incomplete, and nothing was run.`);
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(interrupted());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  const write = async (piece: string | Uint8Array) => {
    if (signal.aborted) throw interrupted();
    if (io.stdout(piece) === false) await Promise.race([io.drain?.(), aborted]);
    const closed = io.stdoutClosed?.();
    if (closed) throw new OutputClosedError(closed);
  };
  if (options.json) {
    const steps = plan.steps.map((s) => (s.action === 'unstamp' ? { action: s.action, version: s.row.version, name: s.row.name } : { action: s.action, version: s.migration.version, name: s.migration.name }));
    // The document around the script, which is its last field: JSON.stringify escapes a string one character at a time.
    const document = JSON.stringify({ ok: true, command: plan.command, from: plan.from, to: plan.to, steps, script: '' }, null, 2);
    const at = document.lastIndexOf('""') + 1;
    await write(document.slice(0, at));
    const decoder = new TextDecoder();
    for await (const piece of result.pieces()) {
      const text = typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true });
      await write(JSON.stringify(text).slice(1, -1));
    }
    await write(`${document.slice(at)}\n`);
  } else {
    for await (const piece of result.pieces()) await write(piece);
  }
  return EXIT.ok;
}

/**
 * Whether the text that `pieces` make up shows one of the passwords as the output scrubber would
 * mask it (showsPassword: as a credential, or a distinctive one anywhere), also across two
 * pieces. The script is printed as written, so it is refused instead: a common-word password
 * (`postgres`) in a migration's text is not the password shown, and does not refuse it.
 */
async function showsAny(pieces: AsyncIterable<string | Uint8Array>, passwords: readonly string[]): Promise<boolean> {
  const keep = Math.max(...passwords.map(showsPasswordWindow));
  const decoder = new TextDecoder();
  let tail = '';
  for await (const piece of pieces) {
    const text = tail + (typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true }));
    if (passwords.some((password) => showsPassword(text, password))) return true;
    tail = text.slice(-keep);
  }
  return false;
}
