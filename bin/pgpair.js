#!/usr/bin/env -S node --
// The pgpair CLI. The TypeScript sources in lib/ are compiled to dist/ by `npm install` (prepare) or `npm run build`.
// The `--` keeps Node 20 from taking pgpair's own --env-file option as its own (Node 20 reads it even after the script name).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
