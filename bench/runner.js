/**
 * The benchmark: every tool, on the same server and the same corpus, in one
 * run. For each corpus size and each repetition, each tool gets a new scratch
 * database and goes through one cycle:
 *
 *   apply all N from empty → check N tables → no-op `up` → `status` → revert all → check 0 tables
 *
 * Tools take turns within a repetition, in an order rotated every repetition,
 * so that drift on the machine is spread over all of them. The full run then
 * adds the start-up, 10,000-file and profile measurements (support/extras.js)
 * and rewrites the generated part of RESULTS.md.
 *
 *   node runner.js            the full run (npm run bench)
 *   node runner.js --smoke    N = 10, one run each, no extras; exit 1 if any tool failed (npm run bench:smoke)
 *
 * Options: --sizes 100,1000  --tools pgpair,dbmate  --no-extras  --extras-only  --out FILE
 * Environment: BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/postgres).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateCorpus, writeFiles } from './corpus.js';
import { Scratch, serverFromEnv } from './support/db.js';
import { cleanupExec, runAll } from './support/exec.js';
import { runExtras } from './support/extras.js';
import { cpuPressure, describeMachine } from './support/machine.js';
import { renderSmoke, writeResults } from './support/report.js';
import { median } from './support/stats.js';
import { TOOLS } from './tools/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCENARIOS = /** @type {const} */ (['apply', 'noop', 'status', 'revert']);

/** @typedef {{ wallMs: number, cpuMs: number | null, maxRssKb: number | null, processes: number }} Sample */

/** @returns {Record<(typeof SCENARIOS)[number], Sample[]>} one empty list per scenario */
function noSamples() {
  return { apply: [], noop: [], status: [], revert: [] };
}

const { values: options } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    tools: { type: 'string' },
    'no-extras': { type: 'boolean', default: false },
    'extras-only': { type: 'boolean', default: false },
    out: { type: 'string', default: join(HERE, 'RESULTS.md') },
  },
});

const launched = Date.now();
const log = (text) => process.stderr.write(`bench [${Math.round((Date.now() - launched) / 1000)} s]: ${text}\n`);
const fmt = (ms) => `${ms.toFixed(0)} ms`;

/** How many times each size is measured: at least 5 for the small scenarios, 3 for apply-1000. */
function plan(smoke) {
  if (smoke) return { sizes: [10], reps: () => 1, repeatsPerRep: () => 1, warmUp: false };
  const sizes = options.sizes ? options.sizes.split(',').map(Number) : [100, 1000];
  const reps = (n) => (n >= 1000 ? 3 : 5);
  // No-op and status do not change the database, so they are repeated within a cycle up to 5 samples.
  return { sizes, reps, repeatsPerRep: (n) => Math.ceil(5 / reps(n)), warmUp: true };
}

/**
 * What is kept of a measurement: the figures, not the output.
 * @param {import('./support/exec.js').Measured & { processes?: number }} measured
 * @returns {Sample}
 */
function sample(measured) {
  return { wallMs: measured.wallMs, cpuMs: measured.cpuMs, maxRssKb: measured.maxRssKb, processes: measured.processes ?? 1 };
}

function failure(scenario, measured, detail) {
  return { scenario, code: measured?.code ?? null, detail, stderr: (measured?.stderr || measured?.stdout || '').slice(-1500) };
}

function complete(counts, n) {
  return counts.tables === n && counts.indexes === n && counts.comments === n;
}

/**
 * One cycle of one tool in a new scratch database. Returns the samples it took
 * ({ scenario: Measured[] }), the scenarios it cannot do, and what failed.
 */
async function cycle(scratch, tool, ctxBase, { repeats }) {
  const target = await scratch.create(`${tool.id}_${ctxBase.n}`);
  const ctx = { ...ctxBase, target };
  const samples = noSamples();
  const na = {};
  const failures = [];
  try {
    const applied = await runAll(tool.apply(ctx));
    const afterApply = await scratch.corpusCounts(target);
    if (applied.code !== 0 || !complete(afterApply, ctx.n)) {
      failures.push(failure('apply', applied, `exit ${applied.code}; ${afterApply.tables}/${ctx.n} tables, ${afterApply.indexes} indexes, ${afterApply.comments} comments`));
      return { samples, na, failures };
    }
    samples.apply.push(sample(applied));

    for (const scenario of ['noop', 'status']) {
      for (let k = 0; k < repeats; k++) {
        const commands = tool[scenario](ctx);
        if (!Array.isArray(commands)) {
          na[scenario] = commands.na;
          break;
        }
        const measured = await runAll(commands);
        if (measured.code !== 0) {
          failures.push(failure(scenario, measured, `exit ${measured.code}`));
          break;
        }
        samples[scenario].push(sample(measured));
      }
    }
    const afterNoop = await scratch.corpusCounts(target);
    if (!complete(afterNoop, ctx.n)) failures.push(failure('noop', null, `no-op up or status changed the schema: ${afterNoop.tables} tables`));

    const commands = tool.revert(ctx);
    if (!Array.isArray(commands)) {
      na.revert = commands.na;
    } else {
      const reverted = await runAll(commands);
      const afterRevert = await scratch.corpusCounts(target);
      if (reverted.code !== 0 || afterRevert.tables !== 0) {
        failures.push(failure('revert', reverted, `exit ${reverted.code}; ${afterRevert.tables} tables left`));
      } else {
        samples.revert.push(sample(reverted));
      }
    }
    return { samples, na, failures };
  } finally {
    await scratch.drop(target);
  }
}

/** Writes each tool's corpus of size n in its own layout; returns { toolId: dir }. */
async function writeCorpora(workRoot, tools, n) {
  const migrations = generateCorpus(n);
  const dirs = {};
  for (const tool of tools) {
    dirs[tool.id] = join(workRoot, `n${n}`, tool.id);
    await writeFiles(dirs[tool.id], tool.layout(migrations));
  }
  return dirs;
}

async function measureTools(scratch, tools, workRoot, smoke) {
  const { sizes, reps, repeatsPerRep, warmUp } = plan(smoke);
  const results = [];
  for (const n of sizes) {
    const dirs = await writeCorpora(workRoot, tools, n);
    const byTool = new Map(tools.map((tool) => [tool.id, { tool: tool.id, n, samples: noSamples(), na: {}, failures: [] }]));
    if (warmUp && n === sizes[0]) {
      log(`warm-up: one untimed cycle per tool at N=${n}`);
      for (const tool of tools) await cycle(scratch, tool, { n, dir: dirs[tool.id], workDir: workRoot }, { repeats: 1 });
    }
    for (let rep = 0; rep < reps(n); rep++) {
      const order = tools.map((_, i) => tools[(i + rep) % tools.length]);
      for (const tool of order) {
        const started = Date.now();
        const one = await cycle(scratch, tool, { n, dir: dirs[tool.id], workDir: workRoot }, { repeats: repeatsPerRep(n) });
        const entry = byTool.get(tool.id);
        for (const s of SCENARIOS) entry.samples[s].push(...one.samples[s]);
        Object.assign(entry.na, one.na);
        entry.failures.push(...one.failures.map((f) => ({ ...f, rep })));
        const apply = one.samples.apply[0];
        log(
          `N=${n} run ${rep + 1}/${reps(n)} ${tool.id}: ${one.failures.length ? `FAILED ${one.failures.map((f) => `${f.scenario} (${f.detail})`).join(', ')}` : `apply ${apply ? fmt(apply.wallMs) : '(no sample)'}`} [cycle ${((Date.now() - started) / 1000).toFixed(1)} s]`,
        );
      }
    }
    results.push(...byTool.values());
  }
  return results;
}

async function main() {
  const smoke = options.smoke;
  const server = serverFromEnv();
  const scratch = new Scratch(server);
  const workRoot = await mkdtemp(join(tmpdir(), 'pgpair-bench-'));
  const started = Date.now();
  // Other work on the machine shows up in the figures: sample the load to say how much there was.
  const load = [];
  const pressure = [];
  const sampler = setInterval(() => {
    load.push(loadavg()[0]);
    const cpu = cpuPressure();
    if (cpu !== null) pressure.push(cpu);
  }, 5000);
  sampler.unref();
  const stop = async () => {
    clearInterval(sampler);
    await scratch.dropAll();
    await rm(workRoot, { recursive: true, force: true });
    await cleanupExec();
  };
  process.once('SIGINT', () => stop().finally(() => process.exit(130)));

  try {
    const wanted = options.tools ? new Set(options.tools.split(',')) : null;
    const tools = [];
    const unavailable = [];
    const versions = {};
    for (const tool of TOOLS.filter((t) => !wanted || wanted.has(t.id))) {
      const reason = await tool.unavailable();
      if (reason) {
        log(`${tool.id} cannot run here: ${reason}`);
        unavailable.push({ tool: tool.id, label: tool.label, reason });
      } else {
        versions[tool.id] = await tool.version();
        tools.push(tool);
      }
    }
    const machine = await describeMachine(scratch);
    log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, PostgreSQL ${machine.server.version}`);

    const results = options['extras-only'] ? [] : await measureTools(scratch, tools, workRoot, smoke);
    const failed = results.filter((r) => r.failures.length > 0);

    if (smoke) {
      process.stdout.write(renderSmoke({ results, unavailable, tools, versions, seconds: (Date.now() - started) / 1000 }));
      return failed.length > 0 || unavailable.length > 0 ? 1 : 0;
    }

    const extras = options['no-extras'] ? null : await runExtras({ scratch, server, tools, workRoot, log });
    const run = {
      date: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      machine: {
        ...machine,
        loadDuringRun: load.length
          ? {
              min: Math.min(...load),
              median: median(load),
              max: Math.max(...load),
              samples: load.length,
              cpuPressure: pressure.length ? { min: Math.min(...pressure), median: median(pressure), max: Math.max(...pressure) } : null,
            }
          : null,
      },
      versions,
      unavailable,
      tools: tools.map((t) => ({ id: t.id, label: t.label, notes: t.notes })),
      results,
      extras,
    };
    await writeResults(options.out, run);
    log(`wrote ${options.out} and results.json in ${run.seconds} s`);
    return failed.length > 0 ? 1 : 0;
  } finally {
    await stop();
  }
}

process.exitCode = await main();
