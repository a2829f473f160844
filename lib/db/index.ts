/**
 * The driver registry: a URL scheme picks the module that serves it. Modules
 * are imported on first use, so a run against a server never loads PGlite.
 */
import { ConfigError } from '../core/errors.js';
import type { Connection, ConnectOptions, Driver } from './types.js';
import { maskUrl, urlScheme } from './url.js';

const loaders: Record<string, () => Promise<Driver>> = {
  postgres: async () => (await import('./postgres/connection.js')).postgresDriver,
  postgresql: async () => (await import('./postgres/connection.js')).postgresDriver,
  pglite: async () => (await import('./pglite/index.js')).pgliteDriver,
};

export const SUPPORTED_SCHEMES = Object.keys(loaders);

export async function connect(options: ConnectOptions): Promise<Connection> {
  const scheme = urlScheme(options.url);
  const load = scheme ? loaders[scheme] : undefined;
  if (!load) {
    throw new ConfigError(
      `Unsupported database URL ${maskUrl(options.url)}: expected postgres://user:password@host:port/database, postgresql://…, pglite:PATH or pglite:memory. Set --url or DATABASE_URL.`,
    );
  }
  const driver = await load();
  return driver.connect(options);
}

export type { Connection, ConnectOptions, Driver, Queryable, Notice, ServerInfo, Row } from './types.js';
