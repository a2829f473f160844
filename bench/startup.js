/**
 * Issue 17's start-up target (`--version` and `--help` ≤ 1.3× a bare `node -e ''`): the CLI's
 * text-only command lines against bare node, timed interleaved so that drift on a shared machine
 * falls on all of them alike. The last line is the same --help rendered by yargs (in a German
 * locale the snapshot is not used): what the snapshot saves. That the snapshot's text is
 * yargs' own is test/unit/help-snapshot.test.ts's job, not this file's.
 *
 *   node startup.js [--runs 30]
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanEnv } from './support/exec.js';
import { median } from './support/stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'pgpair.js');
const { values: options } = parseArgs({ options: { runs: { type: 'string', default: '30' } } });

/** @type {[string, string[], Record<string, string>][]} */
const COMMANDS = [
  ["bare `node -e ''`", ['-e', ''], {}],
  ['`pgpair --version`', [BIN, '--version'], {}],
  ['`pgpair --help`', [BIN, '--help'], {}],
  ['`pgpair up --help`', [BIN, 'up', '--help'], {}],
  ['`pgpair --help` rendered by yargs (a German locale: the snapshot is English only)', [BIN, '--help'], { LC_ALL: 'de_DE' }],
];

const runs = Number(options.runs);
const times = COMMANDS.map(() => /** @type {number[]} */ ([]));
const loadBefore = os.loadavg()[0]?.toFixed(2);
for (let run = 0; run < runs; run++) {
  for (const [index, [label, args, env]] of COMMANDS.entries()) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { env: cleanEnv({ LC_ALL: 'en_US.UTF-8', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.status !== 0) throw new Error(`${label} failed (exit ${result.status}): ${String(result.stderr).slice(-800)}`);
    times[index]?.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
}
const bare = median(times[0]);
const lines = [
  `Start-up, ${runs} interleaved runs each; ${os.cpus()[0]?.model?.trim()}, ${os.availableParallelism()} cores, Node ${process.versions.node}, load ${loadBefore} at start, ${os.loadavg()[0]?.toFixed(2)} at end.`,
  '',
  '| command | median ms | min–max ms | × bare node |',
  '|---|---:|---:|---:|',
  ...times.map((spent, index) => `| ${COMMANDS[index]?.[0]} | ${median(spent).toFixed(1)} | ${Math.min(...spent).toFixed(1)}–${Math.max(...spent).toFixed(1)} | ${(median(spent) / bare).toFixed(2)}× |`),
  '',
];
process.stdout.write(lines.join('\n'));
