/**
 * Pure helpers for connection strings: postgres:// URLs, libpq `key=value` strings and
 * pglite:PATH. A password never leaves this module unmasked: errors show the string masked.
 */
import { ConfigError } from '../core/errors.js';
import { maskCredentials } from '../core/mask.js';

/** The URL scheme, lower-cased, without ':' (e.g. 'postgres', 'pglite'), or null. */
export function urlScheme(url: string): string | null {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url);
  return match ? match[1]!.toLowerCase() : null;
}

/** Whether the text is a libpq `key=value` connection string (`host=db dbname=app …`), not a URL. */
function isKeyValueString(text: string): boolean {
  return /^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text);
}

function decode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** The authority of a `scheme://authority/...` URL, as written, or null. */
function authorityOf(url: string): string | null {
  const match = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(url);
  return match ? match[1]! : null;
}

/** `user:password@host/db`, a URL without its scheme: the match, its group 1 the userinfo. */
function schemeless(url: string): RegExpExecArray | null {
  return url.includes('//') ? null : /^([^\s:/@]+:[^\s]*)@[^\s@]*$/.exec(url);
}

/** The userinfo of `scheme://user:pass word@host/…` (a space in it, up to the authority's last `@`), as group 1, or null. */
function spacedUserinfo(url: string): RegExpExecArray | null {
  const authority = authorityOf(url);
  return authority !== null && /\s/.test(authority) ? /^(.*:.*)@[^@]*$/.exec(authority) : null;
}

/**
 * The password in a connection string (decoded), or null: a URL's userinfo (up to its last `@`,
 * so that an unencoded `@` in it is kept whole), a URL's `?password=`, a key=value `password`.
 * Used to scrub it from text and to keep it out of a script.
 */
export function urlPassword(url: string): string | null {
  if (isKeyValueString(url)) {
    try {
      return parseKeyValue(url).password || null;
    } catch {
      const match = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)/i.exec(url);
      return match ? match[1]!.replace(/^'|'$/g, '').replace(/\\(.)/g, '$1') || null : null;
    }
  }
  const userinfo = schemeless(url) ?? /^[a-zA-Z][a-zA-Z0-9+.-]*:\/*([^\s]*)@/.exec(url) ?? spacedUserinfo(url) ?? /^postgres(?:ql)?\/*([^\s]*)@/i.exec(url);
  if (userinfo) {
    const colon = userinfo[1]!.indexOf(':');
    const raw = colon === -1 ? '' : userinfo[1]!.slice(colon + 1);
    // `host:5432/db?x=a@b` is a port, not a password (as maskCredentials reads it).
    if (raw && !(/^\d*[/?]/.test(raw) && !raw.includes('@'))) return decode(raw) ?? raw;
  }
  const query = /[?&]password=([^&#]*)/i.exec(url);
  return query?.[1] ? (decode(query[1].replace(/\+/g, ' ')) ?? query[1]) : null;
}

/**
 * The connection string with its password replaced by `***`, safe to print and log; any other
 * text is kept as written. A URL cut short (`postgres://user:pass`, as a .env value cut at `#`
 * leaves it) has its non-numeric "port" masked too: it is the start of a password.
 */
export function maskUrl(url: string): string {
  const bare = /^postgres(?:ql)?:/i.test(url) ? null : schemeless(url);
  if (bare) return `${bare[1]!.slice(0, bare[1]!.indexOf(':') + 1)}***${url.slice(bare[1]!.length)}`;
  const masked = maskCredentials(url);
  const authority = authorityOf(masked);
  // A password with a space in it (`postgres://u:my pw@host/db`, refused as invalid) is no token maskCredentials can find.
  const spaced = authority !== null && /\s/.test(authority) ? /^([^:@]*:)(.*)@[^@]*$/.exec(authority) : null;
  if (spaced && spaced[2] !== '***') return masked.replace(authority!, `${spaced[1]}***${authority!.slice(authority!.lastIndexOf('@'))}`);
  if (authority !== null && !authority.includes('@')) {
    const hosts = authority.replace(/\[[^\]]*\]/g, 'h').split(',');
    if (hosts.some((host) => /:(?!\d*$)/.test(host))) {
      const start = masked.indexOf('://') + 3;
      const colon = masked.indexOf(':', start);
      return `${masked.slice(0, colon + 1)}***${masked.slice(start + authority.length)}`;
    }
  }
  return masked;
}

const ENCODE_HINT = 'percent-encode these characters in the user name and password: @ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25, and a space as %20';

function invalidUrl(url: string, why: string): ConfigError {
  return new ConfigError(`Invalid database URL ${maskUrl(url)}: ${why}. Set --url or DATABASE_URL to postgres://user:password@host:port/database.`);
}

/**
 * Checks a postgres:// URL the way its driver will read it, so that a mistyped one fails here
 * with a fix instead of reaching the wrong server or database (postgresql:/root:pw@host/db would
 * otherwise connect to localhost and ask for database "root:pw@host/db").
 */
function checkPostgresUrl(url: string): void {
  const scheme = urlScheme(url)!;
  if (!url.slice(scheme.length + 1).startsWith('//')) {
    throw invalidUrl(url, `a ${scheme} URL starts with ${scheme}:// (two slashes after the colon)`);
  }
  if (url.includes('#')) throw invalidUrl(url, `it holds a # (a URL fragment has no meaning here); ${ENCODE_HINT}`);
  const authority = authorityOf(url)!;
  const rest = url.slice(url.indexOf('://') + 3 + authority.length);
  const at = authority.split('@').length - 1;
  if (at > 1) throw invalidUrl(url, `it holds more than one @ before the host, so the host is ambiguous; ${ENCODE_HINT}`);
  if (at === 0 && rest.includes('@') && /:(?!\d*(?:,|$))/.test(authority.replace(/\[[^\]]*\]/g, 'h'))) {
    throw invalidUrl(url, `the user name or password holds a / or ?, which ends the host part of a URL; ${ENCODE_HINT}`);
  }
  const userinfo = at === 1 ? authority.slice(0, authority.indexOf('@')) : '';
  if (/\s/.test(authority)) throw invalidUrl(url, `it holds a space before the host; ${ENCODE_HINT}`);
  if (decode(userinfo) === null) throw invalidUrl(url, `the user name or password holds a % that starts no valid %XX escape; ${ENCODE_HINT}`);
  // postgres.js parses a multi-host URL (h1:5432,h2:5432) with its first host.
  const hostPart = at === 1 ? authority.slice(authority.indexOf('@') + 1) : authority;
  const single = url.replace(hostPart, hostPart.split(',')[0] ?? '');
  try {
    new URL(single);
  } catch {
    throw invalidUrl(url, `it is not a valid URL (check the host and the port, which must be a number); ${ENCODE_HINT}`);
  }
  for (const host of hostPart.split(',')) {
    const port = /:([^:\]]*)$/.exec(host.replace(/\[[^\]]*\]/g, 'h'))?.[1];
    if (port !== undefined && !/^\d{1,5}$/.test(port)) throw invalidUrl(url, `the port of host ${host.replace(/:[^:\]]*$/, '')} is not a number`);
  }
}

/**
 * The connection string as the driver needs it: a postgres:// URL is checked and returned as
 * written, a libpq key=value string becomes the URL it means, pglite: is returned as written.
 * Throws a ConfigError (exit 2) that shows the string masked and says how to fix it.
 */
export function normalizeDatabaseUrl(text: string): string {
  const url = text.trim();
  if (isKeyValueString(url)) return keyValueToUrl(parseKeyValue(url));
  const scheme = urlScheme(url);
  if (scheme === 'postgres' || scheme === 'postgresql') {
    checkPostgresUrl(url);
    return url;
  }
  if (schemeless(url) && !/^postgres(?:ql)?:/i.test(url)) {
    throw invalidUrl(url, 'it has no scheme; write postgres://user:password@host:port/database');
  }
  if (scheme === null && /^postgres(?:ql)?\/\//i.test(url)) {
    throw invalidUrl(url, `the colon after ${url.slice(0, url.indexOf('/'))} is missing; write ${url.slice(0, url.indexOf('/'))}://`);
  }
  return url;
}

/**
 * libpq's connection keywords (PostgreSQL 17), each with what pgpair does with it: 'url' ones
 * become part of the URL, 'ignored' ones are libpq fallbacks that pgpair's own settings take
 * the place of, and the rest are refused, since postgres.js cannot honour them.
 */
const LIBPQ_KEYS: Record<string, 'url' | 'ignored' | 'unsupported'> = {
  host: 'url', hostaddr: 'url', port: 'url', dbname: 'url', user: 'url', password: 'url',
  sslmode: 'url', application_name: 'url', options: 'url', connect_timeout: 'url', target_session_attrs: 'url', client_encoding: 'url',
  fallback_application_name: 'ignored',
  passfile: 'unsupported', require_auth: 'unsupported', channel_binding: 'unsupported', keepalives: 'unsupported', keepalives_idle: 'unsupported',
  keepalives_interval: 'unsupported', keepalives_count: 'unsupported', tcp_user_timeout: 'unsupported', replication: 'unsupported',
  gssencmode: 'unsupported', sslnegotiation: 'unsupported', sslcompression: 'unsupported', sslcert: 'unsupported', sslkey: 'unsupported',
  sslcertmode: 'unsupported', sslpassword: 'unsupported', sslrootcert: 'unsupported', sslcrl: 'unsupported', sslcrldir: 'unsupported',
  sslsni: 'unsupported', requirepeer: 'unsupported', ssl_min_protocol_version: 'unsupported', ssl_max_protocol_version: 'unsupported',
  krbsrvname: 'unsupported', gsslib: 'unsupported', gssdelegation: 'unsupported', service: 'unsupported', load_balance_hosts: 'unsupported',
  scram_client_key: 'unsupported', scram_server_key: 'unsupported', min_protocol_version: 'unsupported', max_protocol_version: 'unsupported',
};

function keyValueError(why: string): ConfigError {
  return new ConfigError(`Invalid connection string: ${why}. A libpq connection string is key=value pairs separated by spaces, e.g. host=localhost port=5432 dbname=app user=me password=… (quote a value that holds spaces as 'my value', with \\' and \\\\ inside).`);
}

/**
 * Parses a libpq `key=value` connection string as libpq's conninfo_parse does: spaces around `=`
 * allowed, a value quoted with '…' (\' and \\ inside) or bare up to the next space (a backslash
 * escapes the next character). An unknown key, a key without `=` or an unterminated quote is a
 * ConfigError that never shows a value.
 */
export function parseKeyValue(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  let i = 0;
  let item = 0;
  const space = (c: string | undefined) => c !== undefined && /\s/.test(c);
  while (i < text.length) {
    while (space(text[i])) i++;
    if (i >= text.length) break;
    item++;
    let key = '';
    while (i < text.length && text[i] !== '=' && !space(text[i])) key += text[i++];
    while (space(text[i])) i++;
    // The item is not named: without its `=` it may be a password typed in the wrong place.
    if (text[i] !== '=') throw keyValueError(`item ${item} has no = after its key`);
    i++;
    while (space(text[i])) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '\\' && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          closed = true;
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) throw keyValueError(`the quoted value of ${/^\w+$/.test(key) ? key : `item ${item}`} has no closing '`);
    } else {
      while (i < text.length && !space(text[i])) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i++];
      }
    }
    const lower = key.toLowerCase();
    if (!(key in LIBPQ_KEYS)) {
      const shown = /^\w{1,40}$/.test(key) ? `"${key}"` : `of item ${item}`;
      throw keyValueError(`unknown key ${shown}${lower in LIBPQ_KEYS ? ` (keys are lower case: ${lower})` : ''}; known keys include host, hostaddr, port, dbname, user, password, sslmode, application_name, options and connect_timeout`);
    }
    if (LIBPQ_KEYS[key] === 'unsupported') {
      throw keyValueError(`${key} is a libpq setting that pgpair's driver (postgres.js) does not support; remove it, or connect with a postgres:// URL and PG* variables`);
    }
    values[key] = value;
  }
  return values;
}

function urlHost(host: string): string {
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]`;
  return encodeURIComponent(host).replace(/%3A/gi, ':').replace(/%5B/gi, '[').replace(/%5D/gi, ']');
}

/** The postgres:// URL a parsed key=value string means, with every part percent-encoded. */
function keyValueToUrl(values: Record<string, string>): string {
  const hosts = (values.hostaddr ?? values.host ?? '').split(',');
  const ports = (values.port ?? '').split(',');
  for (const host of hosts) {
    if (host.startsWith('/') || host.startsWith('@')) {
      throw keyValueError(`host=${host} is a Unix-domain socket directory, which pgpair cannot take in a connection string; set PGHOST=${host} (and no --url or DATABASE_URL) instead`);
    }
  }
  for (const port of ports) if (port !== '' && !/^\d{1,5}$/.test(port)) throw keyValueError(`port=${port} is not a number`);
  // postgres.js takes the database name from the URL's path without decoding it: it must need no encoding.
  const dbname = values.dbname ?? '';
  if (/[\s"#<>?`{}/\\^|\u0000-\u001f\u007f-\uffff]/.test(dbname)) {
    throw keyValueError(`dbname ${JSON.stringify(dbname)} holds a character (a space, quote, #, ?, /, or non-ASCII) that the driver (postgres.js) cannot take in a URL; connect to a database whose name has none`);
  }
  if (ports.length > 1 && ports.length !== hosts.length) throw keyValueError(`${hosts.length} hosts but ${ports.length} ports: give one port, or one per host`);
  const authority = hosts
    .map((host, index) => {
      const port = ports.length > 1 ? ports[index] : ports[0];
      return `${host === '' ? '' : urlHost(host)}${port ? `:${port}` : ''}`;
    })
    .join(',');
  const user = values.user !== undefined ? encodeURIComponent(values.user) : '';
  const password = values.password ? `:${encodeURIComponent(values.password)}` : '';
  const userinfo = user || password ? `${user}${password}@` : '';
  const query = new URLSearchParams();
  for (const key of ['sslmode', 'application_name', 'options', 'connect_timeout', 'target_session_attrs', 'client_encoding']) {
    if (values[key] !== undefined) query.set(key, values[key]);
  }
  const search = query.toString().replace(/\+/g, '%20');
  return `postgres://${userinfo}${authority}/${dbname}${search ? `?${search}` : ''}`;
}

// --- Fleets: the `schema` parameter of a postgres:// URL (lib/run/fleet.ts) ---

/** A postgres:// URL without pgpair's own `schema` parameter, and that schema (null when none). */
export interface SchemaTarget {
  /** The URL as the driver gets it: every other parameter kept as written. */
  url: string;
  schema: string | null;
}

/**
 * Splits pgpair's `?schema=NAME` off a postgres:// URL (postgres.js would send it to the server
 * as a setting, which the server refuses). NAME is percent-decoded and taken as written (case
 * kept, no quoting needed). It is not libpq's `options=-csearch_path=…`: a URL that gives both
 * is refused, since the two would fight over the search_path. Other URLs are returned unchanged.
 */
export function splitSchema(text: string): SchemaTarget {
  const scheme = urlScheme(text);
  if ((scheme !== 'postgres' && scheme !== 'postgresql') || !text.includes('?')) return { url: text, schema: null };
  const queryStart = text.indexOf('?');
  const kept: string[] = [];
  const schemas: string[] = [];
  for (const part of text.slice(queryStart + 1).split('&')) {
    const [key, ...value] = part.split('=');
    if (key === 'schema') schemas.push(decode(value.join('=').replace(/\+/g, ' ')) ?? '');
    else if (part !== '') kept.push(part);
  }
  if (schemas.length === 0) return { url: text, schema: null };
  const shown = maskUrl(text);
  if (schemas.length > 1) throw new ConfigError(`The database URL ${shown} gives schema= ${schemas.length} times: give one schema per URL (one URL per tenant).`);
  const schema = schemas[0]!;
  if (schema === '') throw new ConfigError(`The database URL ${shown} has an empty schema=: name the schema, e.g. ?schema=tenant_42.`);
  if (Buffer.byteLength(schema) > 63) throw new ConfigError(`The schema name in ${shown} is longer than 63 bytes, PostgreSQL's limit for a name.`);
  if (kept.some((part) => /^options=.*search_path/i.test(decode(part) ?? part))) {
    throw new ConfigError(`The database URL ${shown} sets both schema= and a search_path in options=: give one of them (schema= sets the search_path to that schema alone).`);
  }
  const base = text.slice(0, queryStart);
  return { url: kept.length > 0 ? `${base}?${kept.join('&')}` : base, schema };
}

/** `url` naming `schema` (for a target found by --schemas): the URL with `schema=NAME` added to its query, percent-encoded. */
export function withSchema(url: string, schema: string): string {
  const { url: bare } = splitSchema(url);
  return `${bare}${bare.includes('?') ? '&' : '?'}schema=${encodeURIComponent(schema)}`;
}
