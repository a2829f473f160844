/**
 * `pgpair lint`: findings on stdout (human, JSON or GitHub annotations), exit 3 when an
 * error-level finding remains. Offline when no database is configured (no --url, no
 * DATABASE_URL, no PG* variables): lint then never falls back to the embedded development
 * database, creates nothing and needs no server; CI and NODE_ENV=production do not make a missing
 * URL an error here, since offline is a mode of its own.
 */
import type { Finding, LintReport } from '../../core/lint/engine.js';
import { PG_VARIABLES } from '../../run/config.js';
import { lintConnected, lintOffline, parseServerVersion, type LintSettings } from '../../run/lint.js';
import { withSession } from '../../run/session.js';
import { readMigrations } from '../../read/source.js';
import { databaseContext, type CommandContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

export async function lintCommand(ctx: CommandContext, embedded: (isEmbedded: boolean) => void): Promise<ExitCode> {
  const { options, env } = ctx;
  const settings: LintSettings = { minRows: options.minRows, all: options.all, from: options.from, serverVersion: options.serverVersion };
  // Checked before anything is read, connected or not.
  if (options.serverVersion !== undefined) parseServerVersion(options.serverVersion);
  const configured = Boolean(options.url?.trim()) || Boolean(env.DATABASE_URL?.trim()) || PG_VARIABLES.some((name) => env[name]);
  let report: LintReport;
  if (!configured) {
    report = lintOffline(await readMigrations(ctx.dir), settings);
  } else {
    const db = databaseContext(ctx, embedded);
    if (options.serverVersion !== undefined) ctx.logger().warn(`--server-version ${options.serverVersion} is ignored: connected to ${db.where}, lint uses that server's version`);
    if (options.from !== undefined) ctx.logger().warn(`--from ${options.from} is ignored: connected, lint reads which migrations are applied from the history`);
    report = await withSession({ ...db.base, readOnly: true }, (session) => lintConnected(session, settings));
  }
  const format = options.format ?? (options.json ? 'json' : 'human');
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  ctx.out(format === 'json' ? `${JSON.stringify(lintJson(report), null, 2)}\n` : format === 'github' ? githubText(report) : humanText(report, options.quiet));
  return errors > 0 ? EXIT.verification : EXIT.ok;
}

function versionText(num: number): string {
  return `${Math.floor(num / 10000)}.${num % 10000}`;
}

function summary(report: LintReport): string {
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  const warnings = report.findings.length - errors;
  const { facts } = report;
  const server = facts.serverVersionSource === 'server' ? `PostgreSQL ${versionText(facts.serverVersionNum)} (the server's)`
    : facts.serverVersionSource === 'option' ? `PostgreSQL ${versionText(facts.serverVersionNum)} (--server-version)` : 'PostgreSQL 12 assumed (offline: the oldest supported; --server-version to change)';
  const counted = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  const suppressed = report.suppressed.length > 0 ? `, ${report.suppressed.length} suppressed` : '';
  return `${counted}${suppressed} in ${report.files.length} file${report.files.length === 1 ? '' : 's'}; ${server}${facts.connected ? '' : ', offline: no table sizes'}`;
}

function humanText(report: LintReport, quiet: boolean): string {
  const lines = report.findings.flatMap((f) => [`${f.file}:${f.line}:${f.column}: ${f.severity} ${f.rule}: ${f.message}`, `  instead: ${f.fix}`]);
  if (!quiet || report.findings.length > 0) lines.push(summary(report));
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** GitHub workflow commands: `%`, CR and LF escaped in the message; `:` and `,` too in the properties. */
function githubText(report: LintReport): string {
  const data = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const property = (text: string) => data(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const line = (f: Finding) =>
    `::${f.severity === 'error' ? 'error' : 'warning'} file=${property(f.file)},line=${f.line},col=${f.column},title=${property(`pgpair lint ${f.rule}`)}::${data(`${f.message}. Instead: ${f.fix}`)}`;
  return `${[...report.findings.map(line), summary(report)].join('\n')}\n`;
}

function lintJson(report: LintReport) {
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  return {
    ok: errors === 0,
    connected: report.facts.connected,
    serverVersion: versionText(report.facts.serverVersionNum),
    serverVersionNum: report.facts.serverVersionNum,
    serverVersionSource: report.facts.serverVersionSource,
    minRows: report.facts.minRows,
    files: report.files,
    errors,
    warnings: report.findings.length - errors,
    findings: report.findings,
    suppressed: report.suppressed,
  };
}
