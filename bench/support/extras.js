/**
 * The measurements beyond the tool-against-tool table (issue 7, parts 2 and 3):
 *
 * - start-up: a bare `node -e ''`, `pgpair --help`, and pgpair's no-op `up`
 *   and `status` with 1000 applied, interleaved in one database;
 * - `status` (and no-op `up`) over 10,000 files, all stamped, and over
 *   10,000 pending files;
 * - what each of the CLI's dependencies costs to import;
 * - where apply-1000 spends its time: round trips (counting proxy),
 *   transactions and server time (pg_stat_database) for every tool, and CPU
 *   profiles of pgpair.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCorpus, writeFiles } from '../corpus.js';
import { PGPAIR_BIN, PGPAIR_ROOT, pgpair } from '../tools/pgpair.js';
import { targetFor } from './db.js';
import { run, runAll } from './exec.js';
import { summariseProfile } from './profile.js';
import { CountingProxy } from './proxy.js';
import { median, summarise } from './stats.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function corpusFor(workRoot, tool, n) {
  const dir = join(workRoot, 'extras', `n${n}`, tool.id);
  await writeFiles(dir, tool.layout(generateCorpus(n)));
  return dir;
}

async function mustSucceed(commands, what) {
  const measured = await runAll(commands);
  if (measured.code !== 0) throw new Error(`${what} failed (exit ${measured.code}): ${measured.stderr.slice(-800)}`);
  return measured;
}

/** Runs each labelled command `runs` times, interleaved, and summarises each. */
async function interleaved(entries, runs) {
  const samples = entries.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [index, entry] of entries.entries()) {
      const measured = await run(entry.command);
      if (measured.code !== 0) throw new Error(`${entry.label} failed (exit ${measured.code}): ${measured.stderr.slice(-800)}`);
      samples[index].push(measured);
    }
  }
  return entries.map((entry, index) => ({ label: entry.label, ...summarise(samples[index]) }));
}

async function startup({ scratch, workRoot, log }) {
  const tool = (await import('../tools/pgpair.js')).default;
  const dir = await corpusFor(workRoot, tool, 1000);
  const target = await scratch.create('pgpair_startup');
  try {
    const ctx = { target, dir, workDir: workRoot, n: 1000 };
    log('start-up: applying 1000 with pgpair, then 10 interleaved runs of each start-up measurement');
    await mustSucceed(tool.apply(ctx), 'pgpair up (1000)');
    const node = { cmd: process.execPath, args: ['-e', ''] };
    const psqlSelect = { cmd: 'psql', args: ['-X', '-q', '-At', '-d', `${target.url}?sslmode=disable`, '-c', 'SELECT 1'] };
    return await interleaved(
      [
        { label: "bare `node -e ''`", command: node },
        { label: '`psql -c "SELECT 1"` (a process and a connection)', command: psqlSelect },
        { label: '`pgpair --help`', command: { cmd: process.execPath, args: [PGPAIR_BIN, '--help'] } },
        { label: '`pgpair --version`', command: { cmd: process.execPath, args: [PGPAIR_BIN, '--version'] } },
        { label: 'pgpair no-op `up`, 1000 applied', command: tool.noop(ctx)[0] },
        { label: 'pgpair `status`, 1000 applied', command: tool.status(ctx)[0] },
      ],
      10,
    );
  } finally {
    await scratch.drop(target);
  }
}

async function tenThousand({ scratch, workRoot, log }) {
  const tool = (await import('../tools/pgpair.js')).default;
  const n = 10_000;
  const dir = await corpusFor(workRoot, tool, n);
  const stamped = await scratch.create('pgpair_10k');
  const empty = await scratch.create('pgpair_10k_empty');
  try {
    const ctx = { target: stamped, dir, workDir: workRoot, n };
    const emptyCtx = { ...ctx, target: empty };
    log('10,000 files: pgpair stamp head, then 5 interleaved runs of status, no-op up and up --sql --from base');
    const stamp = await mustSucceed([pgpair(ctx, ['stamp', 'head'])], 'pgpair stamp head (10,000)');
    const measured = await interleaved(
      [
        { label: 'pgpair `status`, 10,000 files, all applied (stamped)', command: tool.status(ctx)[0] },
        { label: 'pgpair no-op `up`, 10,000 files, all applied (stamped)', command: tool.noop(ctx)[0] },
        { label: 'pgpair `status`, 10,000 files, none applied (no history table)', command: tool.status(emptyCtx)[0] },
        { label: 'pgpair `up --sql --from base`, 10,000 files (the script to a pipe; no connection)', command: pgpair(emptyCtx, ['up', '--sql', '--from', 'base']) },
      ],
      5,
    );
    return [{ label: 'pgpair `stamp head`, 10,000 files (one run)', ...summarise([stamp]) }, ...measured];
  } finally {
    await scratch.drop(stamped);
    await scratch.drop(empty);
  }
}

/** The time `await import(X)` takes in a fresh node, from the pgpair root (so bare names resolve as pgpair's do). */
async function imports({ log }) {
  // The first dynamic import also starts the ESM loader: an empty module shows that share.
  const modules = ['data:text/javascript,export default 0', 'dotenv', 'yargs', 'pino', 'pino-pretty', 'postgres', '@electric-sql/pglite', './dist/db/postgres/connection.js', './dist/run/migrator.js', './dist/cli/main.js'];
  log('import costs: 7 fresh processes per module');
  const results = [];
  for (const module of modules) {
    const times = [];
    for (let i = 0; i < 7; i++) {
      const script = `const t = performance.now(); await import(${JSON.stringify(module)}); process.stdout.write(String(performance.now() - t));`;
      const measured = await run({ cmd: process.execPath, args: ['--input-type=module', '-e', script], cwd: PGPAIR_ROOT }, { measure: false });
      if (measured.code !== 0) break;
      times.push(Number(measured.stdout));
    }
    if (times.length) results.push({ module, ms: median(times) });
  }
  return results;
}

/** One apply of the corpus: pg_stat_database deltas, and, through the proxy, round trips. */
async function applyCounters(scratch, server, tool, dir, workRoot, n, proxy) {
  const target = await scratch.create(`${tool.id}_profile`);
  try {
    const viaProxy = proxy ? targetFor({ ...server, host: '127.0.0.1', port: proxy.port }, target.database) : target;
    proxy?.counter.reset();
    const before = await scratch.stats(target);
    const measured = await mustSucceed(tool.apply({ target: viaProxy, dir, workDir: workRoot, n }), `${tool.id} apply`);
    await sleep(1500); // the tool's backend reports its counters as it exits
    const after = await scratch.stats(target);
    const counts = await scratch.corpusCounts(target);
    if (counts.tables !== n) throw new Error(`${tool.id} applied ${counts.tables} of ${n}`);
    return {
      wallMs: measured.wallMs,
      cpuMs: measured.cpuMs,
      commits: after.xact_commit - before.xact_commit,
      activeMs: after.active_time - before.active_time,
      ...(proxy ? { ...proxy.counter.counts } : {}),
    };
  } finally {
    await scratch.drop(target);
  }
}

async function cpuProfiles({ scratch, workRoot, log }, n) {
  const tool = (await import('../tools/pgpair.js')).default;
  const dir = await corpusFor(workRoot, tool, n);
  const profiles = [];
  const target = await scratch.create('pgpair_cpuprof');
  try {
    const ctx = { target, dir, workDir: workRoot, n };
    for (const [command, args] of [
      [`up (apply ${n})`, ['up']],
      [`up (no-op, ${n} applied)`, ['up']],
      [`status (${n} applied)`, ['status']],
    ]) {
      const profileDir = join(workRoot, 'cpuprof', String(profiles.length));
      await mkdir(profileDir, { recursive: true });
      log(`cpu profile: pgpair ${command}`);
      await mustSucceed([pgpair(ctx, args, ['--cpu-prof', '--cpu-prof-dir', profileDir])], `pgpair ${command}`);
      const [file] = await readdir(profileDir);
      if (file === undefined) throw new Error(`node --cpu-prof wrote no profile into ${profileDir}`);
      profiles.push({ command, ...(await summariseProfile(join(profileDir, file), PGPAIR_ROOT)) });
    }
    const helpDir = join(workRoot, 'cpuprof', 'help');
    await mkdir(helpDir, { recursive: true });
    await mustSucceed([{ cmd: process.execPath, args: ['--cpu-prof', '--cpu-prof-dir', helpDir, PGPAIR_BIN, '--help'] }], 'pgpair --help');
    const [file] = await readdir(helpDir);
    if (file === undefined) throw new Error(`node --cpu-prof wrote no profile into ${helpDir}`);
    profiles.push({ command: '--help', ...(await summariseProfile(join(helpDir, file), PGPAIR_ROOT)) });
  } finally {
    await scratch.drop(target);
  }
  return profiles;
}

async function profile(context, n) {
  const { scratch, server, tools, workRoot, log } = context;
  const counter = new CountingProxy({ host: server.host, port: server.port });
  const port = await counter.start();
  const perTool = [];
  try {
    for (const tool of tools) {
      log(`profile: ${tool.id} apply ${n}, once plain (server counters) and once through the counting proxy`);
      const dir = await corpusFor(workRoot, tool, n);
      try {
        const plain = await applyCounters(scratch, server, tool, dir, workRoot, n, null);
        const proxied = await applyCounters(scratch, server, tool, dir, workRoot, n, { port, counter });
        perTool.push({
          tool: tool.id,
          label: tool.label,
          wallMs: plain.wallMs,
          cpuMs: plain.cpuMs,
          commits: plain.commits,
          activeMs: plain.activeMs,
          connections: proxied.connections,
          roundTrips: proxied.roundTrips,
          queries: proxied.queries,
          clientMessages: proxied.clientMessages,
          proxiedWallMs: proxied.wallMs,
        });
      } catch (error) {
        perTool.push({ tool: tool.id, label: tool.label, error: (error instanceof Error ? error.message : String(error)).split('\n')[0] });
      }
    }
  } finally {
    await counter.stop();
  }
  return { n, tools: perTool, cpuProfiles: await cpuProfiles(context, n) };
}

/** The pgpair apply-N time of the plain profile run split into client CPU, server SQL time and the rest. */
function breakdown(profileResult) {
  const run = profileResult.tools.find((t) => t.tool === 'pgpair');
  if (!run || run.error || run.cpuMs === null) return null;
  // Negative when client and server work at the same time (pipelining, two cores).
  const restMs = run.wallMs - run.cpuMs - run.activeMs;
  const share = (x) => Math.round((x / run.wallMs) * 100);
  return { wallMs: run.wallMs, cpuMs: run.cpuMs, activeMs: run.activeMs, restMs, cpuShare: share(run.cpuMs), activeShare: share(run.activeMs), restShare: share(restMs) };
}

export async function runExtras(context) {
  const pgpairThere = context.tools.some((t) => t.id === 'pgpair');
  if (!pgpairThere) return null;
  const extras = {};
  extras.startup = [...(await startup(context)), ...(await tenThousand(context))];
  extras.imports = await imports(context);
  extras.profile = await profile(context, 1000);
  extras.profile.breakdown = breakdown(extras.profile);
  return extras;
}
