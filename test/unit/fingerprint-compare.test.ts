/** compareFingerprints: the differences a person reads, on fingerprints built inline. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareFingerprints, type Fingerprint, type FingerprintObject, sortObjects } from '../../lib/core/fingerprint.js';

function fingerprint(...objects: FingerprintObject[]): Fingerprint {
  return { serverVersionNum: 150000, objects: sortObjects(objects) };
}

const table = (name: string, definition = ''): FingerprintObject => ({ category: 'table', object: `table ${name}`, member: null, definition });
const column = (tableName: string, name: string, definition: string, position: number): FingerprintObject => ({
  category: 'column',
  object: `table ${tableName}`,
  member: `column ${name}`,
  definition,
  position,
});
const enumType = (name: string, labels: string[]): FingerprintObject => ({
  category: 'type',
  object: `type ${name}`,
  member: null,
  definition: `enum (${labels.map((l) => `'${l}'`).join(', ')})`,
  labels,
});

describe('compareFingerprints', () => {
  it('finds nothing between equal fingerprints', () => {
    const a = fingerprint(table('public.orders'), column('public.orders', 'id', 'integer NOT NULL', 1));
    const b = fingerprint(table('public.orders'), column('public.orders', 'id', 'integer NOT NULL', 1));
    assert.deepEqual(compareFingerprints(a, b), []);
  });

  it('names a column present on one side only, with its type', () => {
    const a = fingerprint(table('public.orders'), column('public.orders', 'id', 'integer', 1), column('public.orders', 'note', 'text', 2));
    const b = fingerprint(table('public.orders'), column('public.orders', 'id', 'integer', 1));
    assert.deepEqual(compareFingerprints(a, b), [
      { category: 'column', object: 'table public.orders', change: 'missing-in-b', a: 'text', b: null, message: 'table public.orders: column note (text) is present in A, missing in B' },
    ]);
    assert.deepEqual(
      compareFingerprints(b, a, { a: 'the database', b: 'the migrations' }).map((d) => [d.change, d.message]),
      [['missing-in-a', 'table public.orders: column note (text) is present in the migrations, missing in the database']],
    );
  });

  it('says what changed in a short definition, both sides', () => {
    const a = fingerprint(column('public.orders', 'note', 'text', 1));
    const b = fingerprint(column('public.orders', 'note', 'character varying(20)', 1));
    const [d, ...rest] = compareFingerprints(a, b);
    assert.deepEqual(rest, []);
    assert.equal(d!.change, 'changed');
    assert.equal(d!.message, 'table public.orders: column note differs: A has text, B has character varying(20)');
  });

  it('points at the first differing line of a long definition, on one line', () => {
    const body = (n: number) => `CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\n LANGUAGE sql\nAS $function$select ${n} + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0$function$\n`;
    const f = (n: number): FingerprintObject => ({ category: 'function', object: 'function public.f()', member: null, definition: body(n) });
    const [d] = compareFingerprints(fingerprint(f(1)), fingerprint(f(2)));
    assert.equal(d!.a, body(1));
    assert.equal(d!.b, body(2));
    assert.match(d!.message, /^function public\.f\(\) differs: first difference at line 4: A `AS \$function\$select 1 /);
    assert.doesNotMatch(d!.message, /\n/);
    const [missing] = compareFingerprints(fingerprint(f(1)), fingerprint());
    assert.equal(missing!.message, 'function public.f() is present in A, missing in B');
  });

  it('shows where a long one-line definition differs, not only its start', () => {
    const agg = (init: number): FingerprintObject => ({
      category: 'function',
      object: 'aggregate public.total(integer)',
      member: null,
      definition: `aggregate returns integer: sfunc int4pl(integer,integer), stype integer, finalfunc -, combinefunc -, initcond ${init}, kind n`,
    });
    const [d] = compareFingerprints(fingerprint(agg(0)), fingerprint(agg(1)));
    assert.equal(
      d!.message,
      'aggregate public.total(integer) differs: first difference at line 1: A `…inefunc -, initcond 0, kind n`, B `…inefunc -, initcond 1, kind n`',
    );
  });

  it('gives labels an enum gained as enum-value, naming them', () => {
    const a = fingerprint(enumType('public.mood', ['sad', 'ok']));
    const b = fingerprint(enumType('public.mood', ['sad', 'meh', 'ok', 'happy']));
    assert.deepEqual(compareFingerprints(a, b), [
      { category: 'enum-value', object: 'type public.mood', change: 'missing-in-a', a: null, b: 'meh, happy', message: "type public.mood: enum values 'meh', 'happy' are present in B, missing in A" },
    ]);
    const [one] = compareFingerprints(fingerprint(enumType('public.mood', ['sad', 'ok', "it's"])), a);
    assert.equal(one!.category, 'enum-value');
    assert.equal(one!.change, 'missing-in-b');
    assert.equal(one!.message, "type public.mood: enum value 'it''s' is present in A, missing in B");
  });

  it('calls a reordered or renamed enum a type change, not enum-value', () => {
    const a = fingerprint(enumType('public.mood', ['sad', 'ok']));
    const reordered = compareFingerprints(a, fingerprint(enumType('public.mood', ['ok', 'sad'])));
    assert.deepEqual(reordered.map((d) => [d.category, d.change]), [['type', 'changed']]);
    const renamed = compareFingerprints(a, fingerprint(enumType('public.mood', ['sad', 'fine'])));
    assert.deepEqual(renamed.map((d) => [d.category, d.change, d.message]), [['type', 'changed', "type public.mood differs: A has enum ('sad', 'ok'), B has enum ('sad', 'fine')"]]);
  });

  it('compares column order among the live columns both sides have', () => {
    // A column dropped and added again has another attnum but the same position among live columns.
    const a = fingerprint(column('public.t', 'a', 'integer', 1), column('public.t', 'b', 'integer', 2), column('public.t', 'c', 'integer', 3));
    const same = fingerprint(column('public.t', 'a', 'integer', 1), column('public.t', 'b', 'integer', 2), column('public.t', 'c', 'integer', 3));
    assert.deepEqual(compareFingerprints(a, same), []);
    const extra = fingerprint(column('public.t', 'a', 'integer', 1), column('public.t', 'x', 'integer', 2), column('public.t', 'b', 'integer', 3), column('public.t', 'c', 'integer', 4));
    assert.deepEqual(compareFingerprints(a, extra).map((d) => d.message), ['table public.t: column x (integer) is present in B, missing in A']);
    const swapped = fingerprint(column('public.t', 'a', 'integer', 1), column('public.t', 'c', 'integer', 2), column('public.t', 'b', 'integer', 3));
    assert.deepEqual(compareFingerprints(a, swapped).map((d) => d.message), ['table public.t: column order differs: A has (a, b, c), B has (a, c, b)']);
  });

  it('sorts the differences the same way whatever order the objects came in', () => {
    const objects = [table('public.b'), table('public.a'), column('public.a', 'z', 'text', 1), enumType('public.e', ['x'])];
    const forward = compareFingerprints(fingerprint(...objects), fingerprint());
    const backward = compareFingerprints({ serverVersionNum: 1, objects: [...objects].reverse() }, fingerprint());
    assert.deepEqual(forward, backward);
    assert.deepEqual(forward.map((d) => d.object), ['table public.a', 'table public.a', 'table public.b', 'type public.e']);
  });
});
