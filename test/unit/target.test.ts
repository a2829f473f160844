/** describeTarget: the user@host:port/db that postgres.js really connects to, held against postgres.js's own reading. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { describeTarget, formatTarget, postgresTarget } from '../../lib/db/target.js';

const PG_VARS = ['PGHOST', 'PGPORT', 'PGUSER', 'PGUSERNAME', 'PGDATABASE', 'PGPASSWORD'];

/** postgres.js's parse of `url` with exactly `env` as the PG* variables of the process. */
function postgresJsReading(url: string, env: Record<string, string>): { user: string; database: string; host: string[]; port: number[] } {
  const saved = Object.fromEntries(PG_VARS.map((k) => [k, process.env[k]]));
  try {
    for (const k of PG_VARS) delete process.env[k];
    Object.assign(process.env, env);
    const sql = postgres(url, { max: 1 });
    const o = sql.options as unknown as { user: string; database: string; host: string[]; port: number[] };
    return { user: o.user, database: o.database, host: [...o.host], port: [...o.port] };
  } finally {
    for (const k of PG_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

describe('describeTarget', () => {
  const cases: [string, Record<string, string>][] = [
    ['postgres://', { PGHOST: 'db.internal', PGPORT: '6543', PGUSER: 'deploy', PGDATABASE: 'shop', PGPASSWORD: 'pw' }],
    ['postgres://', { PGHOST: 'db.internal' }],
    ['postgres://', { PGUSER: 'only_user' }],
    ['postgresql:///d', { PGHOST: 'h', PGUSER: 'u' }],
    ['postgres://app:secret@db:5433/main', {}],
    ['postgres://app:secret@db/main', { PGPORT: '7000', PGDATABASE: 'ignored', PGUSER: 'ignored' }],
    ['postgres://app@db', {}],
    ['postgres://a%40b:p%3Aw@db/x', {}],
    ['postgres://app@h1:5432,h2:5433/main', {}],
    ['postgres://app@h1,h2/main', { PGPORT: '5999' }],
    ['postgres://', { PGHOST: 'h1,h2:5433', PGUSER: 'u' }],
    ['postgres://app@db/my%20db?sslmode=require', {}],
  ];
  for (const [url, env] of cases) {
    it(`${url} with ${JSON.stringify(env)} is what postgres.js connects to, without the password`, () => {
      const js = postgresJsReading(url, env);
      const target = postgresTarget(url, env)!;
      assert.equal(target.user, js.user);
      assert.equal(target.database, js.database);
      assert.deepEqual(target.hosts.map((h) => h.host), js.host);
      assert.deepEqual(target.hosts.map((h) => h.port), js.port);
      const text = describeTarget(url, env);
      assert.equal(text, formatTarget(target));
      assert.doesNotMatch(text, /secret|p%3Aw|p:w|pw|postgres:\/\//);
    });
  }

  it('reads an IPv6 address as one host (postgres.js alone splits it at its colons), in brackets', () => {
    assert.deepEqual(postgresTarget('postgres://u@[::1]:5433/d', {})!.hosts, [{ host: '::1', port: 5433 }]);
    assert.equal(describeTarget('postgres://u@[::1]:5433/d', {}), 'u@[::1]:5433/d');
    assert.equal(describeTarget('postgres://u@[fe80::1],[::1]:6000/d', {}), 'u@[fe80::1]:5432,[::1]:6000/d');
  });

  it('names an embedded database by its URL, and masks anything else', () => {
    assert.equal(describeTarget('pglite:.pgpair/dev', {}), 'pglite:.pgpair/dev');
    assert.equal(describeTarget('mysql://u:pw@h/db', {}), 'mysql://u:***@h/db');
    assert.equal(postgresTarget('postgres://u:p@[::1/db', {}), null);
  });
});
