import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { helpFingerprint, quickText, SNAPSHOT_WIDTH } from '../../lib/cli/help-text.js';
import { HELP_SNAPSHOT } from '../../lib/cli/help-snapshot.js';
import { parseWithYargs } from '../../lib/cli/parse.js';
import { COMMANDS } from '../../lib/cli/spec.js';
import { renderHelpTexts } from '../helpers/write-help-snapshot.js';

// yargs translates its headings by locale; the snapshot is the English text.
process.env.LC_ALL = 'en_US';
const EN = { LANG: 'en_US.UTF-8' };
const REWRITE = 'lib/cli/help-snapshot.ts is stale: run `node --import tsx test/helpers/write-help-snapshot.ts` and commit it';

describe('--help and --version without yargs (help-text.ts)', () => {
  it('the snapshot was written from the current spec.ts', () => {
    assert.equal(HELP_SNAPSHOT.fingerprint, helpFingerprint(), REWRITE);
  });

  it('every snapshot text is exactly what yargs renders today', async () => {
    assert.deepEqual(HELP_SNAPSHOT.texts, await renderHelpTexts(), REWRITE);
  });

  it('answers --help, -h and COMMAND --help / -h with the yargs text', async () => {
    for (const args of [['--help'], ['-h'], ...COMMANDS.flatMap((c) => [[c.name, '--help'], [c.name, '-h']])]) {
      const text = quickText(args, SNAPSHOT_WIDTH, EN);
      assert.equal(text, (await parseWithYargs(args, SNAPSHOT_WIDTH)).output, args.join(' '));
    }
  });

  it('answers --version with the version yargs prints', async () => {
    assert.equal(quickText(['--version'], SNAPSHOT_WIDTH, EN), (await parseWithYargs(['--version'], SNAPSHOT_WIDTH)).output);
    assert.equal(quickText(['--version'], 40, { LANG: 'de_DE.UTF-8' }), (await parseWithYargs(['--version'], 40)).output);
  });

  it('leaves everything else to yargs: other widths, other languages, other command lines', () => {
    assert.equal(quickText(['--help'], 80, EN), null);
    assert.equal(quickText(['--help'], SNAPSHOT_WIDTH, { LANG: 'de_DE.UTF-8' }), null);
    assert.equal(quickText(['--help'], SNAPSHOT_WIDTH, { LC_ALL: 'fr_FR', LANG: 'en_US' }), null);
    for (const args of [[], ['up'], ['upp', '--help'], ['up', '--help', '--json'], ['--help', 'up'], ['up', '--version'], ['--version', '--help'], ['-V'], ['--versio']]) {
      assert.equal(quickText(args, SNAPSHOT_WIDTH, EN), null, JSON.stringify(args));
    }
  });

  it('English locales, C, POSIX and no locale at all get the snapshot', () => {
    for (const env of [{}, { LANG: 'C.UTF-8' }, { LC_ALL: 'POSIX' }, { LANG: 'en_GB' }, { LC_MESSAGES: 'en' }]) {
      assert.equal(quickText(['--help'], SNAPSHOT_WIDTH, env), HELP_SNAPSHOT.texts[''], JSON.stringify(env));
    }
  });
});
