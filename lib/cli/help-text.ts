/**
 * --help and --version without yargs. yargs renders the help (parse.ts); loading it costs
 * ~100 ms of a 70 ms process (bench/RESULTS.md, "Startup"). help-snapshot.ts holds the
 * text yargs renders at width 100 in English, for the top level and each command, with a
 * fingerprint of everything that text is made from (spec.ts, the strings below, the
 * version). When the fingerprint still matches, the snapshot is printed; when spec.ts
 * changed and the snapshot was not written again, or the terminal is narrower, or the
 * locale would make yargs translate, yargs renders it as before: never a stale text.
 * test/unit/help-snapshot.test.ts holds the snapshot equal to yargs' output;
 * `node --import tsx test/helpers/write-help-snapshot.ts` writes it again.
 */
import { PGPAIR_VERSION } from '../core/meta.js';
import { HELP_SNAPSHOT } from './help-snapshot.js';
import { COMMANDS, GLOBAL_OPTIONS } from './spec.js';

/** The top-level help's own lines (the commands and options come from spec.ts). */
export const TOP_HELP = {
  usage: 'pgpair: PostgreSQL migrations in plain SQL, as NNNN_slug.up.sql / NNNN_slug.down.sql pairs.\n\nUsage: pgpair <command> [options]',
  examples: [
    ['pgpair create "add users table"', 'write sql/0001_add_users_table.up.sql and .down.sql'],
    ['pgpair up', 'apply every pending migration; the last line names the database'],
    ['pgpair status', 'what is applied, pending or changed'],
  ] as [string, string][],
  epilogue:
    'pgpair COMMAND --help shows the options and examples of one command.\nExit codes: 0 success; 1 failure at run time (SQL error, connection, lock timeout); 2 usage or configuration error; 3 verification failed; 130/143 ended by SIGINT/SIGTERM.\nDocs: README.md',
};

/** The width the snapshot was rendered at (main.ts asks yargs for min(100, terminal columns)). */
export const SNAPSHOT_WIDTH = 100;

/** FNV-1a over what the help text is made from: a staleness check, not a security boundary. */
export function helpFingerprint(): string {
  const source = JSON.stringify([PGPAIR_VERSION, SNAPSHOT_WIDTH, TOP_HELP, GLOBAL_OPTIONS, COMMANDS]);
  let hash = 0x811c9dc5;
  for (let i = 0; i < source.length; i++) {
    hash ^= source.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `${source.length.toString(16)}-${hash.toString(16).padStart(8, '0')}`;
}

/** yargs' own choice of locale (yargs-factory kGuessLocale): the snapshot is the English text. */
function english(env: Record<string, string | undefined>): boolean {
  const locale = (env.LC_ALL || env.LC_MESSAGES || env.LANG || env.LANGUAGE || 'en_US').replace(/[.:].*/, '');
  return /^(en([_-].*)?|C|POSIX)$/.test(locale);
}

/** The snapshot key for a help request: '' for the top level, a command's name, or null. */
function helpKey(args: readonly string[]): string | null {
  const isHelp = (word: string | undefined) => word === '--help' || word === '-h';
  if (args.length === 1 && isHelp(args[0])) return '';
  if (args.length === 2 && isHelp(args[1]) && COMMANDS.some((c) => c.name === args[0])) return args[0]!;
  return null;
}

/**
 * The text of `--version`, `--help`, `-h`, `COMMAND --help`, written exactly as yargs would
 * write it, or null: every other command line (and help in another width or language) goes on to yargs.
 */
export function quickText(args: readonly string[], width: number, env: Record<string, string | undefined>): string | null {
  if (args.length === 1 && args[0] === '--version') return PGPAIR_VERSION;
  const key = helpKey(args);
  if (key === null || width !== SNAPSHOT_WIDTH || !english(env) || HELP_SNAPSHOT.fingerprint !== helpFingerprint()) return null;
  return HELP_SNAPSHOT.texts[key] ?? null;
}
