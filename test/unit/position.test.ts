import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codePointPositionToIndex, createLineLocator, excerpt, lineColumnAt } from '../../lib/core/position.js';

describe('codePointPositionToIndex', () => {
  it('maps 1-based code point positions to 0-based UTF-16 indexes', () => {
    assert.equal(codePointPositionToIndex('SELECT x', 1), 0);
    assert.equal(codePointPositionToIndex('SELECT x', 8), 7);
    // 🎉 is one character to PostgreSQL and two UTF-16 units to JavaScript.
    const text = "SELECT '🎉', é, bad";
    assert.equal(codePointPositionToIndex(text, 13), text.indexOf('é'));
    assert.equal(codePointPositionToIndex(text, 16), text.indexOf('bad'));
  });

  it('clamps to the text and treats positions below 1 or not numbers as the start', () => {
    assert.equal(codePointPositionToIndex('abc', 10), 3);
    assert.equal(codePointPositionToIndex('a🎉', 3), 3);
    assert.equal(codePointPositionToIndex('abc', 0), 0);
    assert.equal(codePointPositionToIndex('abc', -4), 0);
    assert.equal(codePointPositionToIndex('abc', Number.NaN), 0);
    assert.equal(codePointPositionToIndex('', 5), 0);
  });

  it('counts a lone surrogate as one character', () => {
    assert.equal(codePointPositionToIndex('\uD800x', 2), 1);
    assert.equal(codePointPositionToIndex('\uDC00\uD800x', 3), 2);
  });

  it('agrees with Array.from for any string and position', () => {
    fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0x10ffff }).map((code) => String.fromCodePoint(code)), maxLength: 30 }), fc.integer({ min: 1, max: 40 }), (text, position) => {
      const expected = Array.from(text).slice(0, position - 1).join('').length;
      assert.equal(codePointPositionToIndex(text, position), expected);
    }), { numRuns: 300 });
  });
});

describe('lineColumnAt', () => {
  it('gives 1-based lines and code point columns', () => {
    const text = 'ab\n🎉é x\n\nlast';
    assert.deepEqual(lineColumnAt(text, 0), { line: 1, column: 1 });
    assert.deepEqual(lineColumnAt(text, 2), { line: 1, column: 3 });
    assert.deepEqual(lineColumnAt(text, 3), { line: 2, column: 1 });
    assert.deepEqual(lineColumnAt(text, text.indexOf('x')), { line: 2, column: 4 });
    assert.deepEqual(lineColumnAt(text, text.indexOf('last')), { line: 4, column: 1 });
    assert.deepEqual(lineColumnAt(text, text.length), { line: 4, column: 5 });
  });

  it('clamps indexes outside the text', () => {
    assert.deepEqual(lineColumnAt('ab\ncd', 99), { line: 2, column: 3 });
    assert.deepEqual(lineColumnAt('ab\ncd', -1), { line: 1, column: 1 });
  });

  it('counts a CR as a column, not a line', () => {
    assert.deepEqual(lineColumnAt('a\r\nb', 1), { line: 1, column: 2 });
    assert.deepEqual(lineColumnAt('a\r\nb', 3), { line: 2, column: 1 });
  });
});

describe('createLineLocator', () => {
  const naive = (text: string, index: number): { line: number; column: number } => {
    const before = text.slice(0, Math.max(0, Math.min(index, text.length))).split('\n');
    return { line: before.length, column: Array.from(before.at(-1) ?? '').length + 1 };
  };

  it('agrees with a naive count for lookups in any order, including inside surrogate pairs', () => {
    const unit = fc.constantFrom('a', '\n', '🎉', 'é', '\t', '\uD800', '\uDC00', '\r');
    fc.assert(fc.property(
      fc.array(unit, { maxLength: 40 }).map((units) => units.join('')),
      fc.array(fc.integer({ min: -2, max: 90 }), { minLength: 1, maxLength: 12 }),
      (text, indexes) => {
        const locate = createLineLocator(text);
        for (const index of indexes) assert.deepEqual(locate(index), naive(text, index), `index ${index}`);
      },
    ), { numRuns: 400 });
  });
});

describe('excerpt', () => {
  const text = ['CREATE TABLE t (', '  id int,', '  name txt', ');', 'SELECT 1;'].join('\n');

  it('shows two lines before, one after, and a caret under the column', () => {
    assert.equal(excerpt(text, 3, 8), [
      ' 1 | CREATE TABLE t (',
      ' 2 |   id int,',
      ' 3 |   name txt',
      '   |        ^',
      ' 4 | );',
    ].join('\n'));
  });

  it('honours before/after and clamps at the start and end of the text', () => {
    assert.equal(excerpt(text, 1, 1, { before: 5, after: 0 }), [' 1 | CREATE TABLE t (', '   | ^'].join('\n'));
    assert.equal(excerpt(text, 5, 3, { before: 1, after: 3 }), [' 4 | );', ' 5 | SELECT 1;', '   |   ^'].join('\n'));
  });

  it('right-aligns the gutter to the widest line number shown', () => {
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}`).join('\n');
    assert.equal(excerpt(lines, 9, 6), [
      '  7 | line 7',
      '  8 | line 8',
      '  9 | line 9',
      '    |      ^',
      ' 10 | line 10',
    ].join('\n'));
  });

  it('keeps tabs in the caret padding so the caret lines up', () => {
    assert.equal(excerpt('x\n\tsel\tect 1', 2, 4, { before: 0, after: 0 }), [' 2 | \tsel\tect 1', '   | \t  ^'].join('\n'));
  });

  it('pads one space per character, whatever its UTF-16 length', () => {
    assert.equal(excerpt("SELECT '🎉' + x", 1, 14), [" 1 | SELECT '🎉' + x", '   |              ^'].join('\n'));
  });

  it('clamps a line beyond the text and a column beyond the line, and drops CRs', () => {
    assert.equal(excerpt('a\r\nbc\r\n', 7, 9, { before: 0 }), [' 2 | bc', '   |   ^'].join('\n'));
  });

  it('renders empty lines without trailing spaces and has no trailing newline', () => {
    const rendered = excerpt('SELECT 1;\n\nSELEC 2;\n', 3, 1);
    assert.equal(rendered, [' 1 | SELECT 1;', ' 2 |', ' 3 | SELEC 2;', '   | ^'].join('\n'));
    assert.ok(!rendered.endsWith('\n'));
  });

  it('renders a caret for empty text', () => {
    assert.equal(excerpt('', 1, 1), [' 1 |', '   | ^'].join('\n'));
  });
});
