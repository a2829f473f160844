/** `pgpair history`: the append-only log, newest first, so nobody needs psql to read it. */
import { readLog, type LogRow } from '../../run/history-log.js';
import type { BaseOptions } from '../../run/session.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { table, when } from '../output.js';

/** What one entry did, in words: the action and the migration, and for a failure its first line. */
function what(entry: LogRow): string {
  const migration = entry.version === null ? '' : ` ${entry.version}${entry.name ? `_${entry.name}` : ''}`;
  const how = entry.how && entry.how !== 'executed' && entry.action !== 'stamp' && entry.action !== 'unstamp' ? ` (${entry.how})` : '';
  return `${entry.action}${migration}${how}`;
}

export function historyText(entries: LogRow[], total: number, log: string, where: string): string {
  if (entries.length === 0) return `No changes recorded in ${log} on ${where} yet.`;
  // Who: the database user, and the program when it was not pgpair (a --sql script run by psql).
  const who = (e: LogRow) => (e.applicationName && !/^pgpair/.test(e.applicationName) ? `${e.by} via ${e.applicationName}` : e.by);
  const rows = entries.map((e) => [when(e.at), who(e), what(e), e.durationMs === null ? '' : `${e.durationMs} ms`, (e.detail ?? '').split('\n')[0]!]);
  const lines = [table(['AT', 'BY', 'WHAT', 'DURATION', 'DETAIL'], rows)];
  if (total > entries.length) lines.push('', `${entries.length} newest of ${total} entries; pgpair history --limit ${total} shows all.`);
  return lines.join('\n');
}

export async function historyCommand(ctx: { base: BaseOptions; json: boolean; out: (text: string) => void; limit: number | undefined; where: string }): Promise<ExitCode> {
  const result = await readLog({ ...ctx.base, ...(ctx.limit !== undefined ? { limit: ctx.limit } : {}) });
  if (ctx.json) {
    const entries = result.entries.map((e) => ({ ...e, at: e.at.toISOString() }));
    ctx.out(`${JSON.stringify({ database: result.database, log: result.log, total: result.total, entries }, null, 2)}\n`);
  } else {
    ctx.out(`${historyText(result.entries, result.total, result.log, ctx.where)}\n`);
  }
  return EXIT.ok;
}
