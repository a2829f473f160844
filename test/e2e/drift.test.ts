/** Checksums, verify, directory errors, stamp and repair of edited files. */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { checksum } from '../../lib/core/checksum.js';
import { runCli, workdir, workdirFromFixture } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string) => runCli([...args, '--url', db.url], { cwd });
const versions = async () => (await db.sql.unsafe(`SELECT version_label, how FROM pgpair_history ORDER BY version::numeric`)).map((r) => `${r.version_label}:${r.how}`);

describe('checksums and verify', () => {
  it('an edited applied file fails verify (exit 3, both checksums) and up refuses before running anything', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up', '0002'], cwd);
    const ok = await cli(['verify'], cwd);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ok: files and history agree/);
    const path = join(cwd, 'sql', '0001_create_users.up.sql');
    const original = readFileSync(path, 'utf8');
    writeFileSync(path, original.replace('email text NOT NULL UNIQUE', 'email text NOT NULL'));
    const before = checksum(original).slice(0, 19);
    const after = checksum(readFileSync(path, 'utf8')).slice(0, 19);
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 3);
    assert.match(verify.stdout, new RegExp(`sql/0001_create_users\\.up\\.sql: changed after it was applied \\(recorded ${before}, file now ${after}\\)`));
    const json = JSON.parse((await cli(['verify', '--json'], cwd)).stdout);
    assert.equal(json.ok, false);
    assert.equal(json.problems[0].recordedChecksum, checksum(original));
    assert.equal(json.problems[0].actualChecksum, checksum(readFileSync(path, 'utf8')));
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 3);
    assert.match(up.stderr, /pgpair up refuses to run until files and history agree/);
    assert.match(up.stderr, /0001_create_users\.up\.sql: changed after it was applied/);
    assert.deepEqual(await versions(), ['0001:executed', '0002:executed'], '0003 was not applied');
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.equal(status.migrations[0].state, 'changed');
    // repair --accept records the edit (logged), and verify passes again
    const repair = await cli(['repair', '--accept', '0001'], cwd);
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(repair.stdout, /accepted the current files of 0001_create_users/);
    assert.equal((await cli(['verify'], cwd)).code, 0);
    const log = await db.sql.unsafe(`SELECT action, detail FROM pgpair_history_log WHERE action = 'repair'`);
    assert.equal(log.length, 1);
    assert.match(String(log[0]!.detail), /accepted edited files: up sha256:/);
  });

  it('re-saving an applied file with CRLF line endings or a BOM is not drift', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up'], cwd);
    for (const name of ['0001_create_users.up.sql', '0002_create_posts.up.sql']) {
      const path = join(cwd, 'sql', name);
      writeFileSync(path, `\ufeff${readFileSync(path, 'utf8').replace(/\n/g, '\r\n')}`);
    }
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 0, verify.stdout);
    assert.match((await cli(['up'], cwd)).stdout, /^already at 0003; nothing to apply on \S+\n$/);
  });

  it('a deleted applied file is missing; a pending version older than the newest applied is out of order', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up'], cwd);
    rmSync(join(cwd, 'sql', '0003_add_bio.up.sql'));
    rmSync(join(cwd, 'sql', '0003_add_bio.down.sql'));
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.deepEqual(status.migrations.map((m: { version: string; state: string }) => `${m.version}:${m.state}`), ['0001:applied', '0002:applied', '0003:missing']);
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 3);
    assert.match(verify.stdout, /0003_add_bio: applied \(executed\) but its file 0003_add_bio\.up\.sql is gone/);
    const other = workdirFromFixture('basic');
    writeFileSync(join(other, 'sql', '0002_create_posts.up.sql'), 'CREATE TABLE posts (id int);');
    const fresh = await scratchDatabase();
    try {
      const at = (args: string[]) => runCli([...args, '--url', fresh.url], { cwd: other });
      rmSync(join(other, 'sql', '0002_create_posts.up.sql'));
      rmSync(join(other, 'sql', '0002_create_posts.down.sql'));
      await at(['up']);
      writeFileSync(join(other, 'sql', '0002_late_branch.up.sql'), 'CREATE TABLE late (id int);');
      const late = await at(['verify']);
      assert.equal(late.code, 3);
      assert.match(late.stdout, /sql\/0002_late_branch\.up\.sql: pending, but older than the newest applied version 0003/);
      const refused = await at(['up']);
      assert.equal(refused.code, 3);
      assert.match(refused.stderr, /--allow-out-of-order/);
      const allowed = await at(['up', '--allow-out-of-order']);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /applied 0002_late_branch/);
      assert.equal((await at(['verify'])).code, 0);
    } finally {
      await fresh.drop();
    }
  });

  it('verify --strict also fails on pending versions', async () => {
    const cwd = workdirFromFixture('basic');
    await cli(['up', '0001'], cwd);
    assert.equal((await cli(['verify'], cwd)).code, 0);
    const strict = await cli(['verify', '--strict'], cwd);
    assert.equal(strict.code, 3);
    assert.match(strict.stdout, /0002_create_posts\.up\.sql: pending/);
  });
});

describe('directory errors', () => {
  it('are all reported together by file name, exit 2, before any database work', async () => {
    const cwd = workdir({
      'sql/0001_a.up.sql': 'select 1;',
      'sql/0001_b.up.sql': 'select 1;',
      'sql/0003_c.up.sql': 'select 1;',
      'sql/3_c.down.sql': 'select 1;',
      'sql/0004_orphan.down.sql': 'select 1;',
      'sql/0005-add-thing.up.sql': 'select 1;',
      'sql/notes.txt': 'ignored',
    });
    // The URL points nowhere: reaching it would be a connection error (exit 1), not exit 2.
    const r = await runCli(['up', '--url', 'postgres://127.0.0.1:1/none'], { cwd });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /4 problems in migration directory sql/);
    for (const file of ['0001_a.up.sql', '0003_c.up.sql', '0004_orphan.down.sql', '0005-add-thing.up.sql']) assert.ok(r.stderr.includes(`sql/${file}`), file);
    assert.match(r.stderr, /<version>_<slug>\.up\.sql/);
    assert.doesNotMatch(r.stderr, /notes\.txt/);
    const json = await runCli(['status', '--json', '--url', 'postgres://127.0.0.1:1/none'], { cwd });
    assert.equal(json.code, 2);
    assert.equal(JSON.parse(json.stdout).error.problems.length, 4);
  });

  it('a missing directory is a configuration error that says how to fix it', async () => {
    const r = await runCli(['status', '--dir', 'nowhere', '--url', 'postgres://127.0.0.1:1/none'], { cwd: workdir() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Migration directory nowhere does not exist/);
  });

  it('invalid UTF-8 is reported with the file name', async () => {
    const cwd = workdir();
    writeFileSync(join(cwd, 'x'), '');
    const dir = workdir({ 'sql/0001_ok.up.sql': 'select 1;' });
    writeFileSync(join(dir, 'sql', '0002_latin1.up.sql'), Buffer.from([0x2d, 0x2d, 0x20, 0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const r = await runCli(['status', '--url', 'postgres://127.0.0.1:1/none'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sql\/0002_latin1\.up\.sql: is not valid UTF-8 text \(first bad byte on line 1\)/);
  });
});

describe('stamp', () => {
  it('adopts a database built from schema.sql: records every version as stamped, runs no migration SQL', async () => {
    const cwd = workdirFromFixture('basic');
    await db.sql.unsafe(readFileSync(join(cwd, 'sql', 'schema.sql'), 'utf8'));
    const r = await cli(['stamp', 'head'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stamped 0001_create_users\nstamped 0002_create_posts\nstamped 0003_add_bio\nnow at 0003 \(3 migrations recorded, no migration SQL ran\)/);
    assert.deepEqual(await versions(), ['0001:stamped', '0002:stamped', '0003:stamped']);
    const up = await cli(['up'], cwd);
    assert.match(up.stdout, /^already at 0003; nothing to apply on \S+\n$/);
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.deepEqual(status.migrations.map((m: { how: string; durationMs: number | null }) => [m.how, m.durationMs]), [['stamped', null], ['stamped', null], ['stamped', null]]);
    // stamp 0002 moves the record down without running down files
    const back = await cli(['stamp', '0002'], cwd);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /unstamped 0003_add_bio/);
    assert.deepEqual(await versions(), ['0001:stamped', '0002:stamped']);
    const bio = await db.sql.unsafe(`SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bio'`);
    assert.equal(bio.length, 1, 'the down file did not run');
    const base = await cli(['stamp', 'base'], cwd);
    assert.equal(base.code, 0);
    assert.deepEqual(await versions(), []);
    assert.deepEqual(await tables(db.sql), ['pgpair_history', 'pgpair_history_log', 'posts', 'users']);
    const log = await db.sql.unsafe(`SELECT action, version, name, how, checksum ~ '^sha256:[0-9a-f]{64}$' AS checksum, duration_ms FROM pgpair_history_log ORDER BY id`);
    assert.deepEqual(
      log.map((l) => `${l.action} ${l.version}_${l.name} ${l.how} ${l.checksum} ${l.duration_ms}`),
      [
        'stamp 0001_create_users stamped true null',
        'stamp 0002_create_posts stamped true null',
        'stamp 0003_add_bio stamped true null',
        'unstamp 0003_add_bio stamped true null',
        'unstamp 0002_create_posts stamped true null',
        'unstamp 0001_create_users stamped true null',
      ],
    );
  });

  it('refuses an unknown version and requires a target', async () => {
    const cwd = workdirFromFixture('basic');
    const r = await cli(['stamp', '0042'], cwd);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /No migration has version 0042/);
    const none = await cli(['stamp'], cwd);
    assert.equal(none.code, 2);
  });
});
