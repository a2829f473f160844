/** Names of test templates (lib/run/template-name.ts): what changes a template's name, what does not, and that every name fits PostgreSQL's 63 bytes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMigrationDirectory, type DirectoryEntry } from '../../lib/core/files.js';
import type { TableName } from '../../lib/core/ident.js';
import { builderName, cloneName, isCloneOf, kindOf, templateIdentity, templatePrefix } from '../../lib/run/template-name.js';

const TABLE: TableName = { schema: null, name: 'pgpair_history' };
const BASE: DirectoryEntry[] = [
  { name: '0001_users.up.sql', text: 'CREATE TABLE users (id int);\n' },
  { name: '0001_users.down.sql', text: 'DROP TABLE users;\n' },
  { name: '0002_posts.up.sql', text: 'CREATE TABLE posts (id int);\n' },
];

function nameOf(entries: DirectoryEntry[], dir = '/srv/app/sql', table = TABLE): string {
  return templateIdentity(parseMigrationDirectory(dir, entries), table).name;
}

function replaced(name: string, text: string): DirectoryEntry[] {
  return BASE.map((e) => (e.name === name ? { name, text } : e));
}

describe('template names', () => {
  it('stay the same for the same set, and line endings are not an edit (the checksum normalises them)', () => {
    assert.equal(nameOf(BASE), nameOf([...BASE].reverse()));
    assert.equal(nameOf(BASE), nameOf(replaced('0001_users.up.sql', 'CREATE TABLE users (id int);\r\n')));
  });

  it('a PGlite snapshot is keyed by the PGlite version too (another version may not read its data directory); the same version gives the same name', () => {
    const set = parseMigrationDirectory('/srv/app/sql', BASE);
    assert.equal(templateIdentity(set, TABLE, 'pglite 0.5.16').name, templateIdentity(set, TABLE, 'pglite 0.5.16').name);
    assert.notEqual(templateIdentity(set, TABLE, 'pglite 0.5.16').name, templateIdentity(set, TABLE, 'pglite 0.6.0').name);
    assert.notEqual(templateIdentity(set, TABLE, 'pglite 0.5.16').name, templateIdentity(set, TABLE).name);
  });

  it('change with any edit: an up file, a down file, a new or removed down file, a new migration, a renamed one, the history table', () => {
    const base = nameOf(BASE);
    const others = [
      nameOf(replaced('0001_users.up.sql', 'CREATE TABLE users (id bigint);\n')),
      nameOf(replaced('0001_users.down.sql', 'DROP TABLE IF EXISTS users;\n')),
      nameOf(BASE.filter((e) => e.name !== '0001_users.down.sql')),
      nameOf([...BASE, { name: '0002_posts.down.sql', text: 'DROP TABLE posts;\n' }]),
      nameOf([...BASE, { name: '0003_tags.up.sql', text: '' }]),
      nameOf(BASE.map((e) => (e.name === '0002_posts.up.sql' ? { ...e, name: '0002_articles.up.sql' } : e))),
      nameOf(BASE, '/srv/app/sql', { schema: 'app', name: 'pgpair_history' }),
    ];
    for (const other of others) assert.notEqual(other, base);
    assert.equal(new Set(others).size, others.length);
  });

  it('share a prefix per directory and table, and only there', () => {
    const here = templatePrefix('/srv/app/sql', TABLE).prefix;
    assert.ok(nameOf(BASE).startsWith(here));
    assert.ok(nameOf(replaced('0001_users.up.sql', 'SELECT 1;\n')).startsWith(here));
    assert.notEqual(templatePrefix('/srv/other/sql', TABLE).prefix, here);
    assert.notEqual(templatePrefix('/srv/app/sql', { schema: 'x', name: 'h' }).prefix, here);
    assert.equal(kindOf(nameOf(BASE), here), 'template');
    assert.equal(kindOf(builderName(nameOf(BASE)), here), 'builder');
    assert.equal(kindOf(`${here}notahash`, here), null);
    assert.equal(kindOf(nameOf(BASE), templatePrefix('/srv/other/sql', TABLE).prefix), null);
    // Clones: recognised by their place (what --clean drops), and no other place's or other database.
    const { place } = templatePrefix('/srv/app/sql', TABLE);
    assert.ok(isCloneOf(cloneName(place), place));
    assert.ok(!isCloneOf(cloneName(templatePrefix('/srv/other/sql', TABLE).place), place));
    assert.ok(!isCloneOf(`pgpair_test_${place}_my_own_db`, place));
  });

  it('fit in 63 bytes and hold only lower-case ASCII, digits and _, whatever the directory is called', () => {
    for (const dir of ['/x/sql', `/${'Ünïcødé-'.repeat(20)}/sql`, '/sql', `/${'a'.repeat(200)}/migrations`, '/"; DROP DATABASE x; --/sql']) {
      const identity = templateIdentity(parseMigrationDirectory(dir, BASE), TABLE);
      for (const name of [identity.name, builderName(identity.name), cloneName(identity.place)]) {
        assert.match(name, /^[a-z0-9_]+$/, name);
        assert.ok(Buffer.byteLength(name) <= 63, `${name} is ${Buffer.byteLength(name)} bytes`);
      }
    }
  });
});
