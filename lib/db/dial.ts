/**
 * The sockets of one postgres.js client, opened by pgpair itself (postgres.js
 * `socket` option) so that a connection attempt always ends: within the
 * connect timeout, at once on an abort, and after one attempt per host.
 *
 * Left to itself, postgres.js dials again, at once and forever, when a peer
 * closes the socket before the session is ready (an HTTP or TLS server, a
 * proxy that accepts and hangs up), and restarts its connect timer on each
 * try, so `--connect-timeout` never fires. Once the session is ready, pgpair
 * never lets it dial again either: session state (the migration lock) must
 * not vanish behind a transparent reconnect, and statements queued behind a
 * lost session must not run on a new one.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { ConnectionError, InterruptedError, type PgpairError } from '../core/errors.js';
import type { HostPort } from './target.js';

export interface DialOptions {
  hosts: HostPort[];
  /** `user@host:port/db`, for messages. */
  display: string;
  /** 0: no limit (as libpq's connect_timeout=0); the attempt then ends only by itself or by `signal`. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** postgres.js sends an SSLRequest first (the answer is one byte, `S` or `N`). */
  sslRequestFirst: boolean;
  /** The SSL mode requires SSL: a server that answers `N` (no SSL) cannot be used. */
  sslRequired: boolean;
  /** Called when postgres.js tries to dial again after the session was ready. */
  onRedialAfterReady: () => void;
}

export interface FailureReason {
  reason: string;
  /** What to check or do, when there is something useful to say. */
  advice?: string;
}

const label = ({ host, port }: HostPort) => (host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : `${host.includes(':') ? `[${host}]` : host}:${port}`);

/** The message of a connection attempt that failed. */
export function cannotConnect(display: string, failure: FailureReason, elapsedMs: number): ConnectionError {
  const after = `(after ${(elapsedMs / 1000).toFixed(1)} s)`;
  const advice = failure.advice ? `; ${failure.advice}` : '';
  return new ConnectionError(display, `Cannot connect to ${display}: ${failure.reason.replace(/\.$/, '')} ${after}${advice}${/[.?!]$/.test(advice) ? '' : '.'}`);
}

/** Socket-level failures (refused, reset, unresolvable host…), by error code. */
export const SOCKET_REASONS: Record<string, FailureReason> = {
  ECONNREFUSED: { reason: 'the server refused the connection', advice: 'is PostgreSQL running, and on that host and port?' },
  ENOTFOUND: { reason: 'the host name could not be resolved', advice: 'check the host in the URL or PGHOST' },
  EAI_AGAIN: { reason: 'the host name could not be resolved (DNS did not answer)', advice: 'check the host and the network' },
  EHOSTUNREACH: { reason: 'the host is unreachable', advice: 'check the host and the network' },
  ENETUNREACH: { reason: 'the network is unreachable', advice: 'check the host and the network' },
  ENOENT: { reason: 'there is no PostgreSQL socket in that directory', advice: 'is PostgreSQL running, and is the directory (and port) right?' },
  EACCES: { reason: 'permission denied', advice: 'check the host, port or socket directory' },
  CONNECT_TIMEOUT: { reason: 'the connection timed out' },
  CONNECTION_CLOSED: { reason: 'the connection was closed by the server' },
  CONNECTION_ENDED: { reason: 'the connection was closed' },
  CONNECTION_DESTROYED: { reason: 'the connection was closed' },
  ECONNRESET: { reason: 'the connection was reset' },
  EPIPE: { reason: 'the connection was broken' },
};

export function socketReason(error: unknown): FailureReason {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  return SOCKET_REASONS[code] ?? { reason: typeof e?.message === 'string' && e.message ? e.message : String(error) };
}

/**
 * Whether the first bytes a server sends can be PostgreSQL's: the one-byte
 * answer to an SSLRequest, or the first message after the startup packet
 * (authentication request, error, protocol negotiation, notice) with a sane
 * length. Anything else is another protocol, named when it can be.
 */
function firstAnswerProblem(chunk: Buffer, sslRequestFirst: boolean, sslRequired: boolean): FailureReason | null {
  const first = String.fromCharCode(chunk[0] ?? 0);
  if (sslRequestFirst && sslRequired && first === 'N' && chunk.length === 1) {
    return { reason: 'the server does not accept SSL connections, and the URL asks for SSL', advice: 'use sslmode=prefer or disable, or enable SSL on the server' };
  }
  if (sslRequestFirst ? 'SNE'.includes(first) : 'REvN'.includes(first) && (chunk.length < 5 || chunk.readUInt32BE(1) >= 4 && chunk.readUInt32BE(1) < 1 << 20)) return null;
  const advice = 'is that the port of a PostgreSQL server?';
  if (chunk.subarray(0, 5).toString('latin1') === 'HTTP/') return { reason: `the server answered in HTTP ("${printable(chunk)}"), not the PostgreSQL protocol`, advice };
  if ((chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03) return { reason: 'the server answered in TLS, not the PostgreSQL protocol (a TLS-only port)', advice };
  return { reason: `the server's answer ("${printable(chunk)}") is not the PostgreSQL protocol`, advice };
}

function printable(chunk: Buffer): string {
  const text = chunk.subarray(0, 40).toString('latin1').split(/\r?\n/)[0]!;
  return text.replace(/[^\x20-\x7e]/g, '.');
}

export class Dialer {
  /** Rejects with the error that ends the attempt (timeout, abort, nothing left to dial); never resolves. */
  readonly failed: Promise<never>;
  /** TCP connections opened so far. */
  attempts = 0;
  /** The host of the last socket that connected. */
  connectedHost: HostPort | null = null;
  private state: 'connecting' | 'ready' | 'failed' = 'connecting';
  private failure: PgpairError | null = null;
  private rejectFailed: (error: PgpairError) => void = () => {};
  private cursor = 0;
  private readonly problems: FailureReason[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly started = performance.now();
  private answered = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly onAbort = () => {
    const reason = String(this.options.signal?.reason ?? 'an abort signal');
    this.fail(new InterruptedError(reason, null, `Interrupted by ${reason} while connecting to ${this.options.display}; nothing was done.`));
  };

  constructor(private readonly options: DialOptions) {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => {});
    if (options.signal?.aborted) {
      this.onAbort();
      return;
    }
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    // setTimeout fires at once for a delay beyond 2^31-1 ms (about 24.8 days): such a limit is no limit.
    if (options.timeoutMs > 0 && options.timeoutMs <= 2 ** 31 - 1) this.timer = setTimeout(() => this.timedOut(), options.timeoutMs);
  }

  elapsedMs(): number {
    return performance.now() - this.started;
  }

  /** The postgres.js `socket` option: the next host's socket, connected; or an error when nothing is left to try. */
  readonly open = async (): Promise<Socket> => {
    if (this.state === 'ready') {
      this.options.onRedialAfterReady();
      throw Object.assign(new Error('the session ended and pgpair does not reconnect'), { code: 'CONNECTION_CLOSED' });
    }
    while (this.state === 'connecting' && this.cursor < this.options.hosts.length) {
      const target = this.options.hosts[this.cursor++]!;
      this.attempts++;
      try {
        return await this.dial(target);
      } catch (error) {
        if (this.state !== 'connecting') break;
        this.problems.push(this.at(target, socketReason(error)));
      }
    }
    if (this.state === 'connecting') this.fail(this.nothingLeft());
    throw this.failure!;
  };

  /** The session is ready: stop the clock and the abort listener; from now on the client may not dial again. */
  ready(): void {
    if (this.state !== 'connecting') return;
    this.state = 'ready';
    this.stop();
  }

  /** Ends the attempt with `error`: every socket opened is destroyed, and `failed` rejects with it. */
  fail(error: PgpairError): void {
    if (this.state !== 'connecting') return;
    this.state = 'failed';
    this.failure = error;
    this.stop();
    for (const socket of this.sockets) socket.destroy();
    this.rejectFailed(error);
  }

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  private timedOut(): void {
    const ms = this.options.timeoutMs;
    const seconds = ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
    const failure: FailureReason = this.sockets.size === 0 || [...this.sockets].every((s) => s.connecting)
      ? { reason: `no answer within the connect timeout of ${seconds}`, advice: 'is the host reachable, and the port right? --connect-timeout sets how long to wait' }
      : this.answered
        ? { reason: `the server did not finish starting the session within the connect timeout of ${seconds}`, advice: 'is it overloaded? --connect-timeout sets how long to wait' }
        : { reason: `the server accepted the connection but sent nothing within the connect timeout of ${seconds}`, advice: 'is that the port of a PostgreSQL server? --connect-timeout sets how long to wait' };
    this.fail(cannotConnect(this.options.display, failure, this.elapsedMs()));
  }

  /** A host's problem; with several hosts, named by the host. */
  private at(target: HostPort, problem: FailureReason): FailureReason {
    return this.options.hosts.length > 1 ? { ...problem, reason: `${label(target)}: ${problem.reason}` } : problem;
  }

  /** All hosts were tried: each one's problem, in order (the advice only when there is one host). */
  private nothingLeft(): ConnectionError {
    const problems = this.problems.length > 0 ? this.problems : [{ reason: 'the server closed the connection before the session was ready' }];
    const failure = problems.length === 1 ? problems[0]! : { reason: problems.map((p) => p.reason).join('; ') };
    return cannotConnect(this.options.display, failure, this.elapsedMs());
  }

  private dial(target: HostPort): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const socket = target.host.startsWith('/') ? netConnect({ path: `${target.host}/.s.PGSQL.${target.port}` }) : netConnect({ host: target.host, port: target.port });
      // Where postgres.js looks for them (its messages, and the TLS server name).
      Object.assign(socket, { host: target.host, port: target.port });
      this.sockets.add(socket);
      const failedToConnect = (error: Error) => {
        socket.destroy();
        reject(error);
      };
      socket.once('error', failedToConnect);
      socket.once('close', () => reject(new Error('the connection was closed')));
      socket.once('connect', () => {
        socket.off('error', failedToConnect);
        this.watch(socket, target);
        this.connectedHost = target;
        resolve(socket);
      });
    });
  }

  /** Until the session is ready: a first answer that is not PostgreSQL's ends the attempt at once; a close is noted for the message. */
  private watch(socket: Socket, target: HostPort): void {
    let sawData = false;
    socket.once('data', (chunk: Buffer) => {
      sawData = true;
      this.answered = true;
      if (this.state !== 'connecting') return;
      const problem = firstAnswerProblem(chunk, this.options.sslRequestFirst, this.options.sslRequired);
      if (problem) this.fail(cannotConnect(this.options.display, this.at(target, problem), this.elapsedMs()));
    });
    socket.once('close', () => {
      if (this.state !== 'connecting') return;
      this.problems.push(this.at(target, { reason: sawData ? 'the server closed the connection while the session was starting' : 'the server closed the connection before answering', advice: 'is that the port of a PostgreSQL server?' }));
    });
  }
}
