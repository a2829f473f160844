/** What went wrong with a postgres.js session or connection attempt, as pgpair reports it, credentials masked. */
import { ConnectionError, PgpairError } from '../../core/errors.js';
import { maskSecrets } from '../../core/mask.js';
import { cannotConnect, SOCKET_REASONS, socketReason } from '../dial.js';
import { pgErrorFields } from '../errors.js';

/**
 * A driver or server message with credentials masked: a quoted connection string, and the
 * password where it stands as one (lib/mask.ts), never every occurrence of a common word
 * (a password `postgres` must not turn `database "postgres"` into `database "***"`).
 */
export function scrub(text: string, secret: string | null): string {
  return maskSecrets(text, secret ? [secret] : []);
}

/** What a socket-level failure (reset, closed, timeout) of a ready session was, or null for any other error (the server's, a bug). */
export function connectionFailure(error: unknown, secret: string | null): string | null {
  if (pgErrorFields(error)) return null;
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = scrub(typeof e?.message === 'string' ? e.message : String(error), secret);
  const known = SOCKET_REASONS[code];
  if (!known && !/connect|socket|ECONN|closed|ended|destroyed/i.test(message)) return null;
  return known?.reason ?? message;
}

/** Why a connection attempt failed, as a PgpairError: the server's own error, or what happened to the socket. */
export function connectFailure(error: unknown, displayUrl: string, secret: string | null, elapsedMs: number): PgpairError {
  if (error instanceof PgpairError) return error;
  const fields = pgErrorFields(error);
  if (fields) {
    return new ConnectionError(displayUrl, `Cannot connect to ${displayUrl}: ${scrub(fields.message, secret)}${fields.sqlstate ? ` [${fields.sqlstate}]` : ''} (after ${(elapsedMs / 1000).toFixed(1)} s).`);
  }
  const failure = socketReason(error);
  return cannotConnect(displayUrl, { ...failure, reason: scrub(failure.reason, secret) }, elapsedMs);
}
