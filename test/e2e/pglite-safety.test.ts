/**
 * The embedded database never touches a directory pgpair did not create
 * (issue 11, item 1; SPEC §6): whatever is at a pglite:PATH that pgpair cannot
 * prove it made is refused (exit 2) with the directory tree exactly as it was;
 * a read-only command (status, verify, --sql) never creates or deletes a
 * database directory; a creation cut short is finished on the next writing run.
 *
 * Refusals happen before PGlite is loaded, so they are cheap; a test that opens
 * or creates a database costs seconds, and the groups run two at a time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { runCli, startCli, workdir as newWorkdir, type CliResult } from '../helpers/cli.js';

const MARKER = '.pgpair-pglite.json';
const MIGRATIONS = { 'sql/0001_t.up.sql': 'CREATE TABLE t (id int);\n', 'sql/0001_t.down.sql': 'DROP TABLE t;\n' };

const workdirs: string[] = [];
function workdir(files: Record<string, string> = {}): string {
  const dir = newWorkdir(files);
  workdirs.push(dir);
  return dir;
}

/** A CLI run that must end by itself (as in pglite.test.ts: creating a database on a loaded machine can take over a minute). */
async function cli(args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await runCli(args, { cwd, env, timeoutMs: 90_000 });
  assert.equal(result.signal, null, `pgpair ${args.join(' ')} did not exit by itself\n${result.stderr}`);
  return result;
}

/** Every entry under `root` (not following symlinks): its type, and a file's content hash or a link's target. */
function tree(root: string): Record<string, string> {
  const found: Record<string, string> = {};
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const key = `${prefix}${name}`;
      const info = lstatSync(path);
      if (info.isSymbolicLink()) found[key] = `link -> ${readlinkSync(path)}`;
      else if (info.isDirectory()) {
        found[key] = `dir ${(info.mode & 0o7777).toString(8)}`;
        walk(path, `${key}/`);
      } else found[key] = `file ${createHash('sha256').update(readFileSync(path)).digest('hex')} ${(info.mode & 0o7777).toString(8)} ${info.mtimeMs}`;
    }
  };
  walk(root, '');
  return found;
}

/** A marker as pgpair writes it, naming `dir` (device and inode) as the directory it made. */
function writeProvenMarker(dir: string, state: 'creating' | 'ready'): void {
  const here = statSync(dir, { bigint: true });
  const marker = { format: 'pgpair-pglite', id: '4b0c3f0e-5b7c-4a53-9a8e-1d1d5d1f2a10', createdBy: 'pgpair 0.1.0', createdAt: new Date().toISOString(), state, device: here.dev.toString(), inode: here.ino.toString() };
  writeFileSync(join(dir, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
}

function readMarker(dir: string): Record<string, string> {
  return JSON.parse(readFileSync(join(dir, MARKER), 'utf8'));
}

async function appliedVersions(dir: string): Promise<string[]> {
  const db = await PGlite.create(dir);
  try {
    return (await db.query<{ version_label: string }>(`SELECT version_label FROM pgpair_history ORDER BY version`)).rows.map((r) => r.version_label);
  } finally {
    await db.close();
  }
}

/** Waits (polling, bounded) until `ready()` holds. */
async function until(what: string, ready: () => boolean, ms = 30_000): Promise<void> {
  for (const started = Date.now(); !ready(); ) {
    assert.ok(Date.now() - started < ms, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A made-up data directory of a PostgreSQL server: nothing to open, everything to lose. */
function serverDataDirectory(cwd: string, relative: string, version: string, extra: Record<string, string>): void {
  const files: Record<string, string> = { PG_VERSION: `${version}\n`, 'global/pg_control': 'control data', 'base/1/1259': 'pg_class', 'pg_wal/000000010000000000000001': 'wal', 'postgresql.conf': "listen_addresses = '*'\n", ...extra };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(cwd, relative, name, '..'), { recursive: true });
    writeFileSync(join(cwd, relative, name), text);
  }
}

let template: string;

describe('PGlite never touches a directory it did not create', { concurrency: 2 }, () => {
  before(async () => {
    const { connect } = await import('../../lib/db/index.js');
    template = join(workdir(), 'template');
    await (await connect({ url: `pglite:${template}` })).close();
  });
  after(() => {
    for (const dir of workdirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('refused, exit 2, the tree untouched', { concurrency: 1 }, () => {
    /** Runs each command on `url` in `cwd` and checks the refusal; `tree` compares the whole working directory. */
    async function refused(cwd: string, url: string, message: RegExp, commands: string[][] = [['verify'], ['up']], env: Record<string, string> = {}, root = cwd): Promise<void> {
      const before = tree(root);
      for (const command of commands) {
        const r = await cli([...command, '--url', url], cwd, env);
        assert.equal(r.code, 2, `pgpair ${command.join(' ')} --url ${url}\n${r.stderr}`);
        if (command.includes('--json')) {
          const { error } = JSON.parse(r.stdout);
          assert.deepEqual([error.code, error.target], ['E_EMBEDDED_DIRECTORY', url]);
        } else assert.equal(r.stdout, '', `pgpair ${command.join(' ')} --url ${url} printed on stdout`);
        assert.match(r.stderr, message, `pgpair ${command.join(' ')} --url ${url}`);
        assert.match(r.stderr, /Nothing was changed/);
        assert.doesNotMatch(r.stderr, /unexpected failure|\n {4}at /);
        assert.deepEqual(tree(root), before, `pgpair ${command.join(' ')} --url ${url} changed the directory tree`);
      }
    }

    it('the reported case: db/pg_dumps/prod.sql survives verify, status, up and up --sql on pglite:db', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'db/pg_dumps/prod.sql': 'x\n' });
      await refused(cwd, 'pglite:db', /^error: pglite:db \(.*\/db\) is not an embedded database: it holds other files \(pg_dumps\)\./, [['verify'], ['status'], ['status', '--json'], ['up'], ['up', '--sql'], ['stamp', 'head'], ['down']]);
      assert.equal(readFileSync(join(cwd, 'db', 'pg_dumps', 'prod.sql'), 'utf8'), 'x\n');
    });

    it('a directory of unrelated files, a file, a path through a file', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'notes/readme.txt': 'mine\n', 'notes/pg_wal': 'a file named like PostgreSQL\'s\n', afile: 'x\n' });
      await refused(cwd, 'pglite:notes', /holds other files \(readme\.txt\)/);
      await refused(cwd, 'pglite:afile', /is a file, not a directory/);
      await refused(cwd, 'pglite:afile/db', /cannot be a directory: a part of that path is a file/);
    });

    it('PostgreSQL-looking files without pgpair\'s marker: a lone PG_VERSION, a creation cut short by an older pgpair, a damaged copy', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'lone/PG_VERSION': '18\n', 'half/global/pg_control': 'cut short', 'half/pg_wal/000000010000000000000001': 'wal' });
      await refused(cwd, 'pglite:lone', /has a PG_VERSION but is not a whole database \(global\/pg_control is missing\), and nothing proves that pgpair made it/);
      await refused(cwd, 'pglite:half', /holds PostgreSQL-like files but no PG_VERSION and no proof that pgpair made it/);
      cpSync(template, join(cwd, 'copy'), { recursive: true });
      rmSync(join(cwd, 'copy', 'base'), { recursive: true });
      await refused(cwd, 'pglite:copy', /base\/ is missing\), and nothing proves that pgpair made it\. Its \.pgpair-pglite\.json was copied from another directory, so it proves nothing\./);
    });

    it('the data directory of another PostgreSQL: another version, a server\'s postmaster.opts or postmaster.pid', async () => {
      const cwd = workdir(MIGRATIONS);
      serverDataDirectory(cwd, 'pg15', '15', {});
      serverDataDirectory(cwd, 'opts', '18', { 'postmaster.opts': '/usr/lib/postgresql/18/bin/postgres "-D" "/var/lib/postgresql/18/main"\n' });
      serverDataDirectory(cwd, 'running', '18', { 'postmaster.pid': '2202\n/var/lib/postgresql/18/main\n1796282399\n5432\n/var/run/postgresql\n127.0.0.1\n  1433715         4\nready   \n' });
      await refused(cwd, 'pglite:pg15', /is a data directory of PostgreSQL 15, and the embedded database is PostgreSQL 18\..* Use it with its own PostgreSQL server/);
      await refused(cwd, 'pglite:opts', /is the data directory of a PostgreSQL server \(it holds postmaster\.opts\)/);
      await refused(cwd, 'pglite:running', /is the data directory of a PostgreSQL server \(its postmaster\.pid is a server's\)/);
    });

    it('a marker copied from another pgpair database proves nothing: with files of the user, or with a creation "cut short"', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'mine/notes.txt': 'mine\n', 'half/global/pg_control': 'cut short' });
      cpSync(join(template, MARKER), join(cwd, 'mine', MARKER));
      mkdirSync(join(cwd, 'elsewhere'));
      writeProvenMarker(join(cwd, 'elsewhere'), 'creating');
      cpSync(join(cwd, 'elsewhere', MARKER), join(cwd, 'half', MARKER));
      rmSync(join(cwd, 'elsewhere'), { recursive: true });
      await refused(cwd, 'pglite:mine', /holds other files \(notes\.txt\)\. Its \.pgpair-pglite\.json was copied from another directory, so it proves nothing\./);
      await refused(cwd, 'pglite:half', /no proof that pgpair made it.*copied from another directory/);
      writeFileSync(join(cwd, 'mine', MARKER), '{"format":"something else"}');
      await refused(cwd, 'pglite:mine', /Its \.pgpair-pglite\.json was not written by pgpair/);
    });

    it('a directory pgpair began to create that now holds other files is not cleared', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'db/global/pg_control': 'cut short', 'db/backup.sql': 'mine\n' });
      writeProvenMarker(join(cwd, 'db'), 'creating');
      await refused(cwd, 'pglite:db', /is a database pgpair began to create, but it now also holds other files \(backup\.sql\)/);
    });

    it('a database pgpair made whose PG_VERSION is gone is not re-initialised', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'db/base/1/1259': 'my data', 'db/global/pg_control': 'control' });
      writeProvenMarker(join(cwd, 'db'), 'ready');
      await refused(cwd, 'pglite:db', /is a database pgpair created, but its PG_VERSION file is gone, so it is damaged\..* Move it aside \(mv /);
    });

    it('symbolic links: dangling, to a file, to an empty directory (no database is created through a link)', async () => {
      const cwd = workdir({ ...MIGRATIONS, afile: 'x\n' });
      mkdirSync(join(cwd, 'empty'));
      symlinkSync('nowhere', join(cwd, 'dangling'));
      symlinkSync('afile', join(cwd, 'tofile'));
      symlinkSync('empty', join(cwd, 'toempty'));
      await refused(cwd, 'pglite:dangling', /is a symbolic link to something that does not exist/);
      await refused(cwd, 'pglite:tofile', /is a symbolic link to a file, not a directory/);
      await refused(cwd, 'pglite:toempty', /is a symbolic link to an empty directory; pgpair does not create a database through a link/);
    });

    it('a file of the user where the lock goes (DIR.lock) is neither replaced nor removed', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'db.lock': 'mine, not a lock\n', 'other.lock/notes.txt': 'mine\n' });
      await refused(cwd, 'pglite:db', /^error: pglite:db needs the lock file .*\/db\.lock beside the directory, and a file that pgpair did not write is there\. Nothing was changed: rename that file/, [['up']]);
      await refused(cwd, 'pglite:other', /needs the lock file .*\/other\.lock beside the directory/, [['up']]);
    });

    it('pglite:. pglite:.. pglite:~ and pglite:/ name directories full of other things', async () => {
      const root = workdir({ 'project/sql/0001_t.up.sql': 'CREATE TABLE t (id int);\n', 'project/README.md': 'mine\n', 'home/.bashrc': 'mine\n' });
      const cwd = join(root, 'project');
      await refused(cwd, 'pglite:.', /^error: pglite:\. \(.*\/project\) is not an embedded database: it holds other files \(README\.md, sql\)/, undefined, {}, root);
      await refused(cwd, 'pglite:./', /holds other files \(README\.md, sql\)/, [['up']], {}, root);
      await refused(cwd, 'pglite:..', /^error: pglite:\.\. \(.*\) is not an embedded database: it holds other files \(home, project\)/, undefined, {}, root);
      assert.equal(existsSync(`${root}.lock`), false, 'no lock file written beside the working directory\'s parent');
      await refused(cwd, 'pglite:~', new RegExp(`^error: pglite:~ \\(${join(root, 'home')}\\) is not an embedded database: it holds other files \\(\\.bashrc\\)`), undefined, { HOME: join(root, 'home') }, root);
      const rootLockBefore = existsSync('/.lock');
      const slash = await cli(['up', '--url', 'pglite:/'], cwd);
      assert.equal(slash.code, 2, slash.stderr);
      assert.match(slash.stderr, /^error: pglite:\/ \(\/\) is not an embedded database: it holds other files/);
      assert.equal(existsSync('/.lock'), rootLockBefore, 'no lock file written beside /');
      const other = await cli(['status', '--url', 'pglite:~someone/db'], cwd);
      assert.equal(other.code, 2, other.stderr);
      assert.match(other.stderr, /pgpair expands only ~ and ~\/ \(your home directory\); write the path out\./);
    });
  });

  describe('read-only commands never create a database', { concurrency: 1 }, () => {
    it('status, verify and up --sql before the first up: an empty database is shown, and .pgpair/ is not created', async () => {
      const cwd = workdir(MIGRATIONS);
      const before = tree(cwd);
      const status = await cli(['status', '--json'], cwd);
      assert.equal(status.code, 0, status.stderr);
      const report = JSON.parse(status.stdout);
      assert.equal(report.current, null);
      assert.deepEqual(report.migrations.map((m: { version: string; state: string }) => `${m.version} ${m.state}`), ['0001 pending']);
      assert.match(status.stderr, /The embedded database pglite:\.pgpair\/dev does not exist yet: showing an empty database, and nothing was created\. pgpair up creates it\./);
      const verify = await cli(['verify', '--strict'], cwd);
      assert.equal(verify.code, 3, verify.stderr);
      assert.match(verify.stdout, /0001/);
      const script = await cli(['up', '--sql'], cwd);
      assert.equal(script.code, 0, script.stderr);
      assert.match(script.stdout, /-- Starting state: read from pglite:\.pgpair\/dev \(no history table yet\)\./);
      assert.deepEqual(tree(cwd), before, 'nothing was created, the parent .pgpair/ included');
    });

    it('an empty directory stays empty under status; a creation cut short is left as it is', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'half/global/pg_control': 'cut short', 'half/pg_wal/000000010000000000000001': 'wal' });
      mkdirSync(join(cwd, 'empty'));
      mkdirSync(join(cwd, 'emptied'));
      writeProvenMarker(join(cwd, 'half'), 'creating');
      writeProvenMarker(join(cwd, 'emptied'), 'ready');
      const before = tree(cwd);
      const empty = await cli(['status', '--url', 'pglite:empty'], cwd);
      assert.equal(empty.code, 0, empty.stderr);
      assert.match(empty.stdout, /^current: +base \(nothing applied\)$/m);
      assert.match(empty.stderr, /pglite:empty does not exist yet/);
      const half = await cli(['verify', '--url', 'pglite:half'], cwd);
      assert.equal(half.code, 0, half.stderr);
      const emptied = await cli(['status', '--url', 'pglite:emptied'], cwd);
      assert.equal(emptied.code, 0, emptied.stderr);
      assert.match(emptied.stderr, /pglite:emptied holds no database yet/);
      assert.match(half.stderr, /pglite:half holds no database yet \(its creation was cut short, or its files were removed\): showing an empty database, and nothing was created\. pgpair up creates it\./);
      assert.deepEqual(tree(cwd), before);
    });
  });

  describe('creating a database', { concurrency: 1 }, () => {
    it('up makes the directory (~ expanded, trailing slash) and its marker; an empty directory is claimed', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'home/.profile': 'mine\n' });
      const home = join(cwd, 'home');
      const up = await cli(['up', '--url', 'pglite:~/dbs/dev/'], cwd, { HOME: home });
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stdout, /^applied 0001_t/m);
      assert.equal(existsSync(join(cwd, '~')), false, 'no directory named ~');
      const dir = join(home, 'dbs', 'dev');
      const marker = readMarker(dir);
      const here = statSync(dir, { bigint: true });
      assert.deepEqual({ ...marker, id: typeof marker.id, createdAt: typeof marker.createdAt }, {
        format: 'pgpair-pglite', id: 'string', createdBy: 'pgpair 0.1.0', createdAt: 'string', state: 'ready', device: here.dev.toString(), inode: here.ino.toString(),
      });
      const { PGLITE_MAJOR } = await import('../../lib/db/pglite/directory.js');
      assert.equal(readFileSync(join(dir, 'PG_VERSION'), 'utf8').trim(), PGLITE_MAJOR, 'PGLITE_MAJOR matches the bundled PGlite');
      assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.pgpair')), [MARKER], 'no temporary marker left');
      assert.equal(readFileSync(join(home, '.profile'), 'utf8'), 'mine\n');
      mkdirSync(join(cwd, 'empty'));
      const claimed = await cli(['up', '--url', 'pglite:empty'], cwd);
      assert.equal(claimed.code, 0, claimed.stderr);
      assert.equal(readMarker(join(cwd, 'empty')).state, 'ready');
      assert.deepEqual(await appliedVersions(join(cwd, 'empty')), ['0001']);
    });

    it('a creation cut short (marker still "creating") is cleared and made again by up', async () => {
      const cwd = workdir({ ...MIGRATIONS, 'db/global/pg_control': 'cut short', 'db/pg_wal/000000010000000000000001': 'wal' });
      writeProvenMarker(join(cwd, 'db'), 'creating');
      const r = await cli(['up', '--url', 'pglite:db'], cwd);
      assert.equal(r.code, 0, r.stderr);
      assert.notEqual(readFileSync(join(cwd, 'db', 'global', 'pg_control'), 'utf8').slice(0, 9), 'cut short');
      assert.equal(readMarker(join(cwd, 'db')).state, 'ready');
      assert.equal(readMarker(join(cwd, 'db')).id, '4b0c3f0e-5b7c-4a53-9a8e-1d1d5d1f2a10', 'the same database, finished');
      assert.deepEqual(await appliedVersions(join(cwd, 'db')), ['0001']);
      // Emptied by rm -rf db/* (which keeps the dotfile marker): made again too.
      for (const name of readdirSync(join(cwd, 'db'))) if (name !== MARKER) rmSync(join(cwd, 'db', name), { recursive: true });
      const again = await cli(['up', '--url', 'pglite:db'], cwd);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(await appliedVersions(join(cwd, 'db')), ['0001']);
    });

    it('SIGKILL during the creation, twice, then up: the database is created and migrated', async () => {
      const cwd = workdir(MIGRATIONS);
      const dir = join(cwd, '.pgpair', 'dev');
      const killWhen = async (what: string, ready: () => boolean) => {
        const victim = startCli(['up'], { cwd, timeoutMs: 90_000 });
        await until(what, ready);
        victim.child.kill('SIGKILL');
        await victim.exited;
        return readMarker(dir).state;
      };
      // Before PGlite has written anything: what is left is pgpair's marker, still "creating".
      assert.equal(await killWhen('the marker is written', () => existsSync(join(dir, MARKER))), 'creating');
      assert.deepEqual(readdirSync(dir), [MARKER]);
      // While PGlite copies the new database in (or, on a fast machine, just after it finished and the marker said so).
      const second = await killWhen('PGlite writes into the directory', () => readdirSync(dir).some((n) => !n.startsWith('.pgpair')));
      assert.ok(second === 'creating' || second === 'ready', second);
      const status = await cli(['status'], cwd);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stderr, /holds no database yet/);
      const up = await cli(['up'], cwd);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(readMarker(dir).state, 'ready');
      assert.deepEqual(await appliedVersions(dir), ['0001']);
    });

    it('two up processes racing to create the same new directory: one creates it, the other is refused or finds it made', async () => {
      const cwd = workdir(MIGRATIONS);
      const [a, b] = await Promise.all([cli(['up', '--url', 'pglite:db'], cwd), cli(['up', '--url', 'pglite:db'], cwd)]);
      for (const r of [a, b]) {
        if (r.code !== 0) {
          assert.equal(r.code, 1, r.stderr);
          assert.match(r.stderr, /is in use by another process \(pid \d+\)/);
        }
      }
      assert.ok(a.code === 0 || b.code === 0, `${a.stderr}\n${b.stderr}`);
      assert.equal(readMarker(join(cwd, 'db')).state, 'ready');
      assert.deepEqual(await appliedVersions(join(cwd, 'db')), ['0001']);
      assert.deepEqual(readdirSync(cwd).sort(), ['db', 'sql'], 'no lock or temporary file left');
    });
  });

  describe('databases pgpair cannot prove it made', { concurrency: 1 }, () => {
    it('one made by an earlier pgpair (no marker, a crash\'s postmaster.pid) is opened and migrated, never marked or cleared', async () => {
      const cwd = workdir(MIGRATIONS);
      const dir = join(cwd, 'legacy');
      cpSync(template, dir, { recursive: true });
      rmSync(join(dir, MARKER));
      // What PGlite leaves when its process is killed.
      writeFileSync(join(dir, 'postmaster.pid'), '-42\n/pglite/data\n1796283110\n5432\n\n\n       20         1\n');
      const status = await cli(['status', '--url', 'pglite:legacy'], cwd);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /0001 +t +pending/);
      const up = await cli(['up', '--url', 'pglite:legacy'], cwd);
      assert.equal(up.code, 0, up.stderr);
      assert.deepEqual(await appliedVersions(dir), ['0001']);
      assert.equal(existsSync(join(dir, MARKER)), false, 'pgpair does not claim a directory it did not make');
    });
  });
});
