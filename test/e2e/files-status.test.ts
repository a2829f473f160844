/**
 * What the directory and the history say, told truthfully: a version recorded under another
 * name (renumbered on another branch), file checks in status and verify, edited down files, up
 * and down files with different slugs, and directory entries that are not regular files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { checksum } from '../../lib/core/checksum.js';
import { runCli, workdir } from '../helpers/cli.js';
import { scratchDatabase, tables, type Scratch } from '../helpers/db.js';

let db: Scratch;
beforeEach(async () => {
  db = await scratchDatabase();
});
afterEach(async () => db.drop());

const cli = (args: string[], cwd: string, timeoutMs?: number) => runCli([...args, '--url', db.url], { cwd, ...(timeoutMs ? { timeoutMs } : {}) });
const noStack = (text: string) => assert.doesNotMatch(text, /\n\s+at [^\n]+:\d+:\d+\)?\n|TypeError|ReferenceError|unexpected/i);
const history = async () => (await db.sql.unsafe(`SELECT version_label, name, up_checksum, down_checksum FROM pgpair_history ORDER BY version::numeric`)).map((r) => ({ ...r }));
const log = async () => (await db.sql.unsafe(`SELECT action, version, name, checksum, detail FROM pgpair_history_log ORDER BY id`)).map((r) => ({ ...r }));
const columns = async (table: string) =>
  (await db.sql.unsafe(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, [table])).map((r) => String(r.column_name));
/** Every relation, function and non-system schema in the database: nothing at all after a refused run. */
async function everything(): Promise<string[]> {
  const rows = await db.sql.unsafe(`
    SELECT 'relation ' || n.nspname || '.' || c.relname AS what FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
    UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND nspname NOT LIKE 'pg\\_%'`);
  return rows.map((r) => String(r.what));
}

const AVATAR_UP = 'ALTER TABLE profiles ADD COLUMN avatar text;\n';
const AVATAR_DOWN = 'ALTER TABLE profiles DROP COLUMN avatar;\n';
const BIO_UP = 'ALTER TABLE profiles ADD COLUMN bio text;\n';
const BIO_DOWN = 'ALTER TABLE profiles DROP COLUMN bio;\n';

/** 0005 and 0006_add_bio applied; then a merge leaves 0006_add_avatar in their place (and a pending 0007). */
async function renumbered(): Promise<string> {
  const cwd = workdir({
    'sql/0005_profiles.up.sql': 'CREATE TABLE profiles (id int PRIMARY KEY);\n',
    'sql/0005_profiles.down.sql': 'DROP TABLE profiles;\n',
    'sql/0006_add_bio.up.sql': BIO_UP,
    'sql/0006_add_bio.down.sql': BIO_DOWN,
  });
  const up = await cli(['up'], cwd);
  assert.equal(up.code, 0, up.stderr);
  const sql = join(cwd, 'sql');
  rmSync(join(sql, '0006_add_bio.up.sql'));
  rmSync(join(sql, '0006_add_bio.down.sql'));
  writeFileSync(join(sql, '0006_add_avatar.up.sql'), AVATAR_UP);
  writeFileSync(join(sql, '0006_add_avatar.down.sql'), AVATAR_DOWN);
  writeFileSync(join(sql, '0007_later.up.sql'), 'CREATE TABLE later (id int);\n');
  writeFileSync(join(sql, '0007_later.down.sql'), 'DROP TABLE later;\n');
  return cwd;
}

describe('a version recorded under another name than its file (two branches, one renumbered)', () => {
  it('is "renamed", not "changed": status, verify and up say so, up applies nothing', async () => {
    const cwd = await renumbered();
    const status = await cli(['status', '--json'], cwd);
    assert.equal(status.code, 0, status.stderr);
    const entry = JSON.parse(status.stdout).migrations.find((m: { version: string }) => m.version === '0006');
    assert.deepEqual([entry.name, entry.state, entry.recordedName, entry.upChecksum, entry.recordedChecksum], ['add_avatar', 'renamed', 'add_bio', checksum(AVATAR_UP), checksum(BIO_UP)]);
    const human = await cli(['status'], cwd);
    assert.match(human.stdout, /\n0006 +add_avatar +renamed +executed .*recorded as add_bio\n/);
    assert.doesNotMatch(human.stdout, /changed/);
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 3);
    assert.match(verify.stdout, /sql\/0006_add_avatar\.up\.sql: 0006 is recorded as add_bio, but the file is 0006_add_avatar: two branches probably used the same version, and this database ran add_bio, not add_avatar\. Renumber 0006_add_avatar above 0007 \(pgpair create add_avatar writes the next pair/);
    assert.match(verify.stdout, /so pgpair repair --accept refuses it\./);
    assert.doesNotMatch(verify.stdout, /changed after it was applied|repair --accept 0006/);
    const json = JSON.parse((await cli(['verify', '--json'], cwd)).stdout);
    assert.deepEqual(json.problems.map((p: { kind: string; recordedName: string }) => [p.kind, p.recordedName]), [['renamed', 'add_bio']]);
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 3, up.stderr);
    noStack(up.stderr);
    assert.match(up.stderr, /pgpair up refuses to run until files and history agree:\n {2}sql\/0006_add_avatar\.up\.sql: 0006 is recorded as add_bio/);
    assert.deepEqual((await history()).map((r) => `${r.version_label}_${r.name}`), ['0005_profiles', '0006_add_bio']);
    assert.deepEqual(await columns('profiles'), ['id', 'bio'], 'add_avatar never ran');
    assert.equal((await tables(db.sql)).includes('later'), false, '0007 was not applied');
  });

  it('repair --accept refuses it (exit 3) and changes nothing; down refuses to run add_avatar\'s down file', async () => {
    const cwd = await renumbered();
    const before = await history();
    const logBefore = await log();
    const repair = await cli(['repair', '--accept', '0006'], cwd);
    assert.equal(repair.code, 3, repair.stdout + repair.stderr);
    noStack(repair.stderr);
    assert.match(repair.stderr, /pgpair repair --accept 0006 refuses: sql\/0006_add_avatar\.up\.sql is not the migration that ran \(0006 ran as add_bio\), so accepting it would record as applied a migration that never ran\. Nothing was changed/);
    assert.match(repair.stderr, /Renumber 0006_add_avatar above 0007/);
    const json = await cli(['repair', '--accept', '0006', '--json'], cwd);
    assert.equal(json.code, 3);
    assert.equal(JSON.parse(json.stdout).error.problems[0].kind, 'renamed');
    assert.deepEqual(await history(), before);
    assert.deepEqual(await log(), logBefore, 'nothing logged');
    for (const args of [['down'], ['down', 'base'], ['down', '--steps', '2'], ['down', '0005']]) {
      const down = await cli(args, cwd);
      assert.equal(down.code, 3, `${args.join(' ')}: ${down.stderr}`);
      noStack(down.stderr);
      assert.match(down.stderr, /pgpair down refuses to run the down file of another migration than the one recorded: 0006 ran as add_bio, its file is 0006_add_avatar\. Nothing was reverted/);
    }
    const script = await cli(['down', 'base', '--sql'], cwd);
    assert.equal(script.code, 3);
    assert.equal(script.stdout, '');
    assert.deepEqual(await history(), before);
    assert.deepEqual(await columns('profiles'), ['id', 'bio'], 'no down file ran');
    assert.deepEqual(await log(), logBefore);
  });

  it('a slug renamed on purpose (same SQL) is accepted by repair --accept, which records the new name; logged', async () => {
    const cwd = await renumbered();
    writeFileSync(join(cwd, 'sql', '0006_add_avatar.up.sql'), BIO_UP.replace(/\n/g, '\r\n'));
    writeFileSync(join(cwd, 'sql', '0006_add_avatar.down.sql'), BIO_DOWN);
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 3);
    assert.match(verify.stdout, /If add_bio was renamed to add_avatar on purpose \(the SQL is the SQL that ran\), pgpair repair --accept 0006 records the new name\./);
    const repair = await cli(['repair', '--accept', '0006'], cwd);
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(repair.stdout, /^recorded 0006_add_avatar as the new name of 0006_add_bio \(same SQL/);
    assert.deepEqual((await history()).map((r) => `${r.version_label}_${r.name}`), ['0005_profiles', '0006_add_avatar']);
    const entry = (await log()).at(-1)!;
    assert.equal(entry.action, 'repair');
    assert.match(String(entry.detail), /name add_bio -> add_avatar/);
    assert.equal((await cli(['verify'], cwd)).code, 0);
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /applied 0007_later/);
  });
});

describe('status and verify check every file as up does', () => {
  it('a meta-command or an unterminated quote in any file, applied or pending, up or down: exit 2 naming file and line', async () => {
    const cwd = workdir({
      'sql/0001_a.up.sql': 'CREATE TABLE a (id int);\n',
      'sql/0001_a.down.sql': 'DROP TABLE a;\n',
    });
    assert.equal((await cli(['up'], cwd)).code, 0);
    writeFileSync(join(cwd, 'sql', '0002_b.up.sql'), "SELECT 1;\nSELECT 'never closed;\n");
    writeFileSync(join(cwd, 'sql', '0002_b.down.sql'), 'SELECT 1;\n\\i other.sql\n');
    for (const command of [['verify'], ['verify', '--strict'], ['status'], ['up'], ['down'], ['up', '--sql']]) {
      const r = await cli(command, cwd);
      assert.equal(r.code, 2, `${command.join(' ')}: ${r.stdout}${r.stderr}`);
      noStack(r.stderr);
      assert.match(r.stderr, /2 problems in migration directory sql/);
      assert.match(r.stderr, /sql\/0002_b\.up\.sql:2:8: /);
      assert.match(r.stderr, /sql\/0002_b\.down\.sql:2:1: psql meta-command \\i/);
    }
    const json = await cli(['status', '--json'], cwd);
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stdout).error.problems.map((p: { file: string; line: number }) => `${p.file}:${p.line}`), ['sql/0002_b.down.sql:2', 'sql/0002_b.up.sql:2']);
    assert.deepEqual((await history()).map((r) => r.version_label), ['0001'], 'down did not revert 0001 either');
  });

  it('up on a fresh database with a bad file creates nothing, not even the history table', async () => {
    const cwd = workdir({
      'sql/0001_fine.up.sql': 'CREATE TABLE fine (id int);\n',
      'sql/0002_later.up.sql': 'CREATE TABLE later (id int);\n',
      'sql/0002_later.down.sql': '-- pgpair:no-transactoin\nDROP TABLE later;\n',
    });
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 2, up.stderr);
    assert.match(up.stderr, /sql\/0002_later\.down\.sql:1: "-- pgpair:no-transactoin" is not a pgpair directive/);
    assert.deepEqual(await everything(), []);
    const stamp = await cli(['stamp', 'head'], cwd);
    assert.equal(stamp.code, 2);
    assert.deepEqual(await everything(), []);
    const other = await cli(['up', '--table', 'audit.history'], cwd);
    assert.equal(other.code, 2);
    assert.deepEqual(await everything(), [], 'no schema either');
  });
});

describe('down files of applied migrations', () => {
  const files = {
    'sql/0001_a.up.sql': 'CREATE TABLE a (id int);\n',
    'sql/0001_a.down.sql': 'DROP TABLE a;\n',
    'sql/0002_b.up.sql': 'CREATE TABLE b (id int);\n',
    'sql/0002_b.down.sql': 'DROP TABLE b;\n',
  };

  it('an edited down file: a warning in verify (exit 0; --strict exit 3) and status; down says so with both checksums before running it, and the log records it', async () => {
    const cwd = workdir(files);
    assert.equal((await cli(['up'], cwd)).code, 0);
    const path = join(cwd, 'sql', '0002_b.down.sql');
    const recorded = checksum(readFileSync(path, 'utf8'));
    writeFileSync(path, 'DROP TABLE b;\nCREATE TABLE b_dropped (at timestamptz);\n');
    const actual = checksum(readFileSync(path, 'utf8'));
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 0, verify.stdout);
    assert.equal(
      verify.stdout,
      `ok: files and history agree (current 0002, head 0002)\n1 warning (pgpair verify --strict fails on it):\n  sql/0002_b.down.sql: changed since 0002_b was applied (recorded ${recorded.slice(0, 19)}, file now ${actual.slice(0, 19)}), so a pgpair down across 0002 would run the edited file. Restore it, or run pgpair repair --accept 0002 if the edit is intended.\n`,
    );
    const strict = await cli(['verify', '--strict'], cwd);
    assert.equal(strict.code, 3);
    assert.match(strict.stdout, /^1 problem:\n {2}sql\/0002_b\.down\.sql: changed since 0002_b was applied/);
    const json = JSON.parse((await cli(['verify', '--json'], cwd)).stdout);
    assert.equal(json.ok, true);
    assert.deepEqual(json.warnings.map((w: { kind: string; recordedChecksum: string; actualChecksum: string }) => [w.kind, w.recordedChecksum, w.actualChecksum]), [['down-changed', recorded, actual]]);
    const status = await cli(['status', '--json'], cwd);
    const entry = JSON.parse(status.stdout).migrations[1];
    assert.deepEqual([entry.state, entry.downState, entry.downChanged, entry.downChecksum, entry.recordedDownChecksum], ['applied', 'changed', true, actual, recorded]);
    const human = await cli(['status'], cwd);
    assert.match(human.stdout, /0002 +b +applied .*down file changed\n/);
    assert.match(human.stdout, /\nWarnings \(pgpair verify --strict fails\):\n {2}sql\/0002_b\.down\.sql: changed since 0002_b was applied/);

    const down = await cli(['down', '--log-level', 'warn'], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /^reverted 0002_b \(\d+ ms\)\nnow at 0001 \(1 migration reverted in \d+ ms\) on \S+@\S+:\d+\/pgpair_t_\w+\n$/);
    const warning = down.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(warning.length, 1, down.stderr);
    assert.equal(warning[0]!.level, 40);
    assert.equal(warning[0]!.msg, `sql/0002_b.down.sql changed since 0002_b was applied (recorded ${recorded.slice(0, 19)}, file now ${actual.slice(0, 19)}): about to run the edited down file`);
    assert.deepEqual([warning[0]!.recordedChecksum, warning[0]!.actualChecksum], [recorded, actual]);
    assert.equal((await tables(db.sql)).includes('b_dropped'), true, 'the edited file ran');
    const entries = (await log()).slice(-2);
    assert.deepEqual(entries.map((e) => [e.action, e.version, e.checksum]), [['warning', '0002', actual], ['down', '0002', actual]]);
    assert.equal(entries[0]!.detail, `down: sql/0002_b.down.sql changed since 0002_b was applied (recorded ${recorded}, file now ${actual}): about to run the edited down file`);
  });

  it('a deleted down file: a warning in verify; down refuses, saying the file it had is gone', async () => {
    const cwd = workdir(files);
    assert.equal((await cli(['up'], cwd)).code, 0);
    rmSync(join(cwd, 'sql', '0002_b.down.sql'));
    const verify = await cli(['verify'], cwd);
    assert.equal(verify.code, 0);
    assert.match(verify.stdout, /1 warning .*:\n {2}0002_b: its down file \(sql\/0002_b\.down\.sql, recorded sha256:[0-9a-f]{12}\) is gone from the directory, so pgpair down cannot revert 0002 any more\. Restore it, or run pgpair repair --accept 0002 to record 0002 as irreversible\./);
    assert.equal((await cli(['verify', '--strict'], cwd)).code, 3);
    assert.equal(JSON.parse((await cli(['status', '--json'], cwd)).stdout).migrations[1].downState, 'deleted');
    const down = await cli(['down'], cwd);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /Cannot revert 0002_b: its down file \(sql\/0002_b\.down\.sql\) is gone, though it had one when it was applied \(recorded sha256:[0-9a-f]{12}\)\. Nothing was reverted\./);
    const repair = await cli(['repair', '--accept', '0002'], cwd);
    assert.equal(repair.code, 0, repair.stderr);
    assert.equal((await history())[1]!.down_checksum, null);
    const after = await cli(['verify', '--strict'], cwd);
    assert.equal(after.code, 0, after.stdout);
    assert.equal(after.stdout, 'ok: files and history agree (current 0002, head 0002)\n');
  });

  it('a row without a recorded down checksum (an older pgpair) is unknown, not changed; repair --accept records it', async () => {
    const cwd = workdir(files);
    assert.equal((await cli(['up'], cwd)).code, 0);
    await db.sql.unsafe(`UPDATE pgpair_history SET down_checksum = NULL`);
    const verify = await cli(['verify', '--strict'], cwd);
    assert.equal(verify.code, 0, verify.stdout);
    assert.equal(verify.stdout, 'ok: files and history agree (current 0002, head 0002)\n');
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.deepEqual(status.migrations.map((m: { downState: string; downChanged: boolean }) => [m.downState, m.downChanged]), [['unrecorded', false], ['unrecorded', false]]);
    const down = await cli(['down', '--log-level', 'warn'], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stderr, '', 'no warning for an unknown down checksum');
    assert.equal((await cli(['repair', '--accept', '0001'], cwd)).code, 0);
    assert.equal((await history())[0]!.down_checksum, checksum(files['sql/0001_a.down.sql']));
  });
});

describe('up and down files of one version with different slugs', () => {
  it('are one migration named by the up file; status shows the down file; up and down run them', async () => {
    const cwd = workdir({
      'sql/30_base.up.sql': 'CREATE TABLE pubs (id int);\n',
      'sql/30_base.down.sql': 'DROP TABLE pubs;\n',
      'sql/31_add_pub_magic_metadata.up.sql': 'ALTER TABLE pubs ADD COLUMN magic_metadata jsonb;\n',
      'sql/31_drop_pub_magic_metadata.down.sql': 'ALTER TABLE pubs DROP COLUMN magic_metadata;\n',
    });
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /applied 31_add_pub_magic_metadata/);
    assert.deepEqual((await history()).map((r) => `${r.version_label}_${r.name}`), ['30_base', '31_add_pub_magic_metadata']);
    assert.equal((await history())[1]!.down_checksum, checksum('ALTER TABLE pubs DROP COLUMN magic_metadata;\n'));
    const status = await cli(['status'], cwd);
    assert.match(status.stdout, /\n31 +add_pub_magic_metadata +applied .*down file 31_drop_pub_magic_metadata\.down\.sql\n/);
    assert.doesNotMatch(status.stdout, /\n30 .*down file/);
    const json = JSON.parse((await cli(['status', '--json'], cwd)).stdout);
    assert.deepEqual(json.migrations.map((m: { name: string; downName: string | null }) => [m.name, m.downName]), [['base', 'base'], ['add_pub_magic_metadata', 'drop_pub_magic_metadata']]);
    assert.equal((await cli(['verify', '--strict'], cwd)).code, 0);
    const down = await cli(['down'], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /reverted 31_add_pub_magic_metadata/);
    assert.deepEqual(await columns('pubs'), ['id']);
    assert.deepEqual((await log()).at(-1)!.name, 'add_pub_magic_metadata');
  });
});

describe('directory entries that are not regular files', () => {
  it('a FIFO, a symlink to one, a directory, a dangling or looping symlink, a device, a socket: exit 2 at once, each named; never opened', async () => {
    const cwd = workdir({ 'sql/0001_ok.up.sql': 'CREATE TABLE ok (id int);\n', 'elsewhere/real.sql': 'CREATE TABLE linked (id int);\n' });
    const sql = join(cwd, 'sql');
    execFileSync('mkfifo', [join(sql, '0002_x.up.sql')]);
    execFileSync('mkfifo', [join(cwd, 'elsewhere', 'pipe')]);
    symlinkSync(join(cwd, 'elsewhere', 'pipe'), join(sql, '0003_y.up.sql'));
    mkdirSync(join(sql, '0004_dir.up.sql'));
    symlinkSync(join(cwd, 'nowhere.sql'), join(sql, '0005_dangling.up.sql'));
    symlinkSync('0006_loop.up.sql', join(sql, '0006_loop.up.sql'));
    symlinkSync('/dev/zero', join(sql, '0007_dev.up.sql'));
    mkdirSync(join(sql, 'not-a-migration'));
    const socket: Server = createServer();
    await new Promise<void>((resolve) => socket.listen(join(sql, '0008_sock.down.sql'), resolve));
    try {
      for (const command of [['status'], ['verify'], ['up'], ['up', '--sql', '--from', 'base']]) {
        const r = await runCli([...command, '--url', db.url], { cwd, timeoutMs: 20_000 });
        assert.equal(r.signal, null, `${command.join(' ')} hung`);
        assert.equal(r.code, 2, `${command.join(' ')}: ${r.stderr}`);
        noStack(r.stderr);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /7 problems in migration directory sql/);
        assert.match(r.stderr, /sql\/0002_x\.up\.sql: is a FIFO \(named pipe\), not a regular file: pgpair reads only regular files/);
        assert.match(r.stderr, new RegExp(`sql/0003_y\\.up\\.sql: is a symbolic link to ${join(cwd, 'elsewhere', 'pipe').replace(/[.]/g, '\\.')}, which is a FIFO \\(named pipe\\), not a regular file`));
        assert.match(r.stderr, /sql\/0004_dir\.up\.sql: is a directory, not a migration file/);
        assert.match(r.stderr, /sql\/0005_dangling\.up\.sql: is a symbolic link to .*nowhere\.sql, which does not exist \(a dangling link\)/);
        assert.match(r.stderr, /sql\/0006_loop\.up\.sql: is a symbolic link that loops/);
        assert.match(r.stderr, /sql\/0007_dev\.up\.sql: is a symbolic link to \/dev\/zero, which is a device, not a regular file/);
        assert.match(r.stderr, /sql\/0008_sock\.down\.sql: is a socket, not a regular file/);
        assert.doesNotMatch(r.stderr, /not-a-migration/);
      }
      assert.deepEqual(await everything(), []);
      // The base schema named on the command line is held to the same rule.
      const load = await runCli(['load', 'elsewhere/pipe', '--url', db.url], { cwd, timeoutMs: 20_000 });
      assert.equal(load.code, 2, load.stderr);
      assert.match(load.stderr, /Cannot read elsewhere\/pipe: it is a FIFO \(named pipe\), not a regular file/);
      assert.deepEqual(await everything(), []);
    } finally {
      await new Promise((resolve) => socket.close(resolve));
    }
  });

  it('a symbolic link to a regular file is read like the file', async () => {
    const cwd = workdir({ 'shared/create.sql': 'CREATE TABLE linked (id int);\n', 'sql/0001_plain.up.sql': 'SELECT 1;\n' });
    symlinkSync(join(cwd, 'shared', 'create.sql'), join(cwd, 'sql', '0002_linked.up.sql'));
    symlinkSync('../shared/create.sql', join(cwd, 'sql', 'hop.sql.txt'));
    const up = await cli(['up'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /applied 0002_linked/);
    assert.equal((await tables(db.sql)).includes('linked'), true);
    // Replacing the target by a FIFO later is caught too.
    rmSync(join(cwd, 'shared', 'create.sql'));
    execFileSync('mkfifo', [join(cwd, 'shared', 'create.sql')]);
    const status = await runCli(['status', '--url', db.url], { cwd, timeoutMs: 20_000 });
    assert.equal(status.code, 2, status.stderr);
    assert.match(status.stderr, /sql\/0002_linked\.up\.sql: is a symbolic link to .*create\.sql, which is a FIFO/);
    renameSync(join(cwd, 'shared', 'create.sql'), join(cwd, 'shared', 'pipe'));
  });
});
