/**
 * Where the CLI writes, and what its output may show. Everything the CLI writes passes through
 * a presenter: credentials masked (lib/core/mask.ts) and control characters escaped.
 */
import { urlPassword } from '../db/url.js';
import { escapeControls, maskedJson, maskSecrets } from '../core/mask.js';

export interface Io {
  /** Writes to stdout; false: wait for `drain` before writing more. */
  stdout: (text: string | Uint8Array) => boolean | void;
  /** Resolves when stdout takes more, or when it was closed. */
  drain?: () => Promise<void>;
  /** Why stdout can take nothing more (its reader went away: EPIPE), or null. */
  stdoutClosed?: () => string | null;
  /** Output written but not yet taken by the reader (a pager that stopped reading). */
  stdoutPending?: () => number;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
}

/** The process's own stdout, stderr and environment. */
export function defaultIo(): Io {
  let closed: string | null = null;
  // A reader that goes away (EPIPE) must neither crash the run nor leave it waiting for a drain.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    closed ??= error.code ?? error.message;
    process.stdout.emit('drain');
  });
  return {
    stdout: (text) => (closed ? true : process.stdout.write(text)),
    drain: () => (closed ? Promise.resolve() : new Promise((resolve) => process.stdout.once('drain', resolve))),
    stdoutClosed: () => closed,
    stdoutPending: () => process.stdout.writableLength,
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  };
}

/**
 * The passwords a command line and environment hold (--url, DATABASE_URL, PGPASSWORD), read from
 * the raw arguments so that even a command line neither parser accepts (a usage error that echoes
 * a value) is masked. A word after `--url` is taken for a URL whatever it is: masking too much is safe.
 */
export function givenPasswords(args: readonly string[], env: Record<string, string | undefined>): string[] {
  const urls = [env.DATABASE_URL];
  args.forEach((arg, index) => {
    if (arg === '--url') urls.push(args[index + 1] ?? '');
    else if (arg.startsWith('--url=')) urls.push(arg.slice('--url='.length));
  });
  const found = urls.map((url) => (url ? urlPassword(url) : null));
  return [...new Set([...found, env.PGPASSWORD].filter((p): p is string => Boolean(p)))];
}

/**
 * The passwords output must not show: those given on the command line, then each URL the run
 * learns of (a --env-file's DATABASE_URL, the resolved URL). `add` is called before a URL is
 * used anywhere, so that a malformed one is refused with its password masked.
 */
export class Secrets {
  #list: string[];
  constructor(initial: readonly string[]) {
    this.#list = [...initial];
  }
  get list(): readonly string[] {
    return this.#list;
  }
  /** Adds the password of `url` and PGPASSWORD; true when the list grew. */
  add(url: string | undefined, env: Record<string, string | undefined>): boolean {
    const found = [url ? urlPassword(url) : null, env.PGPASSWORD].filter((p): p is string => Boolean(p) && !this.#list.includes(p!));
    this.#list = [...new Set([...this.#list, ...found])];
    return found.length > 0;
  }
}

/**
 * Human text: credentials masked and control characters escaped, so that a name from a file or
 * the database cannot drive the terminal. A JSON document (under --json) is parsed and written
 * again with its string values masked, so that it always parses and keeps every other value;
 * JSON escaping shows controls.
 */
export function presenter(passwords: () => readonly string[]): { text: (text: string) => string; json: (text: string) => string } {
  const text = (value: string) => escapeControls(maskSecrets(value, passwords()));
  return {
    text,
    json: (value) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        return text(value);
      }
      return `${maskedJson(parsed, passwords(), /^[[{]\n/.test(value) ? 2 : undefined)}${value.endsWith('\n') ? '\n' : ''}`;
    },
  };
}
