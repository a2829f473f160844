/**
 * Checksums against fixed values. Every recorded migration carries its checksum, so a change of
 * what is hashed (the algorithm, its tag, the normalisation of line ends, BOM or encoding) would
 * mark every applied migration as changed. The expected digests below were computed once, outside
 * pgpair (`printf … | sha256sum`, Python's hashlib over the generated text), and are written here
 * as literals: such a change fails this file, and must come with a migration path for histories.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CHECKSUM_ALGORITHM, checksum, shortChecksum } from '../../lib/core/checksum.js';
import { readMigrations } from '../../lib/read/source.js';

const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SELECT_1 = 'sha256:b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd';

describe('checksum', () => {
  it('is tagged sha256', () => {
    assert.equal(CHECKSUM_ALGORITHM, 'sha256');
  });

  it('of the empty file', () => {
    assert.equal(checksum(''), EMPTY);
  });

  it('is the same for LF, CRLF and lone CR line ends', () => {
    assert.equal(checksum('SELECT 1;\n'), SELECT_1);
    assert.equal(checksum('SELECT 1;\r\n'), SELECT_1);
    assert.equal(checksum('SELECT 1;\r'), SELECT_1);
  });

  it('ignores a leading BOM, and only a leading one', () => {
    assert.equal(checksum('\uFEFFSELECT 1;\n'), SELECT_1);
    assert.equal(checksum('\uFEFFSELECT 1;\r\n'), SELECT_1);
    assert.notEqual(checksum('SELECT 1;\n\uFEFF'), SELECT_1);
  });

  it('keeps trailing whitespace and blank lines: they are part of the file', () => {
    assert.equal(checksum('SELECT 1;  \n'), 'sha256:36d7d6fb3bc78b88e384b466b1718a864a07de9935ebd6aa016081cf09e9d837');
    assert.equal(checksum('SELECT 1;\t\n\n'), 'sha256:c8f51d4e2a60a3e64b2265c44f38e947d78d86557cfdbd91d44efabd47f41898');
  });

  it('hashes the UTF-8 bytes of non-ASCII text', () => {
    assert.equal(checksum("INSERT INTO t VALUES ('Zoë 🐘');\n"), 'sha256:f6d00ba113346917b9435b954dd247c9b8ea54f0e3e3a9dec68294dc358cded8');
  });

  it('is shown short as algorithm and 12 hex digits', () => {
    assert.equal(shortChecksum(SELECT_1), 'sha256:b4e0497804e4');
  });
});

describe('checksum of a file read from disk', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pgpair-checksum-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  // 30 000 lines, 1.5 MB: with the BOM and CRLF line ends on disk; its LF form is what is hashed.
  const line = (i: number) => `INSERT INTO t VALUES (${i}, 'é ünïcode 🐘');`;
  const lines = Array.from({ length: 30_000 }, (_, i) => line(i));
  const BIG = 'sha256:133b9b4e0b075d24a740c7970e77119cc6c26d99f55ef00a5b31352964fd2e43';
  writeFileSync(join(scratch, '0001_big.up.sql'), `\uFEFF${lines.join('\r\n')}\r\n`);

  it('held whole, is the fixed value', async () => {
    const set = await readMigrations(scratch);
    const file = set.migrations[0]!.up;
    assert.equal(file.large, undefined, 'read whole');
    assert.equal(file.checksum, BIG);
    assert.equal(checksum(`${lines.join('\n')}\n`), BIG);
  });

  it('streamed in pieces that split CRLF pairs and UTF-8 sequences, is the same value', async () => {
    // An odd piece size, so that piece ends fall inside CRLF pairs and multi-byte characters.
    const set = await readMigrations(scratch, { largeFileBytes: 64 * 1024, chunkBytes: 4099 });
    const file = set.migrations[0]!.up;
    assert.ok(file.large, 'streamed, not held whole');
    assert.equal(file.checksum, BIG);
  });
});
