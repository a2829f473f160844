/**
 * Schema fingerprints on every driver: the same SQL run on two databases gives equal
 * fingerprints, and one change in any category gives exactly the difference that names it.
 * Each change is made on side B inside a transaction that is rolled back afterwards, so every
 * case starts from the same two databases.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatabaseError } from '../../lib/core/errors.js';
import { compareFingerprints, type Fingerprint, type SchemaDifference } from '../../lib/core/fingerprint.js';
import { createHistorySql, historyTables } from '../../lib/core/history.js';
import { connect } from '../../lib/db/index.js';
import type { Connection, Queryable } from '../../lib/db/types.js';
import { takeFingerprint, type FingerprintOptions } from '../../lib/run/fingerprint.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';
import { BASE_SCHEMA, CASES, type Case } from './fingerprint-cases.js';

interface Pair {
  name: string;
  setUp(): Promise<[Connection, Connection]>;
  tearDown(): Promise<void>;
}

function serverPair(): Pair {
  const scratch: Scratch[] = [];
  const open: Connection[] = [];
  return {
    name: 'postgres.js',
    setUp: async () => {
      scratch.push(await scratchDatabase('fingerprint_a'), await scratchDatabase('fingerprint_b'));
      open.push(await connect({ url: scratch[0]!.url }), await connect({ url: scratch[1]!.url }));
      return [open[0]!, open[1]!];
    },
    tearDown: async () => {
      for (const c of open) await c.close();
      for (const s of scratch) await s.drop();
    },
  };
}

function pglitePair(kind: 'memory' | 'directory'): Pair {
  let dir: string | null = null;
  const open: Connection[] = [];
  return {
    name: kind === 'memory' ? 'pglite:memory' : 'pglite:PATH',
    setUp: async () => {
      const urls = ['pglite:memory', 'pglite:memory'];
      if (kind === 'directory') {
        dir = mkdtempSync(join(tmpdir(), 'pgpair-fingerprint-'));
        urls[0] = `pglite:${join(dir, 'a')}`;
        urls[1] = `pglite:${join(dir, 'b')}`;
      }
      open.push(await connect({ url: urls[0]! }), await connect({ url: urls[1]! }));
      return [open[0]!, open[1]!];
    },
    tearDown: async () => {
      for (const c of open) await c.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const HISTORY: FingerprintOptions = { historyTable: { schema: null, name: 'pgpair_history' } };

class RollBack extends Error {}

/** B's fingerprint after `change`, taken inside a transaction that is then rolled back. */
async function changedFingerprint(b: Connection, change: string, options: FingerprintOptions): Promise<Fingerprint> {
  let taken: Fingerprint | null = null;
  try {
    await b.transaction(async (tx: Queryable) => {
      await tx.exec(change);
      const [before] = await tx.query<{ path: string }>(`SELECT current_setting('search_path') AS path`);
      taken = await takeFingerprint(tx, { ...options, serverVersionNum: b.server.versionNum });
      // The settings the query pins are transaction-local: they must be back as they were for the rest of it.
      const [after] = await tx.query<{ path: string }>(`SELECT current_setting('search_path') AS path`);
      assert.equal(after!.path, before!.path);
      throw new RollBack();
    });
  } catch (error) {
    if (!(error instanceof RollBack)) throw error;
  }
  assert.ok(taken, 'the fingerprint was taken');
  return taken;
}

/** The differences as [category, object, change] triples, and their messages, for exact assertions. */
function shape(differences: SchemaDifference[]): [string, string, string][] {
  return differences.map((d) => [d.category, d.object, d.change]);
}

async function available(c: Connection, extension: string): Promise<boolean> {
  const rows = await c.query(`SELECT 1 FROM pg_available_extensions WHERE name = $1`, [extension]);
  return rows.length > 0;
}

async function mayCreateRoles(c: Connection): Promise<boolean> {
  const [row] = await c.query<{ may: boolean }>(`SELECT rolsuper OR rolcreaterole AS may FROM pg_roles WHERE rolname = current_user`);
  return row?.may === true;
}

async function isSuperuser(c: Connection): Promise<boolean> {
  const [row] = await c.query<{ is: boolean }>(`SELECT rolsuper AS is FROM pg_roles WHERE rolname = current_user`);
  return row?.is === true;
}

for (const pair of [serverPair(), pglitePair('memory'), pglitePair('directory')]) {
  describe(`schema fingerprint: ${pair.name}`, () => {
    let a: Connection;
    let b: Connection;
    let base: Fingerprint;

    before(async () => {
      [a, b] = await pair.setUp();
      await a.exec(BASE_SCHEMA);
      await b.exec(BASE_SCHEMA);
      base = await takeFingerprint(a, HISTORY);
    });
    after(() => pair.tearDown());

    it('is the same for two databases built by the same SQL, and lists every category', async () => {
      const other = await takeFingerprint(b, HISTORY);
      assert.deepEqual(compareFingerprints(base, other), []);
      assert.deepEqual(other, base);
      const categories = new Set(base.objects.map((o) => o.category));
      for (const category of ['schema', 'table', 'column', 'constraint', 'index', 'view', 'function', 'trigger', 'sequence', 'type', 'extension', 'policy', 'comment']) {
        assert.ok(categories.has(category as never), `the base schema has a ${category}`);
      }
      assert.equal(base.serverVersionNum, a.server.versionNum);
    });

    it('is the same whatever the session search_path, DateStyle, TimeZone or quoting, and restores them', async () => {
      await b.exec(
        `SET search_path = app, public; SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Asia/Tokyo'; SET extra_float_digits = 0; SET quote_all_identifiers = on; SET IntervalStyle = 'iso_8601'`,
      );
      try {
        const other = await takeFingerprint(b, HISTORY);
        assert.deepEqual(compareFingerprints(base, other), []);
        const [settings] = await b.query<{ search_path: string; datestyle: string; timezone: string }>(
          `SELECT current_setting('search_path') AS search_path, current_setting('DateStyle') AS datestyle, current_setting('TimeZone') AS timezone`,
        );
        assert.deepEqual({ ...settings }, { search_path: 'app, public', datestyle: 'SQL, DMY', timezone: 'Asia/Tokyo' });
      } finally {
        await b.exec(`RESET search_path; RESET DateStyle; RESET TimeZone; RESET extra_float_digits; RESET quote_all_identifiers; RESET IntervalStyle`);
      }
    });

    it("leaves out pgpair's own history, log, guard function and trigger", async () => {
      const t = historyTables(HISTORY.historyTable, null);
      const other = await changedFingerprint(b, createHistorySql(t, { createSchema: false }), HISTORY);
      assert.deepEqual(compareFingerprints(base, other), []);
      // Under another name they are ordinary tables (a check that the case above can fail).
      const renamed = await changedFingerprint(b, createHistorySql(historyTables({ schema: null, name: 'other_history' }, null), { createSchema: false }), HISTORY);
      assert.ok(compareFingerprints(base, renamed).some((d) => d.object === 'table public.other_history'));
    });

    it('leaves out a history table in a schema of its own, named as --table names it', async () => {
      const table = { schema: 'Mixed.Case', name: 'Hist' };
      const create = createHistorySql(historyTables(table, null), { createSchema: false });
      const own = await changedFingerprint(b, create, { historyTable: table });
      assert.deepEqual(compareFingerprints(await takeFingerprint(a, { historyTable: table }), own), []);
      // Taken with the default history table, the same database shows them.
      const other = await changedFingerprint(b, create, HISTORY);
      assert.deepEqual(
        compareFingerprints(base, other).filter((d) => d.category === 'table').map((d) => d.message),
        ['table "Mixed.Case"."Hist" is present in B, missing in A', 'table "Mixed.Case"."Hist_log" is present in B, missing in A'],
      );
      assert.ok(compareFingerprints(base, other).some((d) => d.object === 'function "Mixed.Case"."Hist_log_append_only"()'));
    });

    it('throws a DatabaseError naming the catalog when the query fails', async (t) => {
      if (b.server.versionNum >= 170000) {
        t.skip('provoked by reading a catalog column of 17 on an older server; this one is 17 or newer');
        return;
      }
      const error = await takeFingerprint(b, { ...HISTORY, serverVersionNum: 170000 }).then(
        () => assert.fail('expected the fingerprint to fail'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof DatabaseError, String(error));
      // Which of 17's columns the server trips over first depends on how old it is (attcompression before 14).
      assert.match(error.message, /^could not read the schema from the catalog: column (co\.colllocale|a\.attcompression) does not exist \[42703\]/);
      assert.equal(error.code, 'E_DATABASE');
      // The session is usable afterwards.
      assert.deepEqual(compareFingerprints(base, await takeFingerprint(b, HISTORY)), []);
    });

    it('throws a DatabaseError for a parameter the server refuses, on every driver', async () => {
      const error = await takeFingerprint(b, { historyTable: { schema: 'nul\u0000here', name: 'h' } }).then(
        () => assert.fail('expected the fingerprint to fail'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof DatabaseError, String(error));
      assert.equal(error.pg.sqlstate, '22021');
      assert.match(error.message, /^could not read the schema from the catalog: invalid byte sequence/);
      assert.deepEqual(compareFingerprints(base, await takeFingerprint(b, HISTORY)), []);
    });

    it('takes one round trip when given a connection', async () => {
      let queries = 0;
      const counting: Queryable = {
        query: (text, params) => {
          queries++;
          return b.query(text, params);
        },
        exec: (text) => b.exec(text),
        copyFrom: (statement, data) => b.copyFrom(statement, data),
      };
      await takeFingerprint(Object.assign(counting, { server: b.server }), HISTORY);
      assert.equal(queries, 1);
    });

    for (const c of CASES) {
      it(`${c.name}`, async (t) => {
        if (c.extension && !(await available(b, c.extension))) {
          t.skip(`extension ${c.extension} is not available on ${pair.name}`);
          return;
        }
        if (c.createsRole && !(await mayCreateRoles(b))) {
          t.skip('the test user may not create roles');
          return;
        }
        if (c.superuser && !(await isSuperuser(b))) {
          t.skip('the test user is not a superuser');
          return;
        }
        if (c.since !== undefined && b.server.versionNum < c.since) {
          t.skip(`its SQL needs server_version_num ${c.since}; this server is ${b.server.versionNum}`);
          return;
        }
        await runCase(c, base, b);
      });
    }
  });
}

async function runCase(c: Case, base: Fingerprint, b: Connection): Promise<void> {
  const options = { ...HISTORY, ...(c.ownersAndGrants ? { ownersAndGrants: true } : {}) };
  const before = c.ownersAndGrants ? await takeFingerprint(b, options) : base;
  const after = await changedFingerprint(b, c.change, options);
  const differences = compareFingerprints(before, after);
  const user = (text: string) => text.replaceAll('{user}', b.server.user);
  const expected = c.expected.map(([category, object, change]) => [category, user(object), change]);
  assert.deepEqual(shape(differences), expected, differences.map((d) => d.message).join('\n'));
  if (c.messages) assert.deepEqual(differences.map((d) => d.message), c.messages.map(user));
}
