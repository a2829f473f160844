/**
 * The fingerprint query's version guards: catalog columns that not every supported server has
 * (12–18) are in the text only for the servers that have them. The contract tests run the query
 * on the servers at hand; this pins the guards for the versions a run may not have.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fingerprintSql } from '../../lib/run/fingerprint-sql.js';

/** Catalog columns and the first server_version_num that has them. */
const GUARDED: [column: string, since: number][] = [
  ['tgparentid', 130000],
  ['attcompression', 140000],
  ['rngmultitypid', 140000],
  ['colliculocale', 150000],
  ['collicurules', 160000],
  ['colllocale', 170000],
];

describe('fingerprintSql', () => {
  for (const version of [120000, 130000, 140000, 150000, 160000, 170000, 180000]) {
    it(`reads only the catalog columns server ${version / 10000} has`, () => {
      const text = fingerprintSql({ serverVersionNum: version, ownersAndGrants: false });
      for (const [column, since] of GUARDED) {
        // colliculocale was renamed colllocale in 17: only 15 and 16 have it.
        const has = column === 'colliculocale' ? version >= since && version < 170000 : version >= since;
        assert.equal(new RegExp(`\\.${column}\\b`).test(text), has, `${column} on ${version}`);
      }
    });
  }

  it('reads owners and grants only when asked', () => {
    assert.doesNotMatch(fingerprintSql({ serverVersionNum: 150000, ownersAndGrants: false }), /aclexplode|pg_get_userbyid/);
    assert.match(fingerprintSql({ serverVersionNum: 150000, ownersAndGrants: true }), /aclexplode\(o\.acl\)/);
  });

  it('pins every setting it changes and sets each back', () => {
    const text = fingerprintSql({ serverVersionNum: 150000, ownersAndGrants: false });
    for (const name of ['search_path', 'DateStyle', 'IntervalStyle', 'TimeZone', 'extra_float_digits', 'bytea_output', 'quote_all_identifiers']) {
      assert.equal(text.split(`set_config('${name}',`).length - 1, 2, `${name} is set once and restored once`);
    }
  });
});
