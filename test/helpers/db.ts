/**
 * Scratch databases on the test server (TEST_DATABASE_URL, set by test/run.ts).
 * Every test that touches a database gets one of its own.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the suite with npm test, which starts a server when needed');
  return url;
}

export function urlFor(database: string): string {
  const url = new URL(testServerUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

export type Sql = postgres.Sql<Record<string, never>>;

export function connectTo(url: string): Sql {
  return postgres(url, { max: 2, onnotice: () => {}, idle_timeout: 5 }) as unknown as Sql;
}

export interface Scratch {
  name: string;
  url: string;
  /** A postgres.js client on the scratch database, for assertions. */
  sql: Sql;
  drop: () => Promise<void>;
}

/** Creates an empty database with a unique name; `drop` terminates its sessions and removes it. */
export async function scratchDatabase(prefix = 'pgpair_t'): Promise<Scratch> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = connectTo(testServerUrl());
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = urlFor(name);
  const sql = connectTo(url);
  return {
    name,
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 1 });
      const cleanup = connectTo(testServerUrl());
      try {
        await cleanup.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
        await cleanup.unsafe(`DROP DATABASE IF EXISTS "${name}"`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

/** Tables in the public schema, sorted. */
export async function tables(sql: Sql, schema = 'public'): Promise<string[]> {
  const rows = await sql.unsafe(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, [schema]);
  return rows.map((r) => String(r.tablename));
}
