/** The machine the figures come from, for the report. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { haveGnuTime } from './exec.js';

export async function describeMachine(scratch) {
  const release = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(release)?.[1] ?? os.type();
  return {
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown CPU',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${pretty}, Linux ${os.release()}`,
    node: process.versions.node,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    gnuTime: haveGnuTime,
    server: await scratch.describe(),
  };
}

/** Share of the last 10 s in which some task waited for a CPU (Linux PSI), or null where the kernel does not say. */
export function cpuPressure() {
  try {
    const match = /^some avg10=([0-9.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
