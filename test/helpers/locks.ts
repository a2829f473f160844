/**
 * Shared by the lock-retry tests (test/e2e/lock-retries*.test.ts): a pino logger whose entries
 * can be waited for, a second session that holds locks, and the history as the tests read it.
 */
import pino from 'pino';
import { connectTo, type Sql } from './db.js';

export interface Entry {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose JSON lines are kept, and a way to wait until one of them matches. */
export function capturingLogger() {
  const entries: Entry[] = [];
  const waiters: { test: (e: Entry[]) => boolean; resolve: () => void }[] = [];
  const logger = pino({ level: 'debug' }, {
    write: (line: string) => {
      entries.push(JSON.parse(line) as Entry);
      for (const w of waiters.filter((w) => w.test(entries))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
  });
  const until = (test: (e: Entry[]) => boolean) => (test(entries) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve })));
  return { logger, entries, until };
}

export const retries = (entries: Entry[]) => entries.filter((e) => e.level === 40 && /retrying in \d+ ms/.test(e.msg));

/** A second session holding locks: `statements` run first (in an open transaction when they BEGIN one); `end` rolls it back and closes it. */
export async function holder(url: string, statements: string[], applicationName = 'lock-holder') {
  const sql: Sql = connectTo(url);
  const reserved = await sql.reserve();
  await reserved.unsafe(`SET application_name = '${applicationName}'`);
  const [{ pid }] = (await reserved.unsafe('SELECT pg_backend_pid() AS pid')) as unknown as [{ pid: number }];
  for (const statement of statements) await reserved.unsafe(statement);
  let ended = false;
  return {
    pid,
    run: (statement: string) => reserved.unsafe(statement).then(() => undefined),
    end: async () => {
      if (ended) return;
      ended = true;
      await reserved.unsafe('ROLLBACK').catch(() => {});
      reserved.release();
      await sql.end({ timeout: 1 });
    },
  };
}

export async function logRows(sql: Sql) {
  return [...(await sql.unsafe(`SELECT action, version, detail FROM pgpair_history_log WHERE action IN ('retry', 'failed') ORDER BY id`))] as unknown as { action: string; version: string; detail: string }[];
}

export async function versions(sql: Sql) {
  return [...(await sql.unsafe(`SELECT version_label AS v, state FROM pgpair_history ORDER BY version::numeric`))].map((r) => `${r.v}:${r.state}`);
}
