/**
 * The driver contract: every driver behind lib/db/types.ts passes the same cases, each one a
 * promise an interface comment there makes (as golang-migrate's database/testing does for its
 * drivers). A driver joins by adding a Subject below; a case that a driver cannot meet by design
 * (PGlite has one session per database) is skipped for it with the reason, never loosened.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConnectionError } from '../../lib/core/errors.js';
import { pgErrorFields } from '../../lib/db/errors.js';
import { connect } from '../../lib/db/index.js';
import type { Connection, ConnectOptions, Notice } from '../../lib/db/types.js';
import { urlPassword } from '../../lib/db/url.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';
import { collectNotices, runHiddenCopy, untilTrue } from './support.js';

interface Subject {
  name: string;
  scheme: string;
  /** Several sessions on one database at once (a server); false: one session, in this process. */
  manySessions: boolean;
  pipelining: boolean;
  interruptible: boolean;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A new connection to the subject's database (PGlite directory: close the last one first). */
  open(options?: Omit<ConnectOptions, 'url'>): Promise<Connection>;
  /** The URL `open` connects to. */
  url(): string;
}

function postgresSubject(): Subject {
  let db: Scratch | null = null;
  return {
    name: 'postgres.js',
    scheme: 'postgres',
    manySessions: true,
    pipelining: true,
    interruptible: true,
    setUp: async () => {
      db = await scratchDatabase('pgpair_contract');
    },
    tearDown: async () => {
      await db?.drop();
    },
    url: () => db!.url,
    open: (options = {}) => connect({ ...options, url: db!.url }),
  };
}

function pgliteMemorySubject(): Subject {
  return {
    name: 'pglite:memory',
    scheme: 'pglite',
    manySessions: false,
    pipelining: false,
    interruptible: false,
    setUp: async () => {},
    tearDown: async () => {},
    url: () => 'pglite:memory',
    open: (options = {}) => connect({ ...options, url: 'pglite:memory' }),
  };
}

function pgliteDirectorySubject(): Subject {
  let dir: string | null = null;
  const url = () => `pglite:${join(dir!, 'db')}`;
  return {
    name: 'pglite:PATH',
    scheme: 'pglite',
    manySessions: false,
    pipelining: false,
    interruptible: false,
    setUp: async () => {
      dir = mkdtempSync(join(tmpdir(), 'pgpair-contract-'));
    },
    tearDown: async () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    url,
    open: (options = {}) => connect({ ...options, url: url() }),
  };
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to reject');
}

/** A server error's SQLSTATE, read as pgpair reads it (failing for anything that is not one). */
function sqlstateOf(error: unknown): string {
  const fields = pgErrorFields(error);
  assert.ok(fields, `expected a PostgreSQL error, got ${String(error)}`);
  return fields.sqlstate!;
}

/** Arrays as plain arrays (postgres.js returns its rows in an Array subclass), for deepEqual. */
function plain(value: unknown): unknown {
  return Array.isArray(value) ? [...value].map(plain) : value;
}

/** assert.deepEqual of the rows, whatever array class they come in. */
function same(actual: unknown, expected: unknown, message?: string): void {
  assert.deepEqual(plain(actual), expected, message);
}

async function* pieces(...items: (string | Uint8Array)[]): AsyncIterable<string | Uint8Array> {
  for (const item of items) yield item;
}

const ADVISORY_KEY = 7_340_013;
const heldLocks = `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${ADVISORY_KEY} AND pid = pg_backend_pid()`;

for (const subject of [postgresSubject(), pgliteMemorySubject(), pgliteDirectorySubject()]) {
  describe(`driver contract: ${subject.name}`, () => {
    // Opening a database costs PGlite seconds: cases that only need a working session share one.
    // A case that needs a connection of its own asks withConnection, which first closes the shared
    // one where a second session cannot be open beside it (PGlite).
    let shared: Connection | null = null;
    const closeShared = async () => {
      const c = shared;
      shared = null;
      await c?.close();
    };
    /** `fn` on the shared session, opened on first use. */
    const onSession = async <T,>(fn: (c: Connection) => Promise<T>): Promise<T> => {
      shared ??= await subject.open();
      return fn(shared);
    };
    /** `fn` on a new connection that is closed afterwards, whatever happens. */
    const withConnection = async <T,>(fn: (c: Connection) => Promise<T>, options?: Omit<ConnectOptions, 'url'>): Promise<T> => {
      if (!subject.manySessions) await closeShared();
      const c = await subject.open(options);
      try {
        return await fn(c);
      } finally {
        await c.close();
      }
    };
    const open = async (options?: Omit<ConnectOptions, 'url'>): Promise<Connection> => {
      if (!subject.manySessions) await closeShared();
      return subject.open(options);
    };

    before(() => subject.setUp());
    after(async () => {
      await closeShared();
      await subject.tearDown();
    });

    it('connects and describes the server and session', async () => {
      await onSession(async (c) => {
        assert.equal(c.scheme, subject.scheme);
        const { server } = c;
        assert.ok(Number.isInteger(server.versionNum) && server.versionNum >= 120000, `versionNum ${server.versionNum}`);
        assert.match(server.version, /^PostgreSQL \d+/);
        const [row] = await c.query<{ database: string; user: string; pid: number }>('SELECT current_database() AS database, current_user AS "user", pg_backend_pid() AS pid');
        same([server.database, server.user, server.backendPid], [row!.database, row!.user, row!.pid]);
        assert.equal(server.schema, 'public');
        assert.ok(Number.isInteger(server.backendPid) && server.backendPid > 0);
        assert.equal(c.lost, false);
        const secret = urlPassword(subject.url());
        if (secret) assert.ok(!c.displayUrl.includes(secret), `displayUrl ${c.displayUrl} shows the password`);
      });
    });

    it('query binds parameters and decodes text, booleans and integers as JS values, bigint and numeric as strings, timestamps as Date', async () => {
      await onSession(async (c) => {
        const [row] = await c.query(
          `SELECT $1::text AS t, $2::int AS p, $3::boolean AS pb, $4::text AS pnull, true AS b, false AS f, 42::int4 AS i, 7::int2 AS s,
                  9007199254740993::int8 AS big, 3::int8 AS small8, 1.50::numeric AS n,
                  '2020-01-02 03:04:05.678+00'::timestamptz AS tstz, '2020-01-02 03:04:05'::timestamp AS ts`,
          ["it's é $2 -- not a comment", 12, false, null],
        );
        same({ ...row, tstz: undefined, ts: undefined }, {
          t: "it's é $2 -- not a comment",
          p: 12,
          pb: false,
          pnull: null,
          b: true,
          f: false,
          i: 42,
          s: 7,
          big: '9007199254740993',
          small8: '3',
          n: '1.50',
          tstz: undefined,
          ts: undefined,
        });
        assert.ok(row!.tstz instanceof Date && row!.ts instanceof Date);
        assert.equal((row!.tstz as Date).toISOString(), '2020-01-02T03:04:05.678Z');
        same(await c.query('SELECT 1 AS one WHERE false'), []);
      });
    });

    it('exec runs several statements as one text, and error positions refer to that text', async () => {
      await onSession(async (c) => {
        assert.equal(await c.exec('CREATE TABLE multi (id int);\nINSERT INTO multi VALUES (1);\nINSERT INTO multi VALUES (2);'), undefined);
        same(await c.query('SELECT count(*)::int AS n FROM multi'), [{ n: 2 }]);
        const text = "SELECT 'é€😀';\nSELECT nope FROM multi;";
        const fields = pgErrorFields(await rejection(c.exec(text)));
        assert.equal(fields?.sqlstate, '42703');
        // PostgreSQL counts characters (code points), from 1.
        assert.equal(fields?.position, Array.from(text.slice(0, text.indexOf('nope'))).length + 1);
        await c.exec('DROP TABLE multi');
      });
    });

    it('the advisory lock is held on the session across statements until unlocked', async () => {
      await onSession(async (c) => {
        await c.query('SELECT pg_advisory_lock($1)', [ADVISORY_KEY]);
        await c.exec('CREATE TABLE after_lock (id int); DROP TABLE after_lock');
        await c.transaction(async (tx) => tx.query('SELECT 1'));
        same(await c.query(heldLocks), [{ n: 1 }]);
        if (subject.manySessions) {
          await withConnection(async (other) => {
            same(await other.query('SELECT pg_try_advisory_lock($1) AS got', [ADVISORY_KEY]), [{ got: false }]);
          });
        }
        same(await c.query('SELECT pg_advisory_unlock($1) AS released', [ADVISORY_KEY]), [{ released: true }]);
        same(await c.query(heldLocks), [{ n: 0 }]);
      });
    });

    it('transaction commits what fn did through tx, and its queries belong to the transaction', async () => {
      await onSession(async (c) => {
        await c.exec('CREATE TABLE tx_commit (id int)');
        const result = await c.transaction(async (tx) => {
          const [first] = await tx.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
          await tx.query('INSERT INTO tx_commit VALUES ($1)', [1]);
          await tx.exec('INSERT INTO tx_commit VALUES (2); INSERT INTO tx_commit VALUES (3)');
          await tx.copyFrom('COPY tx_commit FROM STDIN', '4\n');
          const [second] = await tx.query<{ xid: string; inside: boolean }>(`SELECT pg_current_xact_id()::text AS xid, now() = statement_timestamp() AS inside`);
          assert.equal(second!.xid, first!.xid, 'one transaction');
          assert.equal(second!.inside, false, 'now() is the transaction start, not the statement start');
          return 'done';
        });
        assert.equal(result, 'done');
        const read = async (q: Connection) => (await q.query<{ ids: string }>(`SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM tx_commit`))[0]!.ids;
        assert.equal(await read(c), '1,2,3,4');
        if (subject.manySessions) assert.equal(await withConnection(read), '1,2,3,4', 'committed: visible to another session');
        await c.exec('DROP TABLE tx_commit');
      });
    });

    it('transaction rolls back when fn throws, rethrows that error, and leaves the session usable', async () => {
      await onSession(async (c) => {
        await c.exec('CREATE TABLE tx_rollback (id int)');
        const thrown = new Error('fn gave up');
        const error = await rejection(
          c.transaction(async (tx) => {
            await tx.query('INSERT INTO tx_rollback VALUES (1)');
            await tx.copyFrom('COPY tx_rollback FROM STDIN', '2\n');
            throw thrown;
          }),
        );
        assert.equal(error, thrown);
        const serverError = await rejection(c.transaction(async (tx) => tx.exec('INSERT INTO tx_rollback VALUES (3); INSERT INTO nowhere VALUES (4)')));
        assert.equal(sqlstateOf(serverError), '42P01');
        same(await c.query('SELECT count(*)::int AS n FROM tx_rollback'), [{ n: 0 }]);
        same(await c.query(`SELECT current_setting('transaction_isolation') IS NOT NULL AS ok, pg_current_xact_id_if_assigned() IS NULL AS outside`), [{ ok: true, outside: true }]);
        await c.exec('DROP TABLE tx_rollback');
      });
    });

    it('transaction rejects, never resolves, when an error inside it was caught and COMMIT therefore rolled back', async () => {
      await onSession(async (c) => {
        await c.exec('CREATE TABLE tx_caught (id int)');
        const error = await rejection(
          c.transaction(async (tx) => {
            await tx.query('INSERT INTO tx_caught VALUES (1)');
            await tx.query('SELECT nope').catch(() => {});
          }),
        );
        // postgres.js: the error of the statement that aborted it; PGlite's driver does not keep that one and says 25P02.
        assert.equal(sqlstateOf(error), subject.scheme === 'postgres' ? '42703' : '25P02');
        same(await c.query('SELECT count(*)::int AS n FROM tx_caught'), [{ n: 0 }]);
        // The same when fn leaves a failing statement's promise to be looked at later (a pipelined caller does).
        let pending: Promise<unknown> = Promise.resolve();
        const left = await rejection(
          c.transaction(async (tx) => {
            pending = tx.query('INSERT INTO tx_caught VALUES ($1)', ['not a number']);
            pending.catch(() => {});
            return 'returned';
          }),
        );
        assert.equal(sqlstateOf(await rejection(pending)), '22P02');
        if (subject.scheme === 'postgres') assert.equal(left, await rejection(pending), 'rejects with that statement\'s error');
        else assert.equal(sqlstateOf(left), '25P02');
        same(await c.query('SELECT count(*)::int AS n FROM tx_caught'), [{ n: 0 }]);
        await c.exec('DROP TABLE tx_caught');
      });
    });

    it('a server error carries its fields (sqlstate, position, internal position, detail, hint, where) and the session stays usable', async () => {
      await onSession(async (c) => {
        const syntax = pgErrorFields(await rejection(c.query('SELECT 1 +')));
        assert.equal(syntax?.sqlstate, '42601');
        assert.equal(syntax?.severity, 'ERROR');
        assert.equal(syntax?.position, 11);
        const column = pgErrorFields(await rejection(c.query('SELECT nope FROM pg_class')));
        same([column?.sqlstate, column?.position, column?.message], ['42703', 8, 'column "nope" does not exist']);
        const inner = pgErrorFields(await rejection(c.exec('DO $$BEGIN PERFORM nope; END$$')));
        same([inner?.sqlstate, inner?.position, inner?.internalPosition, inner?.internalQuery], ['42703', null, 8, 'SELECT nope']);
        assert.match(inner?.where ?? '', /PL\/pgSQL function inline_code_block line 1/);
        const hinted = pgErrorFields(await rejection(c.query('SELECT nope()')));
        assert.equal(hinted?.sqlstate, '42883');
        assert.match(hinted?.hint ?? '', /No function matches the given name and argument types/);
        await c.exec('CREATE TABLE keyed (id int PRIMARY KEY); INSERT INTO keyed VALUES (1)');
        const duplicate = pgErrorFields(await rejection(c.query('INSERT INTO keyed VALUES ($1)', [1])));
        same([duplicate?.sqlstate, duplicate?.detail, duplicate?.constraintName, duplicate?.tableName], ['23505', 'Key (id)=(1) already exists.', 'keyed_pkey', 'keyed']);
        assert.equal(c.lost, false);
        same(await c.query('SELECT count(*)::int AS n FROM keyed'), [{ n: 1 }]);
        await c.exec('DROP TABLE keyed');
      });
    });

    it('copyFrom streams a string and async pieces (UTF-8 split inside a character) and resolves once the server has it', async () => {
      await onSession(async (c) => {
        await c.exec('CREATE TABLE copied (id int, label text)');
        await c.copyFrom('COPY copied FROM STDIN', '1\tone\n2\t\\N\n');
        await c.copyFrom('COPY copied (id, label) FROM stdin', '');
        const bytes = new TextEncoder().encode('4\tпривет 😀\n5\tfünf\n');
        const cut = bytes.indexOf(0xf0) + 2; // inside the four bytes of 😀
        await c.copyFrom('COPY copied FROM STDIN', pieces('3\tthr', 'ee\n', bytes.slice(0, cut), bytes.slice(cut)));
        await c.copyFrom("COPY copied FROM STDIN WITH (FORMAT csv, HEADER true)", pieces('id,label\n', '6,"six, ', 'quoted"\n'));
        same(await c.query('SELECT id, label FROM copied ORDER BY id'), [
          { id: 1, label: 'one' },
          { id: 2, label: null },
          { id: 3, label: 'three' },
          { id: 4, label: 'привет 😀' },
          { id: 5, label: 'fünf' },
          { id: 6, label: 'six, quoted' },
        ]);
        await c.exec('DROP TABLE copied');
      });
    });

    it('copyFrom rejects with the server error for bad data, or with the data source\'s own error, and the session stays usable', async () => {
      await onSession(async (c) => {
        await c.exec('CREATE TABLE copy_bad (id int)');
        const bad = await rejection(c.copyFrom('COPY copy_bad FROM STDIN', pieces('1\n', 'not-a-number\n', '3\n')));
        assert.equal(sqlstateOf(bad), '22P02');
        assert.match(pgErrorFields(bad)!.where ?? '', /COPY copy_bad, line 2/);
        same(await c.query('SELECT count(*)::int AS n FROM copy_bad'), [{ n: 0 }]);
        const broken = new Error('the data file went away');
        async function* failing(): AsyncIterable<string> {
          yield '1\n';
          throw broken;
        }
        assert.equal(await rejection(c.copyFrom('COPY copy_bad FROM STDIN', failing())), broken);
        assert.equal(c.lost, false);
        same(await c.query('SELECT count(*)::int AS n FROM copy_bad'), [{ n: 0 }]);
        // An error in the statement itself points into the statement as written (PGlite's driver rewrites STDIN before sending it).
        for (const [statement, at] of [['COPY "copy_bad" FROM STDIN WITH (FORMAT nope)', 'FORMAT'], ['COPY copy_bad FROM STDIN WHERE nope > 1', 'nope']] as const) {
          const fields = pgErrorFields(await rejection(c.copyFrom(statement, '1\n')));
          assert.equal(fields?.position, statement.indexOf(at) + 1, `${statement}: ${fields?.message}`);
        }
        await c.copyFrom('COPY copy_bad FROM STDIN', '7\n');
        same(await c.query('SELECT id FROM copy_bad'), [{ id: 7 }]);
        await c.exec('DROP TABLE copy_bad');
      });
    });

    it('a COPY … FROM STDIN sent through exec or query is refused at once (no wait for data that never comes)', async () => {
      await onSession(async (c) => {
        await c.exec('CREATE TABLE copy_exec (id int)');
        for (const call of [() => c.exec('SELECT 1; COPY copy_exec FROM STDIN'), () => c.query('COPY copy_exec FROM STDIN')]) {
          assert.ok(pgErrorFields(await rejection(call())), 'refused with an error in the server error shape');
          same(await c.query('SELECT count(*)::int AS n FROM copy_exec'), [{ n: 0 }]);
        }
        await c.exec('DROP TABLE copy_exec');
      });
    });

    it('a dollar-quoted string with a non-ASCII tag is data: a COPY … FROM STDIN inside it is not refused', async () => {
      await onSession(async (c) => {
        same(await c.query('SELECT $é$ ; COPY t FROM STDIN ; $é$ AS s'), [{ s: ' ; COPY t FROM STDIN ; ' }]);
      });
    });

    it(`pipelining is ${subject.pipelining} and interruptible is ${subject.interruptible}; queries issued without waiting are answered in order`, async () => {
      await onSession(async (c) => {
        assert.equal(c.pipelining, subject.pipelining);
        assert.equal(c.interruptible, subject.interruptible);
        const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => c.query<{ i: number }>('SELECT $1::int AS i', [i])));
        same(answers.map((rows) => rows[0]!.i), Array.from({ length: 25 }, (_, i) => i));
        if (subject.interruptible) {
          await c.exec(`SET statement_timeout = '50ms'`);
          assert.equal(sqlstateOf(await rejection(c.query('SELECT pg_sleep(30)'))), '57014');
          await c.exec('SET statement_timeout = 0');
        }
      });
    });

    if (subject.interruptible) {
      it('cancel() ends the statement in progress at once, and the session stays usable', async () => {
        await onSession(async (c) => {
          const sleeping = c.query('SELECT pg_sleep(60)');
          sleeping.catch(() => {});
          await withConnection(async (watcher) => {
            await untilTrue(
              async () => (await watcher.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep(60)%'`, [c.server.backendPid]))[0]!.n === 1,
              'the sleep never started',
            );
          });
          const started = Date.now();
          await c.cancel();
          assert.equal(sqlstateOf(await rejection(sleeping)), '57014');
          assert.ok(Date.now() - started < 10_000, 'cancelled, not run to its end');
          assert.equal(c.lost, false);
          await c.cancel(); // Nothing in progress: nothing to cancel, and the next statement is not cancelled.
          same(await c.query('SELECT 1 AS one'), [{ one: 1 }]);
        });
      });
    } else {
      it('cancel() is a no-op that never throws, idle or while a statement runs', async () => {
        await onSession(async (c) => {
          await c.cancel();
          const running = c.query<{ one: number }>('SELECT 1 AS one FROM pg_sleep(0.05)');
          await c.cancel();
          same(await running, [{ one: 1 }]);
          assert.equal(c.lost, false);
        });
      });
    }

    it('lockWait() is null for a session that waits for no lock', async () => {
      await onSession(async (c) => {
        assert.equal(await c.lockWait(), null);
      });
    });

    if (subject.manySessions) {
      it('lockWait() names the relation, mode and blocking session a statement waits for', async () => {
        await withConnection(async (holder) => {
          await holder.exec('CREATE TABLE contended (id int)');
          await holder.exec('BEGIN; LOCK TABLE contended IN ACCESS EXCLUSIVE MODE');
          await onSession(async (c) => {
            const waiting = c.query('SELECT count(*) FROM contended');
            waiting.catch(() => {});
            let wait = await c.lockWait();
            await untilTrue(async () => {
              wait = await c.lockWait();
              return wait !== null;
            }, 'lockWait never saw the wait');
            assert.equal(wait!.relation, 'contended');
            assert.equal(wait!.mode, 'AccessShareLock');
            assert.equal(wait!.locktype, 'relation');
            same(wait!.blockers.map((b) => b.pid), [holder.server.backendPid]);
            await holder.exec('ROLLBACK');
            await waiting;
          });
          await holder.exec('DROP TABLE contended');
        });
      });

      it('a session the server ends is lost: every later call rejects with ConnectionError, without a crash', async () => {
        const c = await open();
        const pid = c.server.backendPid;
        await withConnection(async (killer) => {
          same(await killer.query('SELECT pg_terminate_backend($1) AS done', [pid]), [{ done: true }]);
          await untilTrue(async () => (await killer.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]))[0]!.n === 0, 'the session was not ended');
        });
        // The first call may carry the server's own FATAL message; from then on the session is lost.
        await rejection(c.query('SELECT 1'));
        assert.equal(c.lost, true);
        await assertLost(c);
      });

      it('a statement in progress when the server ends the session rejects, and the session is lost', async () => {
        const c = await open();
        const sleeping = c.query('SELECT pg_sleep(60)');
        sleeping.catch(() => {});
        await withConnection(async (killer) => {
          await untilTrue(async () => (await killer.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`, [c.server.backendPid]))[0]!.n === 1, 'the sleep never started');
          await killer.query('SELECT pg_terminate_backend($1)', [c.server.backendPid]);
        });
        await rejection(sleeping);
        await untilTrue(async () => c.lost, 'lost never became true');
        await assertLost(c);
      });
    }

    // Cases from here on open connections of their own.

    it('the advisory lock is released when the session is closed', { skip: subject.name === 'pglite:memory' ? 'every pglite:memory connection is a database of its own: nothing to observe the release from' : false }, async () => {
      const c = await open();
      await c.query('SELECT pg_advisory_lock($1)', [ADVISORY_KEY]);
      await c.close();
      await withConnection(async (other) => {
        // The server ends the session (and drops its locks) as the socket closes: wait for that state, a bounded number of tries.
        await untilTrue(async () => (await other.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [ADVISORY_KEY]))[0]!.got, 'the closed session still holds the advisory lock');
        await other.query('SELECT pg_advisory_unlock($1)', [ADVISORY_KEY]);
      });
    });

    it('notices go to onNotice with their fields', async () => {
      const notices: Notice[] = [];
      await withConnection(
        async (c) => {
          await c.exec(`DO $$BEGIN RAISE NOTICE 'hello %', 1 USING DETAIL = 'some detail', HINT = 'some hint'; RAISE WARNING 'careful'; END$$`);
        },
        { onNotice: (n) => notices.push(n) },
      );
      const raised = notices.filter((n) => n.message === 'hello 1' || n.message === 'careful');
      same(
        raised.map((n) => [n.severity, n.message, n.detail ?? null, n.hint ?? null]),
        [
          ['NOTICE', 'hello 1', 'some detail', 'some hint'],
          ['WARNING', 'careful', null, null],
        ],
      );
      assert.match(raised[0]!.where ?? '', /PL\/pgSQL function inline_code_block line 1 at RAISE/);
    });

    it('notices are never printed: with or without onNotice, the process writes nothing to stdout or stderr', async () => {
      if (!subject.manySessions) await closeShared();
      const output = await collectNotices(subject.url());
      same(output.received, ['NOTICE: to the handler']);
      assert.equal(output.stdout, '');
      assert.equal(output.stderr, '');
      assert.equal(output.code, 0);
    });

    it('a COPY … FROM STDIN hidden behind a non-ASCII dollar tag is refused, never waited on, and the session stays usable', {
      // The same statement reader serves both PGlite URLs, and each run of the child costs a PGlite start.
      skip: subject.name === 'pglite:PATH' ? 'pglite:memory runs this case through the same driver code' : false,
    }, async () => {
      if (!subject.manySessions) await closeShared();
      const run = await runHiddenCopy(subject.url());
      assert.ok(run.outcome, 'exec never settled: the session waits for COPY data that never comes');
      assert.equal(run.outcome.resolved, false);
      assert.ok(run.outcome.sqlstate, 'refused with an error in the server error shape');
      assert.equal(run.usable, true);
    });

    it('close() never throws and may be called again; calls after it reject with ConnectionError', async () => {
      const c = await open();
      await c.close();
      await c.close();
      await assertLost(c);
    });

    if (subject.name === 'pglite:PATH') {
      it('readOnly on a directory that does not exist creates nothing, says so, and serves an empty database', async () => {
        const parent = mkdtempSync(join(tmpdir(), 'pgpair-contract-ro-'));
        try {
          const path = join(parent, 'not', 'there');
          const notices: Notice[] = [];
          const c = await connect({ url: `pglite:${path}`, readOnly: true, onNotice: (n) => notices.push(n) });
          try {
            same(await c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`), [{ n: 0 }]);
          } finally {
            await c.close();
          }
          assert.equal(existsSync(join(parent, 'not')), false, 'nothing created');
          assert.equal(existsSync(`${path}.lock`), false);
          assert.ok(notices.some((n) => /does not exist yet: showing an empty database, and nothing was created/.test(n.message)), JSON.stringify(notices));
        } finally {
          rmSync(parent, { recursive: true, force: true });
        }
      });
    }
  });
}

/** Every call of a lost or closed connection rejects with a ConnectionError; cancel, lockWait and close still never throw. */
async function assertLost(c: Connection): Promise<void> {
  const calls: [string, () => Promise<unknown>][] = [
    ['query', () => c.query('SELECT 1')],
    ['exec', () => c.exec('SELECT 1')],
    ['copyFrom', () => c.copyFrom('COPY nowhere FROM STDIN', '1\n')],
    ['transaction', () => c.transaction(async (tx) => tx.query('SELECT 1'))],
  ];
  for (const [name, call] of calls) {
    const error = await rejection(call());
    assert.ok(error instanceof ConnectionError, `${name} rejected with ${String(error)}, not a ConnectionError`);
  }
  await c.cancel();
  assert.equal(await c.lockWait(), null);
  await c.close();
}
