/**
 * `pgpair test` on several servers (--url repeated, --targets FILE): a scratch database on each,
 * every server tested, one block per server, the worst exit code; bad target lists refused (exit 2).
 * The suite has one server, so two of its databases stand for two servers.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../helpers/cli.js';
import { connectTo, scratchDatabase, testServerUrl, urlFor, type Scratch } from '../helpers/db.js';

const BROKEN = {
  'sql/0001_a.up.sql': 'CREATE TABLE a (x int);\n',
  'sql/0001_a.down.sql': 'DROP TABLE a;\n',
  'sql/0002_b.up.sql': 'CREATE TABLE b (x int);\nCREATE INDEX b_x ON b (x);\n',
  'sql/0002_b.down.sql': 'DROP INDEX b_x;\n',
};

let other: Scratch;
before(async () => {
  other = await scratchDatabase('pgpair_tf');
});
after(async () => other.drop());

const password = new URL(testServerUrl()).password;
const scratchLeft = async () => {
  const admin = connectTo(testServerUrl());
  try {
    return (await admin.unsafe(`SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'pgpair_test_%'`))[0]!.n as number;
  } finally {
    await admin.end();
  }
};

describe('pgpair test on several servers', () => {
  it('tests on each: one block per server naming the broken down, a summary line each, exit 3; no scratch database left', async () => {
    const cwd = workdir(BROKEN);
    const before = await scratchLeft();
    const r = await runCli(['test', '--url', urlFor('postgres'), '--url', other.url], { cwd });
    assert.equal(r.code, 3, r.stderr);
    const blocks = r.stdout.split(/^== /m).filter((b) => b.trim() !== '');
    assert.equal(blocks.length, 2, r.stdout);
    for (const block of blocks) {
      assert.match(block, /^ok +0001 a /m);
      assert.match(block, /^FAILED +0002 b$/m);
      assert.match(block, /table public\.b is present in the schema after down, missing in the schema before up/);
    }
    assert.match(r.stdout, new RegExp(`/${other.name}: 2 migrations tested on .*: 1 ok, 1 failed`));
    if (password) assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'the password is never printed');
    assert.equal(await scratchLeft(), before);
  });

  it('a server that refuses connections: the others are still tested, the error is on stderr, exit 1; --json holds both', async () => {
    const cwd = workdir(BROKEN);
    const file = join(cwd, 'servers.txt');
    writeFileSync(file, `# two servers\n${urlFor('postgres')}\n\npostgres://nobody@127.0.0.1:1/x\n`);
    const r = await runCli(['test', '--targets', file, '--json'], { cwd });
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, false);
    assert.equal(doc.exitCode, 1);
    assert.deepEqual(doc.servers.map((s: { exitCode: number; result: string }) => [s.exitCode, s.result]), [[3, 'failed'], [1, 'error']]);
    assert.equal(doc.servers[0].test.migrations[1].outcome, 'failed');
    assert.equal(doc.servers[1].error.code, 'E_CONNECTION');
    assert.match(r.stderr, /error: postgres:\/\/nobody@127\.0\.0\.1:1\/x: /);
  });

  it('a correct set passes on both (exit 0); a server named twice, a pglite target or --url with --targets is exit 2', async () => {
    const cwd = workdir({ 'sql/0001_a.up.sql': 'CREATE TABLE a (x int);\n', 'sql/0001_a.down.sql': 'DROP TABLE a;\n' });
    const ok = await runCli(['test', '--url', urlFor('postgres'), '--url', other.url, '--parallel', '1'], { cwd });
    assert.equal(ok.code, 0, ok.stderr);
    // Each server's block ends with its summary, and the run ends with one summary line per server.
    assert.equal((ok.stdout.match(/^1 migration tested on .*every down undoes its up$/gm) ?? []).length, 2, ok.stdout);
    assert.equal((ok.stdout.match(/^postgres:\/\/\S+: 1 migration tested on .*every down undoes its up$/gm) ?? []).length, 2, ok.stdout);
    const twice = await runCli(['test', '--url', other.url, '--url', other.url], { cwd });
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /is named twice/);
    // The same server spelled another way (a connection option added) is the same server.
    const respelled = await runCli(['test', '--url', other.url, '--url', `${other.url}?sslmode=disable`], { cwd });
    assert.equal(respelled.code, 2, respelled.stderr);
    assert.match(respelled.stderr, /is named twice/);
    const pglite = await runCli(['test', '--url', other.url, '--url', 'pglite:memory'], { cwd });
    assert.equal(pglite.code, 2);
    assert.match(pglite.stderr, /pglite:memory is not one/);
    const file = join(cwd, 'servers.txt');
    writeFileSync(file, `${other.url}\n`);
    const both = await runCli(['test', '--url', other.url, '--url', urlFor('postgres'), '--targets', file], { cwd });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /either as repeated --url or as --targets FILE/);
  });
});
