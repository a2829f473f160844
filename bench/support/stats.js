/** Small statistics over samples of one measurement. */

export function median(values) {
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** { runs, median, min, max } of the wall times, and the medians of CPU and peak RSS. */
export function summarise(samples) {
  const walls = samples.map((s) => s.wallMs);
  return {
    runs: samples.length,
    wallMs: median(walls),
    minMs: Math.min(...walls),
    maxMs: Math.max(...walls),
    cpuMs: median(samples.map((s) => s.cpuMs)),
    maxRssKb: median(samples.map((s) => s.maxRssKb)),
    processes: samples[0]?.processes ?? 1,
  };
}
