/**
 * Issue 7, last target: applying a migration with a ~100 MB `COPY … FROM stdin` block must keep
 * pgpair's peak memory under 150 MB (the data is streamed from the file, never held whole).
 *
 * Generates one migration whose up file creates a table and fills it with a COPY block of about
 * --mb MB (default 100), then measures, for each pgpair tree given (the working tree above by
 * default; --baseline DIR adds another, e.g. a build of main before the change):
 *
 *   pgpair up                       on a fresh scratch database (then checks the row count)
 *   pgpair up --sql --from base     with stdout to /dev/null (no database)
 *
 * Peak RSS comes from GNU time (/usr/bin/time) when it is installed, otherwise from polling the
 * child's VmHWM in /proc (Linux). Prints a Markdown table (and --json FILE writes the figures).
 *
 *   npm run bench:copy                                   # in bench/
 *   node copy-memory.js --mb 100 --runs 3 --baseline /tmp/pgpair-main
 *
 * BENCH_DATABASE_URL as for runner.js; scratch databases are named bench_<pid>_copy_….
 */
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Scratch, serverFromEnv } from './support/db.js';
import { cleanEnv, readGnuTime } from './support/exec.js';
import { median } from './support/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const GNU_TIME = '/usr/bin/time';

const { values: options } = parseArgs({
  options: {
    mb: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    pgpair: { type: 'string', default: resolve(HERE, '..') },
    baseline: { type: 'string' },
    json: { type: 'string' },
    'no-proc': { type: 'boolean', default: false },
  },
});

const log = (text) => process.stderr.write(`bench:copy: ${text}\n`);

/** The migration: a table, and a COPY block of about `megabytes` MB of rows (mixed text, numbers, a timestamp, some non-ASCII). */
async function writeMigration(dir, megabytes) {
  const path = join(dir, '0001_copy_rows.up.sql');
  const out = createWriteStream(path);
  out.write('-- A table filled by one large COPY block (bench/copy-memory.js).\n');
  out.write('CREATE TABLE bench_copy (id bigint PRIMARY KEY, name text NOT NULL, note text, amount numeric, at timestamptz);\n');
  out.write('COPY bench_copy (id, name, note, amount, at) FROM stdin;\n');
  const target = megabytes * 1_000_000;
  let written = 0;
  let rows = 0;
  let batch = '';
  while (written < target) {
    rows++;
    const line = `${rows}\tname ${rows} ${'x'.repeat(rows % 17)}\tnote for row ${rows}: café, naïve, 日本 ${rows % 3 === 0 ? '\\N' : 'ok'}\t${(rows * 1.25).toFixed(2)}\t2024-01-01 00:00:00+00\n`;
    batch += line;
    written += Buffer.byteLength(line);
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.write(batch);
  out.write('\\.\n');
  out.end('CREATE INDEX bench_copy_name_idx ON bench_copy (name);\n');
  await once(out, 'finish');
  await writeFile(join(dir, '0001_copy_rows.down.sql'), 'DROP TABLE bench_copy;\n');
  return { path, rows, bytes: written };
}

/** Peak RSS of a running child by polling /proc/PID/status (VmHWM only grows), for machines without GNU time. */
function pollHighWaterMark(pid) {
  let peakKb = 0;
  const read = () => {
    try {
      const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) peakKb = Math.max(peakKb, Number(match[1]));
    } catch {
      // The process is gone.
    }
  };
  const timer = setInterval(read, 20);
  return {
    stop: () => {
      clearInterval(timer);
      read();
      return peakKb;
    },
  };
}

/** Runs pgpair with stdout to /dev/null; wall time, CPU and peak RSS of the pgpair process. */
async function measure(root, args, scratchDir) {
  const useTime = existsSync(GNU_TIME) && !options['no-proc'];
  const timeFile = join(scratchDir, `time-${process.hrtime.bigint()}`);
  const node = process.execPath;
  const pgpairArgs = ['--', join(root, 'bin', 'pgpair.js'), ...args];
  const [cmd, argv] = useTime ? [GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, node, ...pgpairArgs]] : [node, pgpairArgs];
  const devNull = openSync('/dev/null', 'w');
  const stderr = [];
  const started = process.hrtime.bigint();
  const child = spawn(cmd, argv, { env: cleanEnv(), stdio: ['ignore', devNull, 'pipe'] });
  const poll = useTime ? null : pollHighWaterMark(child.pid);
  child.stderr?.on('data', (chunk) => stderr.push(chunk));
  const [code] = await once(child, 'close');
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  closeSync(devNull);
  const polled = poll ? poll.stop() : null;
  const { cpuMs, maxRssKb } = useTime ? await readGnuTime(timeFile) : { cpuMs: null, maxRssKb: polled };
  return { code, wallMs, cpuMs, maxRssKb, stderr: Buffer.concat(stderr).toString('utf8').slice(-3000) };
}

async function countRows(target) {
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    return Number((await client.query('SELECT count(*) AS n FROM bench_copy')).rows[0].n);
  } finally {
    await client.end();
  }
}

async function main() {
  const megabytes = Number(options.mb);
  const runs = Number(options.runs);
  const trees = [...(options.baseline ? [{ label: 'baseline', root: resolve(options.baseline) }] : []), { label: 'this tree', root: resolve(options.pgpair) }];
  for (const tree of trees) {
    if (!existsSync(join(tree.root, 'dist', 'cli', 'main.js'))) throw new Error(`${tree.root} has no dist/: build it first (npm run build)`);
    tree.commit = await gitCommit(tree.root);
  }
  const scratchDir = await mkdtemp(join(os.tmpdir(), 'pgpair-bench-copy-'));
  const scratch = new Scratch(serverFromEnv());
  const results = [];
  try {
    const dir = join(scratchDir, 'sql');
    await mkdir(dir);
    log(`writing a migration with a ${megabytes} MB COPY block to ${dir}`);
    const file = await writeMigration(dir, megabytes);
    log(`${file.rows} rows, ${(file.bytes / 1e6).toFixed(1)} MB of data`);
    for (let run = 1; run <= runs; run++) {
      for (const tree of trees) {
        const target = await scratch.create(`copy_${tree.label}`);
        try {
          const applied = await measure(tree.root, ['up', '--url', target.url, '--dir', dir, '--log-level', 'error'], scratchDir);
          const rows = applied.code === 0 ? await countRows(target) : null;
          if (applied.code !== 0 || rows !== file.rows) throw new Error(`${tree.label}: pgpair up failed (exit ${applied.code}, ${rows} rows of ${file.rows}):\n${applied.stderr}`);
          results.push({ tree: tree.label, scenario: 'up', run, ...applied, stderr: undefined });
          log(`run ${run}, ${tree.label}: up ${(applied.wallMs / 1000).toFixed(2)} s, peak RSS ${((applied.maxRssKb ?? NaN) / 1024).toFixed(0)} MiB`);
        } finally {
          await scratch.drop(target);
        }
        const script = await measure(tree.root, ['up', '--sql', '--from', 'base', '--dir', dir, '--log-level', 'error'], scratchDir);
        if (script.code !== 0) throw new Error(`${tree.label}: pgpair up --sql failed (exit ${script.code}):\n${script.stderr}`);
        results.push({ tree: tree.label, scenario: 'up --sql --from base > /dev/null', run, ...script, stderr: undefined });
        log(`run ${run}, ${tree.label}: up --sql ${(script.wallMs / 1000).toFixed(2)} s, peak RSS ${((script.maxRssKb ?? NaN) / 1024).toFixed(0)} MiB`);
      }
    }
  } finally {
    await scratch.dropAll();
    await rm(scratchDir, { recursive: true, force: true });
  }
  const report = renderTable(trees, results, megabytes, runs);
  process.stdout.write(report);
  if (options.json) await writeFile(options.json, `${JSON.stringify({ megabytes, runs, trees, machine: machine(), results }, null, 2)}\n`);
}

function machine() {
  return {
    cpu: os.cpus()[0]?.model?.trim(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.versions.node,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    peakRssFrom: existsSync(GNU_TIME) && !options['no-proc'] ? 'GNU time (%M)' : '/proc/PID/status VmHWM, polled every 20 ms',
  };
}

async function gitCommit(root) {
  const child = spawn('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const out = [];
  child.stdout.on('data', (chunk) => out.push(chunk));
  const [code] = await once(child, 'close');
  return code === 0 ? Buffer.concat(out).toString().trim() : null;
}

function renderTable(trees, results, megabytes, runs) {
  const m = machine();
  const lines = [
    `${megabytes} MB COPY block, ${runs} run${runs === 1 ? '' : 's'} each; ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, load ${m.loadAverage.join(' ')}; peak RSS from ${m.peakRssFrom}.`,
    '',
    '| pgpair | command | peak RSS MiB, median (max) | wall s, median (min–max) | CPU s, median |',
    '|---|---|---:|---:|---:|',
  ];
  for (const tree of trees) {
    for (const scenario of ['up', 'up --sql --from base > /dev/null']) {
      const mine = results.filter((r) => r.tree === tree.label && r.scenario === scenario);
      if (mine.length === 0) continue;
      const rss = mine.map((r) => r.maxRssKb / 1024);
      const wall = mine.map((r) => r.wallMs / 1000);
      const cpu = mine.map((r) => r.cpuMs).filter((c) => c !== null).map((c) => c / 1000);
      lines.push(`| ${tree.label}${tree.commit ? ` (${tree.commit})` : ''} | \`pgpair ${scenario}\` | ${median(rss).toFixed(0)} (${Math.max(...rss).toFixed(0)}) | ${median(wall).toFixed(2)} (${Math.min(...wall).toFixed(2)}–${Math.max(...wall).toFixed(2)}) | ${cpu.length ? median(cpu).toFixed(2) : 'n/a'} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

main().catch((error) => {
  log(error.stack ?? String(error));
  process.exitCode = 1;
});
