/** The PGlite driver's COPY … FROM STDIN detection (lib/db/pglite/copy.ts), read with the lexer's tokens: no database needed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFromBlob, copyFromStdin } from '../../lib/db/pglite/copy.js';

const stdinAt = (text: string): number | null => copyFromStdin(text)?.start ?? null;

describe('copyFromStdin', () => {
  it('finds COPY … FROM STDIN in any statement of a text, in any letter case', () => {
    assert.equal(stdinAt('COPY t FROM stdin;'), 12);
    assert.equal(stdinAt('select 1; copy t (a, b) from STDIN with (format csv)'), 29);
    assert.equal(stdinAt('SELECT (1; COPY t FROM stdin'), 23, 'a ; in parentheses ends a statement too: missing one would hang');
  });

  it('does not take quoted, commented or dollar-quoted text for one, whatever the dollar tag', () => {
    for (const text of [
      "SELECT 'copy t from stdin'", 'SELECT 1 -- copy t from stdin', 'SELECT /* ; copy t from stdin */ 1', 'SELECT "stdin" FROM t',
      'SELECT $$; copy t from stdin$$', 'SELECT $é$; copy t from stdin $é$', 'SELECT $tag_1$; copy t from stdin $tag_1$',
      "SELECT E'\\'; copy t from stdin'", 'COPY t TO stdout', "COPY t FROM 'stdin'", 'COPY (SELECT 1 FROM stdin) TO stdout',
      'SELECT 1 FROM stdin', 'CREATE TABLE stdin (copy int)',
    ]) {
      assert.equal(stdinAt(text), null, text);
    }
  });
});

describe('copyFromBlob', () => {
  it('reads the attached blob instead of STDIN, and moves error positions back onto the statement', () => {
    const statement = 'COPY é (a) FROM stdin WITH (FORMAT nope);';
    const rewritten = copyFromBlob(statement);
    assert.equal(rewritten.text, "COPY é (a) FROM '/dev/blob' WITH (FORMAT nope);");
    // 1-based code point positions: STDIN starts at 17 in the statement; '/dev/blob' is 6 longer than stdin.
    assert.equal(rewritten.position(rewritten.text.indexOf('nope') + 1), statement.indexOf('nope') + 1);
    assert.equal(rewritten.position(20), 17, 'inside the file name: the STDIN word');
    assert.equal(rewritten.position(3), 3);
    assert.throws(() => copyFromBlob('COPY t TO stdout'), /copyFrom needs a COPY … FROM STDIN statement/);
  });
});
