/** Human and JSON renderings of results. Pure: returns strings; the commands write them (through io.ts's presenter). */
import { shortChecksum } from '../core/checksum.js';
import { escapeValue } from '../core/mask.js';
import { describeTarget } from '../db/target.js';
import type { RunResult } from '../run/migrator.js';
import { downFileWarnings, type StatusReport } from '../core/status.js';
import type { VerifyProblem } from '../core/errors.js';
import type { ResolvedUrl } from '../run/config.js';

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

/** The `status --json` document of SPEC section 5. */
export function statusJson(report: StatusReport, extra: Record<string, unknown> = {}) {
  return {
    ...extra,
    current: report.current,
    head: report.head,
    migrations: report.migrations.map((m) => ({
      version: m.version,
      name: m.name,
      state: m.state,
      how: m.how,
      appliedAt: iso(m.appliedAt),
      appliedBy: m.appliedBy,
      durationMs: m.durationMs,
      transactional: m.transactional,
      reversible: m.reversible,
      upChecksum: m.migration?.up.checksum ?? null,
      recordedChecksum: m.row?.upChecksum ?? null,
      recordedName: m.recordedName,
      downName: m.downName,
      downState: m.downState,
      downChecksum: m.migration?.down?.checksum ?? null,
      recordedDownChecksum: m.row?.downChecksum ?? null,
      downChanged: m.downChanged,
      ...(m.row && m.row.state !== 'ok' ? { error: m.row.error, statementsDone: m.row.statementsDone, statementsTotal: m.row.statementsTotal } : {}),
    })),
  };
}

/**
 * Cells hold names from files and the database: each is shown on one line with its control
 * characters, newlines and tabs as visible escapes (the presenter escapes the rest of the output).
 * Columns are as wide as their widest cell; the last is not padded.
 */
export function table(header: string[], cells: string[][]): string {
  const rows = cells.map((row) => row.map(escapeValue));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A time as `YYYY-MM-DD HH:MM:SSZ` (UTC, whole seconds), or '' for none. */
export function when(date: Date | null): string {
  return date ? date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

export function statusText(report: StatusReport, database: string, problems: VerifyProblem[]): string {
  const lines = [`database: ${database}`, `current:  ${report.current ?? 'base (nothing applied)'}`, `head:     ${report.head ?? '(no migration files)'}`, ''];
  if (report.migrations.length === 0) {
    lines.push('No migrations yet: pgpair create SLUG writes the first pair.');
  } else {
    lines.push(
      table(
        ['VERSION', 'NAME', 'STATE', 'HOW', 'APPLIED AT', 'BY', 'DURATION', 'NOTES'],
        report.migrations.map((m) => {
          const notes: string[] = [];
          if (!m.transactional) notes.push('no-transaction');
          if (m.migration && !m.reversible) notes.push('irreversible');
          if (m.recordedName !== null) notes.push(`recorded as ${m.recordedName}`);
          if (m.downName !== null && m.downName !== m.name) notes.push(`down file ${m.version}_${m.downName}.down.sql`);
          if (m.downState === 'changed') notes.push('down file changed');
          if (m.downState === 'deleted') notes.push('down file deleted');
          if (m.state === 'changed') notes.push(`checksum ${shortChecksum(m.row?.upChecksum)} → ${shortChecksum(m.migration?.up.checksum)}`);
          if (m.row && m.row.state !== 'ok') notes.push(m.row.state === 'running' ? 'interrupted' : (m.row.error ?? '').split('\n')[0] ?? '');
          return [m.version, m.name, m.state, m.how ?? '', when(m.appliedAt), m.appliedBy ?? '', m.durationMs === null ? '' : `${m.durationMs} ms`, notes.join('; ')];
        }),
      ),
    );
  }
  const counts = new Map<string, number>();
  for (const m of report.migrations) counts.set(m.state, (counts.get(m.state) ?? 0) + 1);
  if (report.migrations.length > 0) {
    lines.push('', [...counts].map(([state, n]) => `${n} ${state}`).join(', '));
  }
  if (problems.length > 0) lines.push('', 'Problems (pgpair verify fails):', problemLines(problems));
  const warnings = downFileWarnings(report);
  if (warnings.length > 0) lines.push('', 'Warnings (pgpair verify --strict fails):', problemLines(warnings));
  return lines.join('\n');
}

/**
 * One indented line per problem. A problem's message is one line, but it holds names from files
 * and the database: a newline in one must not start a line of its own (`ok: …`).
 */
export function problemLines(problems: readonly VerifyProblem[]): string {
  return problems.map((p) => `  ${escapeValue(p.message)}`).join('\n');
}

const VERBS: Record<string, string> = { up: 'applied', down: 'reverted', stamp: 'stamped', unstamp: 'unstamped' };

export function stepLine(step: { action: string; version: string; name: string; durationMs: number; lockRetries?: number }, command: string): string {
  // Lock retries (issue 15): a step that had to be tried again says so.
  const retried = step.lockRetries ? `, after ${step.lockRetries} lock retr${step.lockRetries === 1 ? 'y' : 'ies'}` : '';
  const duration = command === 'stamp' ? '' : ` (${step.durationMs} ms${retried})`;
  return `${VERBS[step.action] ?? step.action} ${escapeValue(`${step.version}_${step.name}`)}${duration}`;
}

/**
 * The database a command changed, for its result line, never with a password:
 * `user@host:port/db` for a server, the embedded default named as such with
 * how to choose a server instead (a misspelled DATABASE_URL must not look
 * like success), `pglite:PATH` as given.
 */
export function describeDatabase(resolved: ResolvedUrl, env: Record<string, string | undefined> = {}): string {
  const { url, source } = resolved;
  if (source === 'embedded default') {
    return `the embedded development database ${url.replace(/^pglite:/, '')} (no DATABASE_URL set: pass --url or set DATABASE_URL to use a server)`;
  }
  if (url === 'pglite:memory') return 'an in-memory embedded database (pglite:memory; gone when pgpair exits)';
  if (url.startsWith('pglite:')) return `the embedded database ${url}`;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    // A libpq key=value string: host, port, user and dbname, never the password.
    const field = (name: string) => new RegExp(`(?:^|\\s)${name}\\s*=\\s*('(?:[^'\\\\]|\\\\.)*'|\\S*)`).exec(url)?.[1]?.replace(/^'|'$/g, '');
    const user = field('user');
    return `${user ? `${user}@` : ''}${field('host') ?? field('hostaddr') ?? 'localhost'}:${field('port') ?? '5432'}/${field('dbname') ?? user ?? ''}`;
  }
  // A server: where postgres.js really connects (lib/db/target.ts), the PG* variables included; never the password.
  return `${describeTarget(url, env)}${source === 'PG variables' ? ' (from the PG* variables)' : ''}`;
}

export function runSummary(result: RunResult, where?: string): string {
  const on = where === undefined ? '' : ` on ${where}`;
  const at = result.to ?? 'base';
  if (result.steps.length === 0) {
    if (result.command === 'up') return result.to === null ? `nothing to apply (no migration files)${on}` : `already at ${at}; nothing to apply${on}`;
    if (result.command === 'down') return `already at ${at}; nothing to revert${on}`;
    return `already at ${at}; nothing to record${on}`;
  }
  const total = result.steps.reduce((sum, s) => sum + s.durationMs, 0);
  const n = result.steps.length;
  const what = result.command === 'up' ? 'applied' : result.command === 'down' ? 'reverted' : 'recorded';
  const timing = result.command === 'stamp' ? ', no migration SQL ran' : ` in ${total} ms`;
  return `now at ${at} (${n} migration${n === 1 ? '' : 's'} ${what}${timing})${on}`;
}

export function runJson(result: RunResult) {
  return { ok: true, command: result.command, from: result.from, to: result.to, steps: result.steps, database: result.database };
}
