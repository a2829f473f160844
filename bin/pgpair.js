#!/usr/bin/env node
// The pgpair CLI. The TypeScript sources in lib/ are compiled to dist/ by `npm install` (prepare) or `npm run build`.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
