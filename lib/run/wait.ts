/**
 * `wait`: until the database accepts connections, for compose files and CI
 * jobs that start the server and the migration at once (dbmate's `wait`).
 * Each attempt opens a session and closes it; nothing is read or written.
 */
import type { Logger } from 'pino';
import { connect } from '../db/index.js';
import { maskUrl } from '../db/url.js';
import { ConfigError, ConnectionError, InterruptedError, PgpairError } from '../core/errors.js';

export interface WaitOptions {
  url: string;
  /** How long to keep trying, ms; 0: one attempt. Default 60 000. */
  timeoutMs?: number;
  /** The longest one attempt may take, ms (capped by what is left of timeoutMs); default 10 000. */
  connectTimeoutMs?: number;
  /** Pause between attempts, ms; default 500. */
  intervalMs?: number;
  logger?: Logger;
  /** Aborting it ends the wait at once, with an InterruptedError. */
  signal?: AbortSignal;
}

export interface WaitResult {
  attempts: number;
  elapsedMs: number;
  database: string;
  /** True for pglite: URLs: an embedded database is in this process, there is nothing to wait for. */
  embedded: boolean;
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\.$/, '');
}

/** Resolves once a connection succeeds; rejects with a ConnectionError naming the last error when timeoutMs runs out. */
export async function waitForDatabase(options: WaitOptions): Promise<WaitResult> {
  const database = maskUrl(options.url);
  const started = performance.now();
  if (/^pglite:/i.test(options.url)) return { attempts: 0, elapsedMs: 0, database, embedded: true };
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = started + timeoutMs;
  const interval = options.intervalMs ?? 500;
  let attempts = 0;
  let lastError: unknown;
  const signal = options.signal;
  const interrupted = () => new InterruptedError(String(signal?.reason ?? 'an abort signal'), null, `Interrupted by ${String(signal?.reason ?? 'an abort signal')} while waiting for ${database} to accept connections (${attempts} attempt${attempts === 1 ? '' : 's'}); nothing was done.`);
  for (;;) {
    if (signal?.aborted) throw interrupted();
    attempts++;
    const left = Math.max(1, deadline - performance.now());
    const attemptMs = Math.min(options.connectTimeoutMs ?? 10_000, timeoutMs === 0 ? (options.connectTimeoutMs ?? 10_000) : left);
    try {
      const db = await connect({ url: options.url, connectTimeout: attemptMs / 1000, ...(signal ? { signal } : {}) });
      await db.close();
      return { attempts, elapsedMs: Math.round(performance.now() - started), database, embedded: false };
    } catch (error) {
      // A URL that can never work is not worth waiting for.
      if (error instanceof ConfigError || error instanceof InterruptedError) throw error;
      if (signal?.aborted) throw interrupted();
      lastError = error;
      const message = describe(error);
      if (attempts === 1) options.logger?.info({ database }, `waiting for ${database} to accept connections: ${message}`);
      else options.logger?.debug({ database, attempts }, `attempt ${attempts}: ${message}`);
    }
    const remaining = deadline - performance.now();
    if (remaining <= 0 || timeoutMs === 0) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(interval, remaining));
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
    if (signal?.aborted) throw interrupted();
    // An attempt with a few ms left would only time out, and its error would hide the real one.
    if (deadline - performance.now() < 100) break;
  }
  const seconds = (Math.round(performance.now() - started) / 1000).toFixed(1);
  const last = lastError instanceof PgpairError ? lastError.message : describe(lastError);
  throw new ConnectionError(
    database,
    `${database} did not accept a connection within ${seconds} s (${attempts} attempt${attempts === 1 ? '' : 's'}). The last error: ${last.replace(/\.$/, '')}. Check that the server is starting and the URL is right, or wait longer with --timeout.`,
  );
}
