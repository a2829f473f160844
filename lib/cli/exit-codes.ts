/**
 * How the process ends: the one place that turns an outcome into an exit code (SPEC section 5).
 * The library's errors carry a stable `code`; this table says what each means to a shell.
 */
import { PgpairError } from '../core/errors.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, verification: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** 128 + the signal's number, as shells expect of a process a signal ended. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** The exit code of a run: ExitCode, or 130/143 when SIGINT/SIGTERM ended it. */
export type CliExitCode = ExitCode | (typeof SIGNAL_EXIT)[keyof typeof SIGNAL_EXIT];

/**
 * Every code pgpair throws, and its exit code: 2 for what the user gives (command line,
 * configuration, files, names), 3 for files and history that disagree, 1 for what goes wrong
 * at run time. test/unit/exit-codes.test.ts fails for an error class whose code is missing here.
 */
export const EXIT_CODE_OF: Readonly<Record<string, ExitCode>> = {
  // What the user gave cannot be used: fix it and run again.
  E_USAGE: EXIT.usage,
  E_CONFIG: EXIT.usage,
  E_DIRECTORY: EXIT.usage,
  E_TARGET: EXIT.usage,
  E_EMBEDDED_DIRECTORY: EXIT.usage,
  E_HISTORY_TABLE: EXIT.usage,
  // `pgpair load` into a database that already holds objects (lib/run/load.ts).
  E_NOT_EMPTY: EXIT.usage,
  // The URL goes through a transaction-mode pooler: use the direct URL (lib/run/pooler.ts).
  E_POOLER: EXIT.usage,
  E_VERIFY: EXIT.verification,
  // `up --lint error` refused migrations with error-level lint findings (lib/run/lint.ts).
  E_LINT: EXIT.verification,
  // At run time: the database, the lock, a migration's SQL, a signal, the output.
  E_FILE_CHANGED: EXIT.failure,
  E_IRREVERSIBLE: EXIT.failure,
  E_LOCK_TIMEOUT: EXIT.failure,
  E_CONNECTION: EXIT.failure,
  E_MIGRATION_FAILED: EXIT.failure,
  E_LOCK_RELEASED: EXIT.failure,
  E_TRANSACTION_ENDED: EXIT.failure,
  E_INTERRUPTED: EXIT.failure,
  E_DATABASE: EXIT.failure,
  // The reader of a --sql script went away (lib/cli/commands/script.ts).
  E_OUTPUT_CLOSED: EXIT.failure,
  // A test template stayed busy (sessions connected to it, or another process building it) past its bound (lib/run/template.ts).
  E_TEMPLATE_BUSY: EXIT.failure,
};

/** The exit code for an error a command ended with: its code's, else 1 (an unknown code, or not a PgpairError). */
export function exitCodeOf(error: unknown): ExitCode {
  if (!(error instanceof PgpairError)) return EXIT.failure;
  return Object.hasOwn(EXIT_CODE_OF, error.code) ? EXIT_CODE_OF[error.code]! : EXIT.failure;
}
