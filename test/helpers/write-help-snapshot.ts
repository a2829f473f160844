/**
 * Writes lib/cli/help-snapshot.ts: yargs' --help text for the top level and every command, at
 * the snapshot width, in English, with the fingerprint of what it was made from (help-text.ts).
 * Run after changing lib/cli/spec.ts: `node --import tsx test/helpers/write-help-snapshot.ts`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { helpFingerprint, SNAPSHOT_WIDTH } from '../../lib/cli/help-text.js';
import { parseWithYargs } from '../../lib/cli/parse.js';
import { COMMANDS } from '../../lib/cli/spec.js';

/** What yargs prints for each help request of the snapshot, by key ('' is the top level). */
export async function renderHelpTexts(): Promise<Record<string, string>> {
  const texts: Record<string, string> = {};
  for (const [key, args] of [['', ['--help']], ...COMMANDS.map((c) => [c.name, [c.name, '--help']] as const)] as [string, string[]][]) {
    const { output, usageFailure, invocation } = await parseWithYargs(args, SNAPSHOT_WIDTH);
    if (usageFailure !== null || invocation !== null || !output) throw new Error(`yargs gave no help text for ${args.join(' ')}`);
    texts[key] = output;
  }
  return texts;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.env.LC_ALL = 'en_US';
  const texts = await renderHelpTexts();
  const target = fileURLToPath(new URL('../../lib/cli/help-snapshot.ts', import.meta.url));
  writeFileSync(
    target,
    `// Written by test/helpers/write-help-snapshot.ts from yargs' output; do not edit by hand (help-text.ts).\nexport const HELP_SNAPSHOT: { fingerprint: string; texts: Record<string, string> } = ${JSON.stringify({ fingerprint: helpFingerprint(), texts }, null, 2)};\n`,
  );
  console.log(`wrote ${target}`);
}
