#!/usr/bin/env -S node --
// The pgpair CLI. The TypeScript sources in lib/ are compiled to dist/ by `npm install` (prepare) or `npm run build`.
// The `--` keeps Node 20 from taking pgpair's own --env-file option as its own (Node 20 reads it even after the script name).
// --version and --help are answered from help-text.js before the rest of the CLI is loaded (bench/RESULTS.md, "Startup").
import { quickText } from '../dist/cli/help-text.js';

const args = process.argv.slice(2);
const text = quickText(args, Math.min(100, process.stdout.columns ?? 100), process.env);
if (text !== null) {
  // A reader that stops early (pgpair --help | head -1) is not an error, as with the rest of the CLI's output (lib/cli/io.ts).
  process.stdout.on('error', () => {});
  process.stdout.write(`${text}\n`);
} else {
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(args);
}
