/**
 * `pgpair up|down|stamp|status|verify` over a fleet (several --url, --targets FILE, --schemas GLOB,
 * or PGPAIR_TARGETS): the targets resolved, lib/run/fleet.ts run, a progress line per target as it
 * finishes, then a summary table (or one JSON document), and the worst target's exit code.
 */
import { InterruptedError, PgpairError, UsageError } from '../../core/errors.js';
import type { StatusReport } from '../../core/status.js';
import { fleet, type FleetResult, type FleetTarget, type TargetResult } from '../../run/fleet.js';
import { resolveDatabaseUrl } from '../../run/config.js';
import type { Migrator, VerifyResult } from '../../run/provider.js';
import type { RunResult } from '../../run/session.js';
import { checkUrlTargets, parseTargetsList, readTargetsFile, schemaTargets } from '../../run/targets.js';
import { describeTarget } from '../../db/target.js';
import type { CommandContext } from '../context.js';
import { EXIT, exitCodeOf, SIGNAL_EXIT, type ExitCode } from '../exit-codes.js';
import { presenter } from '../io.js';
import { problemLines, table } from '../output.js';

/** What one target did, as printed and as JSON. */
interface Row {
  target: string;
  result: TargetResult<unknown>['outcome'];
  /** Current version before and after (status, verify: the current version). */
  from: string | null;
  to: string | null;
  /** Migrations applied, reverted or recorded. */
  applied: number;
  durationMs: number | null;
  /** This target's exit code; null when it never started. */
  exitCode: number | null;
  error?: Record<string, unknown>;
  problems?: VerifyResult['problems'];
  head?: string | null;
}

/**
 * The worst of the targets' exit codes: a signal (130/143) > 1 (something failed at run time: the
 * target may need a person) > 3 (verification failed) > 2 (the target could not be used as given) > 0.
 */
const SEVERITY: Record<number, number> = { 0: 0, 2: 1, 3: 2, 1: 3, 130: 4, 143: 4 };
export function worstExitCode(codes: readonly (number | null)[]): number {
  let worst = 0;
  for (const code of codes) if (code !== null && (SEVERITY[code] ?? 3) > (SEVERITY[worst] ?? 0)) worst = code;
  return worst;
}

async function resolveTargets(ctx: CommandContext): Promise<string[]> {
  const { options, env } = ctx;
  const ways = [options.urls !== undefined && 'several --url', options.targetsFile !== undefined && '--targets', options.schemas !== undefined && '--schemas'].filter(Boolean);
  if (ways.length > 1) throw new UsageError(`Name a fleet's targets one way: ${ways.join(' and ')} were both given.`);
  if (options.targetsFile !== undefined && options.url !== undefined) throw new UsageError('--targets names the fleet; --url goes with --schemas, or is repeated instead of --targets.');
  for (const url of options.urls ?? []) ctx.protect(url);
  if (options.urls !== undefined) return checkUrlTargets(options.urls);
  if (options.targetsFile !== undefined) return readTargetsFile(options.targetsFile);
  if (options.schemas !== undefined) {
    ctx.protect(options.url);
    ctx.protect(env.DATABASE_URL);
    const resolved = resolveDatabaseUrl({ url: options.url, env });
    if (resolved.source === 'embedded default') throw new UsageError('--schemas expands to the schemas of one server database: give its URL with --url or DATABASE_URL.');
    return schemaTargets(resolved.url, options.schemas, describeTarget(resolved.url, env), { ...connectTimeout(ctx), signal: ctx.signal });
  }
  if (env.PGPAIR_TARGETS?.trim() && options.url === undefined) return parseTargetsList(env.PGPAIR_TARGETS);
  throw new UsageError(`--parallel, --canary and --keep-going are for a fleet: name its targets with --url given more than once, --targets FILE, --schemas GLOB or PGPAIR_TARGETS.`);
}

function connectTimeout(ctx: CommandContext): { connectTimeout?: number } {
  return ctx.options.connectTimeoutMs !== undefined ? { connectTimeout: ctx.options.connectTimeoutMs / 1000 } : {};
}

/**
 * What the fleet keeps of a target that ran: a few fields, not its whole RunResult or StatusReport,
 * so that memory stays flat however many targets there are.
 */
interface Outcome {
  from: string | null;
  to: string | null;
  applied: number;
  head?: string | null;
  problems?: VerifyResult['problems'];
}

const ofRun = (r: RunResult): Outcome => ({ from: r.from, to: r.to, applied: r.steps.length });
const ofStatus = (r: StatusReport): Outcome => ({ from: r.current, to: r.current, head: r.head, applied: 0 });
const ofVerify = (r: VerifyResult): Outcome => ({ ...ofStatus(r.report), ...(r.ok ? {} : { problems: r.problems }) });

/** The call each target gets, from the command and its options. */
function taskOf(ctx: CommandContext): (m: Migrator, target: FleetTarget) => Promise<Outcome> {
  const { options } = ctx;
  const run = {
    ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    ...(options.migrationLockTimeoutMs !== undefined ? { migrationLockTimeoutMs: options.migrationLockTimeoutMs } : {}),
    ...(options.createSchema ? { createSchema: true } : {}),
    // One connection per running target, and no other: no side session looks at lock waits.
    watchLockWaits: false,
    ...(options.target !== undefined ? { target: options.target } : {}),
    ...(options.steps !== undefined ? { steps: options.steps } : {}),
  };
  const on = (target: FleetTarget) => (target.signal ? { signal: target.signal } : {});
  switch (options.command) {
    case 'up':
      return async (m, t) => ofRun(await m.up({ ...run, ...on(t), allowOutOfOrder: options.allowOutOfOrder }));
    case 'down':
      return async (m, t) => ofRun(await m.down({ ...run, ...on(t) }));
    case 'stamp':
      return async (m, t) => ofRun(await m.stamp({ ...run, target: options.target!, ...on(t) }));
    case 'status':
      return async (m, t) => ofStatus(await m.status(on(t)));
    default:
      return async (m, t) => ofVerify(await m.verify({ ...on(t), strict: options.strict }));
  }
}

function rowOf(result: TargetResult<Outcome>): Row {
  const base = { target: result.label, result: result.outcome, durationMs: result.durationMs };
  if (result.outcome === 'skipped') return { ...base, from: null, to: null, applied: 0, exitCode: null };
  if (result.outcome !== 'ok') {
    const error = result.error;
    const data = error instanceof PgpairError ? error.toJSON() : { code: 'E_INTERNAL', message: errorText(error) };
    // A run that failed part-way says what it applied before (PartialError-style `applied`).
    const applied = Array.isArray((error as { applied?: unknown }).applied) ? (error as { applied: unknown[] }).applied.length : 0;
    // Interrupted by a signal: the code the process ends with (130/143), as a single run's.
    const signal = error instanceof InterruptedError && Object.hasOwn(SIGNAL_EXIT, error.reason) ? SIGNAL_EXIT[error.reason as keyof typeof SIGNAL_EXIT] : null;
    return { ...base, from: null, to: null, applied, exitCode: signal ?? exitCodeOf(error), error: data };
  }
  const value = result.value!;
  return { ...base, ...value, exitCode: value.problems ? EXIT.verification : EXIT.ok };
}

/** The error as the one-database CLI shows it (file:line:column, caret…), not the short message of its JSON. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const spellVersion = (v: string | null) => v ?? 'base';
const duration = (ms: number | null) => (ms === null ? '' : ms < 10_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

function resultWord(row: Row): string {
  if (row.result === 'ok' && row.exitCode === EXIT.verification) return 'problems';
  return row.result;
}

function progressLine(row: Row, error: unknown, done: number, total: number, command: string): string {
  const head = `[${done}/${total}] ${resultWord(row).padEnd(11)} ${row.target}`;
  if (row.result !== 'ok') return `${head} (exit ${row.exitCode}): ${errorText(error).split('\n')[0]}`;
  if (row.problems) return `${head}: ${row.problems.length} problem${row.problems.length === 1 ? '' : 's'}`;
  if (command === 'status' || command === 'verify') return `${head}: at ${spellVersion(row.to)}, head ${row.head ?? 'none'}, ${duration(row.durationMs)}`;
  return `${head}: ${spellVersion(row.from)} → ${spellVersion(row.to)}, ${row.applied} ${command === 'up' ? 'applied' : command === 'down' ? 'reverted' : 'recorded'}, ${duration(row.durationMs)}`;
}

function summaryText(rows: Row[], result: FleetResult<Outcome>, command: string): string {
  const readOnly = command === 'status' || command === 'verify';
  const ran = (row: Row) => row.result === 'ok';
  const cells = rows.map((row) =>
    readOnly
      ? [row.target, ran(row) ? spellVersion(row.to) : '', ran(row) ? (row.head ?? 'none') : '', duration(row.durationMs), resultWord(row)]
      : [row.target, ran(row) ? `${spellVersion(row.from)} → ${spellVersion(row.to)}` : '', ran(row) ? String(row.applied) : '', duration(row.durationMs), resultWord(row)],
  );
  const count = (word: string) => rows.filter((row) => resultWord(row) === word).length;
  const parts = ['ok', 'problems', 'failed', 'interrupted', 'skipped'].filter((w) => count(w) > 0).map((w) => `${count(w)} ${w}`);
  const why =
    result.stopped === 'canary'
      ? '; a canary failed, so no other target was started'
      : result.stopped === 'failure'
        ? '; after the first failure no new target was started (--keep-going goes on past failures)'
        : result.stopped === 'signal'
          ? '; interrupted: no new target was started'
          : '';
  const changed = command === 'up' ? 'APPLIED' : command === 'down' ? 'REVERTED' : 'RECORDED';
  const header = readOnly ? ['TARGET', 'CURRENT', 'HEAD', 'TIME', 'RESULT'] : ['TARGET', 'FROM → TO', changed, 'TIME', 'RESULT'];
  return `${table(header, cells)}\n${rows.length} target${rows.length === 1 ? '' : 's'}: ${parts.join(', ')}${why} (${duration(result.durationMs)} in all)\n`;
}

/** Runs the command over the fleet; returns the worst target's exit code (worstExitCode). */
export async function fleetCommand(ctx: CommandContext): Promise<ExitCode> {
  const { options, out } = ctx;
  if (options.sql) throw new UsageError(`--sql prints the script of one database; run it once per target (pgpair ${options.command} --sql --url URL).`);
  if (options.command === 'stamp' && options.target === undefined) throw new UsageError('pgpair stamp needs a TARGET: a version, head or base.');
  const targets = await resolveTargets(ctx);
  for (const url of targets) ctx.protect(url);
  const command = options.command;
  const rows: Row[] = [];
  let done = 0;
  const human = !options.json && !options.quiet;
  const err = presenter(() => ctx.secrets.list).text;
  const result = await fleet<Outcome>(
    {
      targets,
      dir: ctx.dir,
      table: ctx.table,
      logger: ctx.logger(),
      ...connectTimeout(ctx),
      ...(options.parallel !== undefined ? { parallel: options.parallel } : {}),
      ...(options.canary !== undefined ? { canary: options.canary } : {}),
      keepGoing: options.keepGoing,
      signal: ctx.signal,
      onResult: (finished) => {
        done++;
        const row = rowOf(finished);
        if (human) out(`${progressLine(row, finished.error, done, targets.length, command)}\n`);
        if (row.error) ctx.io.stderr(err(`error: ${row.target}: ${errorText(finished.error)}\n`));
        if (!options.json && row.problems) out(`${row.target}: ${row.problems.length} problem${row.problems.length === 1 ? '' : 's'}:\n${problemLines(row.problems)}\n`);
      },
    },
    taskOf(ctx),
  );
  rows.push(...result.results.map(rowOf));
  const exitCode = worstExitCode(rows.map((row) => row.exitCode));
  if (options.json) {
    const summary = Object.fromEntries(['ok', 'failed', 'interrupted', 'skipped'].map((w) => [w, rows.filter((row) => row.result === w).length]));
    out(`${JSON.stringify({ ok: exitCode === 0, command, exitCode, stopped: result.stopped, durationMs: result.durationMs, summary: { targets: rows.length, ...summary }, targets: rows }, null, 2)}\n`);
  } else if (!options.quiet || command === 'status' || command === 'verify' || exitCode !== 0) {
    out(summaryText(rows, result, command));
  }
  return exitCode as ExitCode;
}
