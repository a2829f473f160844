/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by package
 * (pgpair's own dist/, postgres.js, pino, yargs, Node's internals, GC…) and
 * the functions with the most self time.
 */
import { readFile } from 'node:fs/promises';

function packageOf(url, pgpairRoot) {
  if (!url) return null;
  if (url.startsWith('node:')) return 'node internals';
  const path = url.replace(/^file:\/\//, '');
  const at = path.lastIndexOf('/node_modules/');
  if (at !== -1) {
    const parts = path.slice(at + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (path.startsWith(`${pgpairRoot}/dist/`) || path.startsWith(`${pgpairRoot}/bin/`)) return 'pgpair (dist/)';
  return 'other';
}

function categoryOf(node, pgpairRoot) {
  const { functionName, url } = node.callFrame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle (waiting on I/O)';
    if (functionName === '(program)') return 'V8/native (compile, bootstrap)';
    return `native ${functionName || '(anonymous)'}`;
  }
  return packageOf(url, pgpairRoot);
}

/** { spanMs, byCategory: [{ category, ms, share }], top: [{ fn, where, ms }] } */
export async function summariseProfile(file, pgpairRoot, { top = 12 } = {}) {
  const profile = JSON.parse(await readFile(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  // timeDeltas[i] is the time since the previous sample: it belongs to the sample before it.
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + delta);
  }
  const spanUs = profile.endTime - profile.startTime;
  const categories = new Map();
  const functions = new Map();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    const category = categoryOf(node, pgpairRoot);
    categories.set(category, (categories.get(category) ?? 0) + us);
    const { functionName, url, lineNumber } = node.callFrame;
    if (!url) continue;
    const short = url.replace(/^file:\/\//, '').replace(`${pgpairRoot}/`, '').replace(/^.*\/node_modules\//, '');
    const key = `${functionName || '(anonymous)'}\t${short}:${lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  const ms = (us) => Math.round(us / 100) / 10;
  return {
    spanMs: ms(spanUs),
    byCategory: [...categories]
      .sort((a, b) => b[1] - a[1])
      .map(([category, us]) => ({ category, ms: ms(us), share: Math.round((us / spanUs) * 1000) / 10 })),
    top: [...functions]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => {
        const [fn, where] = key.split('\t');
        return { fn, where, ms: ms(us) };
      }),
  };
}
