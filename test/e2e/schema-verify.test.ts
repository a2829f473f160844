/**
 * `pgpair verify --schema` (issue 14 part 3): a migrated database altered by hand in each of the
 * fingerprint's categories is reported with the object named, and once the change is undone verify
 * passes again. Each verify below must list exactly the current change: so it also proves that the
 * previous change's undo was seen. Then the CLI (exit codes, text, --json) on a server and on
 * pglite:PATH, and an extension made by hand that the scratch database must have first.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../lib/db/index.js';
import { verifySchema } from '../../lib/run/schema-verify.js';
import { runCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

const MIGRATIONS: Record<string, string> = {
  '0001_items.up.sql': [
    "CREATE TYPE color AS ENUM ('red', 'green');",
    'CREATE DOMAIN positive AS int CHECK (VALUE > 0);',
    'CREATE SEQUENCE ticket_seq;',
    'CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, shade color, qty positive, touched timestamptz);',
    "COMMENT ON TABLE items IS 'things we sell';",
    '',
  ].join('\n'),
  '0001_items.down.sql': 'DROP TABLE items;\nDROP SEQUENCE ticket_seq;\nDROP DOMAIN positive;\nDROP TYPE color;\n',
  '0002_logic.up.sql': [
    'CREATE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM items $$;',
    'CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;',
    'CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();',
    'CREATE VIEW item_names AS SELECT id, name FROM items;',
    'ALTER TABLE items ENABLE ROW LEVEL SECURITY;',
    'CREATE POLICY items_all ON items USING (true);',
    '',
  ].join('\n'),
  '0002_logic.down.sql': 'DROP POLICY items_all ON items;\nALTER TABLE items DISABLE ROW LEVEL SECURITY;\nDROP VIEW item_names;\nDROP TRIGGER items_touch ON items;\nDROP FUNCTION touch();\nDROP FUNCTION item_count();\n',
};

/** A change made by hand, how to undo it, and what the difference must name. */
const DRIFTS: { category: string; change: string; undo: string; names: RegExp }[] = [
  { category: 'index', change: 'CREATE INDEX hand_idx ON items (name)', undo: 'DROP INDEX hand_idx', names: /^index public\.hand_idx .*present in the live database, missing in the migrations' schema$/ },
  { category: 'column', change: 'ALTER TABLE items ALTER COLUMN touched TYPE timestamp', undo: 'ALTER TABLE items ALTER COLUMN touched TYPE timestamptz', names: /table public\.items: column touched.*timestamp with time zone.*timestamp without time zone/ },
  { category: 'function', change: 'CREATE OR REPLACE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS $$ SELECT 0::bigint $$', undo: 'CREATE OR REPLACE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM items $$', names: /function public\.item_count\(\)/ },
  { category: 'trigger', change: 'DROP TRIGGER items_touch ON items', undo: 'CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch()', names: /items_touch/ },
  { category: 'view', change: 'CREATE OR REPLACE VIEW item_names AS SELECT id, name FROM items WHERE id > 0', undo: 'CREATE OR REPLACE VIEW item_names AS SELECT id, name FROM items', names: /view public\.item_names/ },
  { category: 'type', change: "ALTER TYPE color RENAME VALUE 'red' TO 'crimson'", undo: "ALTER TYPE color RENAME VALUE 'crimson' TO 'red'", names: /public\.color/ },
  { category: 'constraint', change: 'ALTER DOMAIN positive DROP CONSTRAINT positive_check', undo: 'ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0)', names: /public\.positive/ },
  { category: 'policy', change: 'CREATE POLICY hand_policy ON items FOR SELECT USING (id > 0)', undo: 'DROP POLICY hand_policy ON items', names: /hand_policy/ },
  { category: 'policy', change: 'ALTER TABLE items DISABLE ROW LEVEL SECURITY', undo: 'ALTER TABLE items ENABLE ROW LEVEL SECURITY', names: /table public\.items/ },
  { category: 'comment', change: "COMMENT ON TABLE items IS 'changed by hand'", undo: "COMMENT ON TABLE items IS 'things we sell'", names: /changed by hand/ },
  { category: 'constraint', change: 'ALTER TABLE items ADD CONSTRAINT name_short CHECK (length(name) < 100)', undo: 'ALTER TABLE items DROP CONSTRAINT name_short', names: /name_short/ },
  { category: 'sequence', change: 'ALTER SEQUENCE ticket_seq INCREMENT BY 5', undo: 'ALTER SEQUENCE ticket_seq INCREMENT BY 1', names: /sequence public\.ticket_seq/ },
  { category: 'table', change: 'CREATE TABLE hand_made (id int)', undo: 'DROP TABLE hand_made', names: /table public\.hand_made/ },
];

let db: Scratch;
let dir: string;
let cwd: string;
before(async () => {
  db = await scratchDatabase('pgpair_schematest');
  cwd = workdir(Object.fromEntries(Object.entries(MIGRATIONS).map(([name, text]) => [`sql/${name}`, text])));
  dir = join(cwd, 'sql');
  const up = await runCli(['up', '--url', db.url], { cwd });
  assert.equal(up.code, 0, up.stderr);
});
after(async () => db.drop());

describe('verify --schema finds a change by hand in each category, and passes once it is undone', () => {
  it('a database as its migrations built it passes', async () => {
    const result = await verifySchema({ url: db.url, dir });
    assert.deepEqual(result.differences, []);
    assert.deepEqual(result.built, ['0001', '0002']);
    assert.equal(result.ok, true);
  });
  for (const drift of DRIFTS) {
    it(`${drift.category}: ${drift.change}`, async () => {
      await db.sql.unsafe(drift.change);
      try {
        const result = await verifySchema({ url: db.url, dir });
        assert.equal(result.ok, false);
        assert.ok(result.differences.length > 0, 'a difference');
        const messages = result.differences.map((d) => d.message);
        // Every difference is about this change: the one before was undone.
        for (const message of messages) assert.match(message, drift.names, JSON.stringify(messages));
        assert.ok(result.differences.some((d) => d.category === drift.category), `category ${drift.category} in ${JSON.stringify(result.differences.map((d) => d.category))}`);
      } finally {
        await db.sql.unsafe(drift.undo);
      }
    });
  }
  it('with every change undone, it passes again', async () => {
    const result = await verifySchema({ url: db.url, dir });
    assert.deepEqual(result.differences, []);
    assert.equal(result.ok, true);
  });
});

describe('pgpair verify --schema on the command line', () => {
  it('lists the differences on stdout and exits 3; --json gives them as data; exit 0 once undone', async () => {
    await db.sql.unsafe('CREATE INDEX hand_idx ON items (name); ALTER TABLE items ALTER COLUMN name DROP NOT NULL');
    try {
      const run = await runCli(['verify', '--schema', '--url', db.url], { cwd });
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stdout, /^\d schema differences? between what the 2 recorded migrations build and the live database:\n/);
      assert.match(run.stdout, /\n {2}- index public\.hand_idx \(CREATE INDEX hand_idx ON public\.items USING btree \(name\)\) is present in the live database, missing in the migrations' schema\n/);
      assert.match(run.stdout, /table public\.items: column name/);
      assert.doesNotMatch(run.stderr, /hand_idx/);
      const json = await runCli(['verify', '--schema', '--json', '--url', db.url], { cwd });
      assert.equal(json.code, 3);
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.ok, false);
      assert.deepEqual(doc.problems, [], 'files and history agree');
      assert.deepEqual(doc.schema.built, ['0001', '0002']);
      assert.ok(doc.schema.differences.some((d: { category: string; object: string; change: string }) => d.category === 'index' && d.object === 'index public.hand_idx' && d.change === 'missing-in-a'), json.stdout);
    } finally {
      await db.sql.unsafe('DROP INDEX hand_idx; ALTER TABLE items ALTER COLUMN name SET NOT NULL');
    }
    const ok = await runCli(['verify', '--schema', '--url', db.url], { cwd });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout, 'ok: the live schema is what the 2 recorded migrations build (current 0002)\n');
    // Only what is recorded is built: with 0002 reverted, its objects are not expected.
    const down = await runCli(['down', '--url', db.url], { cwd });
    assert.equal(down.code, 0, down.stderr);
    const one = await runCli(['verify', '--schema', '--url', db.url], { cwd });
    assert.equal(one.code, 0, one.stdout);
    assert.match(one.stdout, /what the 1 recorded migration build \(current 0001\)/);
    assert.equal((await runCli(['up', '--url', db.url], { cwd })).code, 0);
  });

  it('an extension made by hand is installed on the scratch database first, and is no difference', async (t) => {
    const available = await db.sql.unsafe(`SELECT 1 FROM pg_available_extensions WHERE name = 'citext'`);
    if (available.length === 0) {
      t.skip('citext is not installed on this server');
      return;
    }
    await db.sql.unsafe('CREATE EXTENSION citext');
    try {
      const result = await verifySchema({ url: db.url, dir });
      assert.deepEqual(result.extensions.map((e) => e.name), ['citext']);
      assert.deepEqual(result.differences, []);
    } finally {
      await db.sql.unsafe('DROP EXTENSION citext');
    }
  });

  it('works on pglite:PATH, with an embedded scratch database', async () => {
    const local = workdir(Object.fromEntries(Object.entries(MIGRATIONS).map(([name, text]) => [`sql/${name}`, text])));
    const url = `pglite:${join(local, 'db')}`;
    assert.equal((await runCli(['up', '--url', url], { cwd: local })).code, 0);
    const conn = await connect({ url });
    try {
      await conn.exec('CREATE INDEX hand_idx ON items (name)');
    } finally {
      await conn.close();
    }
    const run = await runCli(['verify', '--schema', '--url', url], { cwd: local });
    assert.equal(run.code, 3, run.stdout + run.stderr);
    assert.match(run.stdout, /index public\.hand_idx .*is present in the live database, missing in the migrations' schema/);
  });
});
