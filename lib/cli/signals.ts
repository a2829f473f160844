/** SIGINT and SIGTERM during a command: the first one stops the run cleanly, a second one at once. */
import { SIGNAL_EXIT } from './exit-codes.js';
import type { Io } from './io.js';

export interface Interruptions {
  /** Aborted by the first SIGINT or SIGTERM, with the signal's name as the reason. */
  signal: AbortSignal;
  /** The first signal that came, if one did. */
  received: 'SIGINT' | 'SIGTERM' | null;
  /** The run uses the embedded database (for the message of a second signal). */
  embedded: boolean;
  /** Removes the handlers; called once the command has ended. */
  dispose: () => void;
}

/**
 * The first SIGINT/SIGTERM aborts the run: every phase (reading files,
 * connecting, waiting for the lock, a statement, printing) gives up promptly,
 * the statement in progress is cancelled on the server and its transaction
 * rolled back, and the run exits 130/143. A second one exits at once.
 */
export function interruptions(io: Io): Interruptions {
  const controller = new AbortController();
  const state: Interruptions = {
    signal: controller.signal,
    received: null,
    embedded: false,
    dispose: () => {
      for (const [name, handler] of handlers) process.off(name, handler);
    },
  };
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const handler = () => {
      if (state.received) {
        const after = state.embedded
          ? 'the embedded database rolls back the unfinished transaction when it is next opened, and its lock file is then taken over as stale'
          : 'the server rolls back an open transaction and releases the migration lock when it notices the session is gone (a statement already running may first run to its end)';
        io.stderr(`pgpair: second ${name}, exiting at once without cleaning up; ${after}. Run pgpair status to see where the database stands.\n`);
        process.exit(SIGNAL_EXIT[name]);
      }
      state.received = name;
      controller.abort(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return state;
}
