/**
 * urlWithDatabase (lib/run/template.ts): the URL of a test database or a template build is the
 * server's URL with only its database replaced, whatever form the URL takes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { urlWithDatabase } from '../../lib/run/template.js';

describe('urlWithDatabase', () => {
  it('replaces only the database, keeping credentials, hosts and parameters', () => {
    const cases: [string, string][] = [
      ['postgres://root@127.0.0.1:5432/postgres', 'postgres://root@127.0.0.1:5432/pgpair_test_x'],
      ['postgres://root:p%40ss@127.0.0.1/postgres?sslmode=disable', 'postgres://root:p%40ss@127.0.0.1/pgpair_test_x?sslmode=disable'],
      ['postgres://root@127.0.0.1:5432', 'postgres://root@127.0.0.1:5432/pgpair_test_x'],
      ['postgresql:///postgres?host=/var/run/postgresql', 'postgresql:///pgpair_test_x?host=/var/run/postgresql'],
      // Multi-host (postgres.js accepts it; WHATWG URL does not).
      ['postgres://u:pw@h1:5432,h2:5433/postgres?target_session_attrs=read-write', 'postgres://u:pw@h1:5432,h2:5433/pgpair_test_x?target_session_attrs=read-write'],
    ];
    for (const [given, expected] of cases) assert.equal(urlWithDatabase(given, 'pgpair_test_x'), expected, given);
  });
});
