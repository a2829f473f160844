/**
 * A failed run returns what happened as data, as goose's PartialError{Applied, Failed, Err}: the
 * steps done before the failure (they stay done) and the step it stopped at, on the error itself
 * and in `--json` output.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as pgpair from '../../lib/index.js';
import { MigrationFailedError, MigrationIntegrityError } from '../../lib/core/errors.js';
import { runCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, type Scratch } from '../helpers/db.js';

const FILES = {
  'sql/0001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY);\n',
  'sql/0001_users.down.sql': 'DROP TABLE users;\n',
  'sql/0002_index.up.sql': 'CREATE INDEX CONCURRENTLY users_id ON users (id);\n',
  'sql/0002_index.down.sql': 'DROP INDEX CONCURRENTLY users_id;\n',
  'sql/0003_broken.up.sql': 'INSERT INTO users VALUES (1);\nINSERT INTO nowhere VALUES (1);\n',
};

describe('a failed run carries applied and failed as data', () => {
  let db: Scratch;
  before(async () => {
    db = await scratchDatabase('partial_err');
  });
  after(async () => {
    await db.drop();
  });

  it('MigrationFailedError: the steps before it, the step it stopped at, and the same in --json', async () => {
    const cwd = workdir(FILES);
    const dir = join(cwd, 'sql');
    const error = await pgpair.up({ url: db.url, dir }).then(
      () => assert.fail('up should fail at 0003'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MigrationFailedError, String(error));
    assert.deepEqual(
      error.applied.map((s) => [s.action, s.version, s.name, s.mode]),
      [
        ['up', '0001', 'users', 'transaction'],
        ['up', '0002', 'index', 'no-transaction'],
      ],
    );
    assert.deepEqual(error.failed, { action: 'up', version: '0003', name: 'broken', file: join(dir, '0003_broken.up.sql') });
    assert.equal(error.statement, 2);
    const json = error.toJSON();
    assert.equal(json.name, 'broken', 'name is the migration\'s name in JSON');
    assert.deepEqual(json.failed, error.failed);

    // The CLI prints the same data with --json (nothing was applied this time: 0001 and 0002 are done).
    const cli = await runCli(['up', '--json', '--dir', 'sql', '--url', db.url], { cwd });
    assert.equal(cli.code, 1, cli.stderr);
    const printed = JSON.parse(cli.stdout) as { ok: boolean; error: { code: string; failed: unknown; applied: unknown } };
    assert.equal(printed.ok, false);
    assert.equal(printed.error.code, 'E_MIGRATION_FAILED');
    const data = printed.error;
    assert.deepEqual(data.failed, { action: 'up', version: '0003', name: 'broken', file: 'sql/0003_broken.up.sql' });
    assert.deepEqual(data.applied, []);
  });

  it('MigrationIntegrityError: a migration that releases the lock, after a step that stays done', async () => {
    const cwd = workdir({
      'sql/0001_a.up.sql': 'CREATE TABLE a (id int);\n',
      'sql/0002_unlock.up.sql': 'CREATE TABLE b (id int);\nSELECT pg_advisory_unlock_all();\n',
    });
    const other = await scratchDatabase('partial_err');
    try {
      const error = await pgpair.up({ url: other.url, dir: join(cwd, 'sql') }).then(
        () => assert.fail('up should stop at 0002'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof MigrationIntegrityError, String(error));
      assert.equal(error.problem, 'lock-released');
      assert.deepEqual(error.applied.map((s) => [s.action, s.version]), [['up', '0001']]);
      assert.deepEqual(error.failed, { action: 'up', version: '0002', name: 'unlock', file: join(cwd, 'sql', '0002_unlock.up.sql') });
    } finally {
      await other.drop();
    }
  });
});
