/**
 * Where a postgres:// URL really goes: user@host:port/database, with the
 * gaps filled from the PG* variables and the defaults exactly as postgres.js
 * fills them (test/unit/target.test.ts holds the two to the same answer), so
 * that `postgres://` with PGHOST/PGUSER/… set is shown as the server it
 * reaches, never as `postgres://`. A password is never part of it.
 */
import { userInfo } from 'node:os';
import { maskUrl, urlScheme } from './url.js';

export interface HostPort {
  /** Host name, IP address (IPv6 without brackets) or a Unix-socket directory (starts with `/`). */
  host: string;
  port: number;
}

export interface PostgresTarget {
  user: string;
  database: string;
  /** One per host of a multi-host URL (`postgres://h1:5432,h2:5433/db`), in order. */
  hosts: HostPort[];
}

type Env = Record<string, string | undefined>;

function osUser(env: Env): string {
  try {
    return userInfo().username;
  } catch {
    return env.USERNAME ?? env.USER ?? env.LOGNAME ?? '';
  }
}

/** `h`, `h:5433`, `[::1]:5433` or `::1` (a bare IPv6 address has no port). */
function hostPort(text: string, defaultPort: number): HostPort {
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(text);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ? Number(bracketed[2]) : defaultPort };
  const colons = text.split(':').length - 1;
  if (colons === 1) {
    const [host, port] = text.split(':') as [string, string];
    return { host, port: port ? Number(port) : defaultPort };
  }
  return { host: text, port: defaultPort };
}

/**
 * The target of a postgres:// or postgresql:// URL, or null when the URL
 * cannot be read (the driver then reports it as invalid).
 */
export function postgresTarget(url: string, env: Env = process.env): PostgresTarget | null {
  const afterScheme = url.slice(url.indexOf('://') + 3);
  let authority: string;
  try {
    authority = decodeURIComponent(afterScheme.split(/[?/]/)[0] ?? '');
  } catch {
    return null;
  }
  const hostList = authority.slice(authority.lastIndexOf('@') + 1);
  let parsed: URL;
  try {
    parsed = new URL(hostList.includes(',') ? url.replace(hostList, hostList.split(',')[0]!) : url);
  } catch {
    return null;
  }
  const defaultPort = Number(parsed.port || env.PGPORT || 5432);
  let username: string;
  try {
    username = decodeURIComponent(parsed.username);
  } catch {
    username = parsed.username;
  }
  const user = username || env.PGUSERNAME || env.PGUSER || osUser(env);
  // postgres.js takes the database from the path as written (percent-escapes included).
  const database = parsed.pathname.slice(1) || env.PGDATABASE || user;
  // As postgres.js does: a multi-host list as written, else the URL's host, PGHOST (which may list several too), localhost.
  const hostText = (hostList.includes(',') ? hostList : '') || parsed.hostname || env.PGHOST || 'localhost';
  const hosts = hostText.split(',').map((part) => hostPort(part, defaultPort));
  return { user, database, hosts };
}

/** `user@host:port/database` (several hosts joined with commas; an IPv6 address in brackets). */
export function formatTarget(target: PostgresTarget): string {
  const hosts = target.hosts.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  return `${target.user}@${hosts}/${target.database}`;
}

/**
 * What to call a database in messages and results: `user@host:port/db` for a
 * server, the URL itself for an embedded database, the masked URL otherwise.
 */
export function describeTarget(url: string, env: Env = process.env): string {
  const scheme = urlScheme(url);
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const target = postgresTarget(url, env);
    if (target) return formatTarget(target);
  }
  return maskUrl(url);
}
