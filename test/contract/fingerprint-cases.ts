/**
 * The schema of the fingerprint contract tests (test/contract/fingerprint.test.ts) and the
 * changes made to it, one category each, with exactly the differences each must give.
 */

/** One object or more in every category, with the names that are easy to get wrong. */
export const BASE_SCHEMA = `
CREATE SCHEMA app;
CREATE SCHEMA "Mixed.Case";
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.positive AS integer DEFAULT 1 CONSTRAINT positive_check CHECK (VALUE > 0);
CREATE TYPE app.pair AS (x integer, y text);
CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE SEQUENCE app.counter START 10 INCREMENT 5;
CREATE TABLE app.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  note text COLLATE "C" DEFAULT 'none',
  mood app.mood NOT NULL DEFAULT 'ok',
  qty app.positive,
  price numeric(10,2) CHECK (price >= 0),
  total numeric GENERATED ALWAYS AS (price * 2) STORED,
  wait interval DEFAULT '1 day 02:00:00',
  during tstzrange DEFAULT tstzrange('2026-01-01 00:00+00', '2026-02-01 00:00+00'),
  code text,
  EXCLUDE USING gist (during WITH &&)
);
CREATE TABLE "Mixed.Case"."Ünïcode Table" ("Weird ""col""" integer, "dotted.name" text);
CREATE INDEX orders_lower_note ON app.orders (lower(note)) WHERE note IS NOT NULL;
CREATE TABLE app.events (at timestamptz NOT NULL, kind text) PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2027-01-01 00:00+00');
CREATE INDEX events_at ON app.events (at);
CREATE TABLE app.base (id integer);
CREATE TABLE app.child (extra text) INHERITS (app.base);
CREATE UNLOGGED TABLE app.scratch (x integer);
CREATE TABLE app.dropped (a integer, b integer, c integer);
ALTER TABLE app.dropped DROP COLUMN b;
CREATE VIEW app.order_notes AS SELECT id, note FROM app.orders;
CREATE MATERIALIZED VIEW app.order_moods AS SELECT mood, count(*) AS n FROM app.orders GROUP BY mood;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE FUNCTION app.add(a text, b text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT a || b';
CREATE PROCEDURE app.noop() LANGUAGE sql AS 'SELECT 1';
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER events_touch AFTER UPDATE ON app.events FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_visible ON app.orders FOR SELECT USING (note <> 'secret');
COMMENT ON TABLE app.orders IS 'orders';
COMMENT ON COLUMN app.orders.note IS 'a note';
COMMENT ON FUNCTION app.add(integer, integer) IS 'adds';
INSERT INTO app.orders (note, price) VALUES ('first', 1);
`;

export interface Case {
  name: string;
  /** SQL run on side B (in a transaction that is rolled back). */
  change: string;
  /** [category, object, change] of every difference, in the order compareFingerprints sorts them. */
  expected: [string, string, string][];
  /** The messages too, where their wording is the point. */
  messages?: string[];
  /** Skipped (with the reason) where this extension is not available. */
  extension?: string;
  /** Skipped on servers older than this server_version_num (the change's SQL is newer). */
  since?: number;
  ownersAndGrants?: boolean;
  /** Creates a role (rolled back with the rest): skipped where the test user may not. */
  createsRole?: boolean;
  /** Needs a superuser (event triggers): skipped otherwise. */
  superuser?: boolean;
}

const ORDERS = 'table app.orders';

export const CASES: Case[] = [
  // What must not differ.
  { name: 'a sequence advanced and set does not differ', change: `SELECT nextval('app.counter'); SELECT setval('app.counter', 500); INSERT INTO app.orders (price, during) VALUES (2, 'empty')`, expected: [] },
  {
    name: 'a column dropped and added again (another attnum, the same order) does not differ',
    change: 'ALTER TABLE app.dropped DROP COLUMN c; ALTER TABLE app.dropped ADD COLUMN c integer',
    expected: [],
  },
  { name: 'a refreshed materialized view does not differ', change: 'REFRESH MATERIALIZED VIEW app.order_moods', expected: [] },
  { name: 'a temporary table does not differ', change: 'CREATE TEMPORARY TABLE scratch_rows (x integer)', expected: [] },
  { name: 'owners and grants are left out by default', change: 'GRANT SELECT ON app.orders TO PUBLIC; REVOKE ALL ON SCHEMA public FROM PUBLIC', expected: [] },
  // One change in each category.
  { name: 'schema', change: 'CREATE SCHEMA extra', expected: [['schema', 'schema extra', 'missing-in-a']], messages: ['schema extra is present in B, missing in A'] },
  {
    name: 'table added',
    change: 'CREATE TABLE app.more (id integer)',
    expected: [
      ['column', 'table app.more', 'missing-in-a'],
      ['table', 'table app.more', 'missing-in-a'],
    ],
  },
  { name: 'table persistence', change: 'ALTER TABLE app.scratch SET LOGGED', expected: [['table', 'table app.scratch', 'changed']], messages: ['table app.scratch differs: A has unlogged, B has (nothing)'] },
  {
    name: 'table options, listed in one order whatever order they were set in',
    change: 'ALTER TABLE app.scratch SET (fillfactor = 70); ALTER TABLE app.scratch SET (autovacuum_enabled = false)',
    expected: [['table', 'table app.scratch', 'changed']],
    messages: ['table app.scratch differs: A has unlogged, B has unlogged, with (autovacuum_enabled=false, fillfactor=70)'],
  },
  { name: 'table inheritance', change: 'ALTER TABLE app.child NO INHERIT app.base', expected: [['table', 'table app.child', 'changed']] },
  {
    name: 'partition detached',
    change: 'ALTER TABLE app.events DETACH PARTITION app.events_2026',
    expected: [['table', 'table app.events_2026', 'changed']],
  },
  {
    name: 'column added',
    change: 'ALTER TABLE app.orders ADD COLUMN extra text',
    expected: [['column', ORDERS, 'missing-in-a']],
    messages: ['table app.orders: column extra (text) is present in B, missing in A'],
  },
  {
    name: 'column type',
    change: 'ALTER TABLE app.orders ALTER COLUMN code TYPE varchar(10)',
    expected: [['column', ORDERS, 'changed']],
    messages: ['table app.orders: column code differs: A has text, B has character varying(10)'],
  },
  { name: 'column default', change: `ALTER TABLE app.orders ALTER COLUMN code SET DEFAULT 'x'`, expected: [['column', ORDERS, 'changed']] },
  {
    name: 'column NOT NULL',
    change: `UPDATE app.orders SET code = 'c'; ALTER TABLE app.orders ALTER COLUMN code SET NOT NULL`,
    expected: [['column', ORDERS, 'changed']],
    messages: ['table app.orders: column code differs: A has text, B has text NOT NULL'],
  },
  { name: 'column collation', change: `ALTER TABLE app.orders ALTER COLUMN code TYPE text COLLATE "C"`, expected: [['column', ORDERS, 'changed']] },
  { name: 'column identity', change: 'ALTER TABLE app.orders ALTER COLUMN id SET GENERATED BY DEFAULT', expected: [['column', ORDERS, 'changed']] },
  { name: 'identity sequence options', change: 'ALTER TABLE app.orders ALTER COLUMN id SET INCREMENT BY 2', expected: [['column', ORDERS, 'changed']] },
  { name: 'generated column expression dropped', change: 'ALTER TABLE app.orders ALTER COLUMN total DROP EXPRESSION', since: 130000, expected: [['column', ORDERS, 'changed']] },
  {
    name: 'column order',
    change: 'ALTER TABLE app.dropped DROP COLUMN a; ALTER TABLE app.dropped ADD COLUMN a integer',
    expected: [['column', 'table app.dropped', 'changed']],
    messages: ['table app.dropped: column order differs: A has (a, c), B has (c, a)'],
  },
  {
    name: 'quoted, dotted and unicode names',
    change: 'ALTER TABLE "Mixed.Case"."Ünïcode Table" ADD COLUMN "new.col" integer',
    expected: [['column', 'table "Mixed.Case"."Ünïcode Table"', 'missing-in-a']],
    messages: ['table "Mixed.Case"."Ünïcode Table": column "new.col" (integer) is present in B, missing in A'],
  },
  {
    name: 'a line break and a terminal escape in a name are written out in the message',
    change: 'CREATE TABLE app."two\nlines\x1b[31m" ()',
    expected: [['table', 'table app."two\nlines\x1b[31m"', 'missing-in-a']],
    messages: ['table app."two\\nlines\\x1b[31m" is present in B, missing in A'],
  },
  {
    name: 'check constraint',
    change: 'ALTER TABLE app.orders ADD CONSTRAINT code_short CHECK (length(code) < 5)',
    expected: [['constraint', ORDERS, 'missing-in-a']],
    messages: ['table app.orders: constraint code_short (CHECK (length(code) < 5)) is present in B, missing in A'],
  },
  {
    name: 'domain constraint',
    change: 'ALTER DOMAIN app.positive DROP CONSTRAINT positive_check',
    expected: [['constraint', 'type app.positive', 'missing-in-b']],
  },
  {
    name: 'index added',
    change: 'CREATE INDEX orders_code ON app.orders (code)',
    expected: [['index', 'index app.orders_code', 'missing-in-a']],
    messages: ['index app.orders_code (CREATE INDEX orders_code ON app.orders USING btree (code)) is present in B, missing in A'],
  },
  {
    name: 'expression index changed',
    change: 'DROP INDEX app.orders_lower_note; CREATE INDEX orders_lower_note ON app.orders (upper(note))',
    expected: [['index', 'index app.orders_lower_note', 'changed']],
  },
  {
    name: 'view definition',
    change: 'CREATE OR REPLACE VIEW app.order_notes AS SELECT id, note FROM app.orders WHERE id > 0',
    expected: [['view', 'view app.order_notes', 'changed']],
  },
  {
    name: 'materialized view dropped',
    change: 'DROP MATERIALIZED VIEW app.order_moods',
    expected: [['view', 'materialized view app.order_moods', 'missing-in-b']],
  },
  {
    name: 'one of two overloaded functions replaced',
    change: `CREATE OR REPLACE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT b + a'`,
    expected: [['function', 'function app.add(integer, integer)', 'changed']],
  },
  {
    name: 'procedure dropped',
    change: 'DROP PROCEDURE app.noop()',
    expected: [['function', 'procedure app.noop()', 'missing-in-b']],
    messages: ['procedure app.noop() is present in A, missing in B'],
  },
  { name: 'trigger disabled', change: 'ALTER TABLE app.orders DISABLE TRIGGER orders_touch', expected: [['trigger', ORDERS, 'changed']] },
  {
    name: 'trigger on a partitioned table dropped (its clones on the partitions are not listed)',
    change: 'DROP TRIGGER events_touch ON app.events',
    expected: [['trigger', 'table app.events', 'missing-in-b']],
  },
  { name: 'sequence definition', change: 'ALTER SEQUENCE app.counter INCREMENT 10', expected: [['sequence', 'sequence app.counter', 'changed']] },
  {
    name: 'enum value added',
    change: `ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'ok'`,
    expected: [['enum-value', 'type app.mood', 'missing-in-a']],
    messages: ["type app.mood: enum value 'meh' is present in B, missing in A"],
  },
  {
    name: 'enum value renamed (a type change, not enum-value)',
    change: `ALTER TYPE app.mood RENAME VALUE 'happy' TO 'glad'`,
    expected: [['type', 'type app.mood', 'changed']],
  },
  { name: 'domain default', change: 'ALTER DOMAIN app.positive DROP DEFAULT', expected: [['type', 'type app.positive', 'changed']] },
  { name: 'composite attribute', change: 'ALTER TYPE app.pair ADD ATTRIBUTE z integer', expected: [['type', 'type app.pair', 'changed']] },
  { name: 'range type', change: 'CREATE TYPE app.textrange AS RANGE (subtype = text)', expected: [['type', 'type app.textrange', 'missing-in-a']] },
  {
    name: 'extension installed (its own objects not listed)',
    change: 'CREATE EXTENSION citext SCHEMA app',
    extension: 'citext',
    expected: [
      ['comment', 'extension citext', 'missing-in-a'],
      ['extension', 'extension citext', 'missing-in-a'],
    ],
  },
  {
    name: 'extension in another schema, with its comment',
    change: 'CREATE EXTENSION pgcrypto',
    extension: 'pgcrypto',
    expected: [
      ['comment', 'extension pgcrypto', 'missing-in-a'],
      ['extension', 'extension pgcrypto', 'missing-in-a'],
    ],
  },
  {
    name: 'row level security forced',
    change: 'ALTER TABLE app.orders FORCE ROW LEVEL SECURITY',
    expected: [['policy', ORDERS, 'changed']],
    messages: ['table app.orders: row level security differs: A has enabled, B has enabled, forced'],
  },
  {
    name: 'row level security disabled',
    change: 'ALTER TABLE app.orders DISABLE ROW LEVEL SECURITY',
    expected: [['policy', ORDERS, 'missing-in-b']],
  },
  {
    name: 'policy changed',
    change: `DROP POLICY orders_visible ON app.orders; CREATE POLICY orders_visible ON app.orders AS RESTRICTIVE FOR SELECT USING (note <> 'secret')`,
    expected: [['policy', ORDERS, 'changed']],
  },
  {
    name: 'column comment',
    change: `COMMENT ON COLUMN app.orders.note IS 'another note'`,
    expected: [['comment', ORDERS, 'changed']],
    messages: ['table app.orders: comment on column note differs: A has a note, B has another note'],
  },
  { name: 'function comment removed', change: 'COMMENT ON FUNCTION app.add(integer, integer) IS NULL', expected: [['comment', 'function app.add(integer, integer)', 'missing-in-b']] },
  {
    name: 'view column comment',
    change: `COMMENT ON COLUMN app.order_notes.note IS 'shown'`,
    expected: [['comment', 'view app.order_notes', 'missing-in-a']],
    messages: ['view app.order_notes: comment on column note (shown) is present in B, missing in A'],
  },
  {
    name: 'rule',
    change: 'CREATE RULE scratch_nothing AS ON DELETE TO app.scratch DO INSTEAD NOTHING',
    expected: [['rule', 'table app.scratch', 'missing-in-a']],
  },
  {
    name: 'extended statistics',
    change: 'CREATE STATISTICS app.orders_stats (dependencies) ON price, code FROM app.orders',
    expected: [['statistics', 'statistics app.orders_stats', 'missing-in-a']],
    messages: ['statistics app.orders_stats (CREATE STATISTICS app.orders_stats (dependencies) ON price, code FROM app.orders) is present in B, missing in A'],
  },
  {
    name: 'collation',
    change: 'CREATE COLLATION app.posix_copy FROM "POSIX"',
    expected: [['collation', 'collation app.posix_copy', 'missing-in-a']],
  },
  {
    name: 'cast',
    change: `CREATE FUNCTION app.mood_text(app.mood) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1::text'; CREATE CAST (app.mood AS text) WITH FUNCTION app.mood_text(app.mood) AS IMPLICIT`,
    expected: [
      ['cast', 'cast (app.mood AS text)', 'missing-in-a'],
      ['function', 'function app.mood_text(app.mood)', 'missing-in-a'],
    ],
    messages: ['cast (app.mood AS text) (with function app.mood_text(app.mood), implicit) is present in B, missing in A', 'function app.mood_text(app.mood) is present in B, missing in A'],
  },
  {
    name: 'operators, infix and prefix',
    change: `CREATE OPERATOR app.### (FUNCTION = app.add, LEFTARG = integer, RIGHTARG = integer); CREATE OPERATOR app.!!! (FUNCTION = int4abs, RIGHTARG = integer)`,
    expected: [
      ['operator', 'operator app.!!!(NONE, integer)', 'missing-in-a'],
      ['operator', 'operator app.###(integer, integer)', 'missing-in-a'],
    ],
    messages: [
      'operator app.!!!(NONE, integer) (function int4abs(integer), returns integer) is present in B, missing in A',
      'operator app.###(integer, integer) (function app.add(integer,integer), returns integer) is present in B, missing in A',
    ],
  },
  {
    name: 'event trigger',
    change: `CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END'; CREATE EVENT TRIGGER app_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION app.on_ddl()`,
    superuser: true,
    expected: [
      ['event-trigger', 'event trigger app_ddl', 'missing-in-a'],
      ['function', 'function app.on_ddl()', 'missing-in-a'],
    ],
  },
  {
    name: 'column grant (owners and grants on)',
    change: 'GRANT SELECT (note) ON app.orders TO PUBLIC',
    ownersAndGrants: true,
    expected: [['grant', ORDERS, 'missing-in-a']],
    messages: ['table app.orders: grants on column note (SELECT to PUBLIC) is present in B, missing in A'],
  },
  {
    name: 'owner (owners and grants on)',
    change: 'CREATE ROLE pgpair_fingerprint_owner; ALTER TABLE app.scratch OWNER TO pgpair_fingerprint_owner',
    ownersAndGrants: true,
    createsRole: true,
    expected: [['owner', 'table app.scratch', 'changed']],
  },
  {
    name: 'default privileges (owners and grants on)',
    change: 'ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC',
    ownersAndGrants: true,
    // {user}: the user the test connects as (root, postgres…).
    expected: [['grant', 'default privileges of {user} in schema app on tables', 'missing-in-a']],
    messages: ['default privileges of {user} in schema app on tables: grants (SELECT to PUBLIC) is present in B, missing in A'],
  },
  {
    name: 'grant (owners and grants on)',
    change: 'GRANT SELECT ON app.orders TO PUBLIC',
    ownersAndGrants: true,
    expected: [['grant', ORDERS, 'missing-in-a']],
  },
];
