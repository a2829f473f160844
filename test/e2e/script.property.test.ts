/**
 * Property: whatever the names, paths, table names, history rows and file contents hold, a `--sql`
 * script run by the real psql (`psql -X -v ON_ERROR_STOP=1 -f`) runs no meta-command but
 * pgpair's own, exits 0, and leaves the database where a pgpair run of the same request leaves
 * another one.
 *
 * Every hostile text carries a meta-command aimed at psql's working directory (`\! touch pwned`,
 * `\o pwned-o`, `\w pwned-w`, `\copy … to 'pwned-c'`, `\i pwned-i`): if psql ever ran one, a
 * file would appear there (or psql would fail reading a missing file). Deterministic: a fixed
 * seed (PGPAIR_SCRIPT_PROPERTY_SEED to try another), printed with every failure.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import * as pgpair from '../../lib/index.js';
import { quoteIdent, quoteLiteral } from '../../lib/core/ident.js';
import { workdir } from '../helpers/cli.js';
import { scratchDatabase, type Scratch, type Sql } from '../helpers/db.js';
import { needPsql, runPsql } from '../helpers/psql.js';

const SEED = Number(process.env.PGPAIR_SCRIPT_PROPERTY_SEED ?? 20261203);
const RUNS = Number(process.env.PGPAIR_SCRIPT_PROPERTY_RUNS ?? 40);

/** Meta-commands that leave a trace in psql's working directory (or fail) when psql runs them. */
const PAYLOADS = ['\\! touch pwned', '\\o pwned-o', '\\w pwned-w', "\\copy (SELECT 1) TO 'pwned-c'", '\\i pwned-i', '\\! touch pwned #', '\\gexec \\! touch pwned'];

/** Pieces that have broken a quoting or a comment somewhere: line breaks, quotes, dollar tags, psql variables. */
const PIECES = [
  '\n', '\r', '\r\n', '\u2028', '\t', '\\', "'", "''", '"', '$', '$1', '$$', '$pgpair$', '$pgpair_check$', '$pgpair1$', ';', '--', '/*', '*/',
  ':', ":'pgpair_history_schema'", ':"pgpair_history_schema"', ':pgpair_history_schema', '%', '%I', "E'", "U&'", '.', ' ', 'é', '✓', '🐘', '\x07', '\x7f',
];

const hostileText = (maxPieces: number) =>
  fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.constantFrom(...PAYLOADS), fc.stringMatching(/^[a-z0-9_]{1,4}$/)), { minLength: 1, maxLength: maxPieces }).map((parts) => parts.join(''));

/** A slug files.ts accepts: no whitespace, '/' or '\' (a name that breaks that rule is refused before any script is made). */
const hostileSlug = fc
  .array(fc.constantFrom("'", '"', '$', '$pgpair$', '$pgpair_check$', ';', '--', '*', ':', "E'", 'é', '✓', '%', '$1', 'x', 'ab', '_', '.', '-'), { minLength: 1, maxLength: 6 })
  .map((parts) => `s${parts.join('')}`);

const byteLength = (text: string) => Buffer.byteLength(text);

/** A --table value: a quoted name, sometimes with a quoted schema; short enough that PostgreSQL keeps every derived name whole. */
const hostileTable = fc
  .tuple(hostileText(5), fc.option(hostileText(3), { nil: undefined }))
  .filter(([name, schema]) => byteLength(name) <= 36 && (schema === undefined || byteLength(schema) <= 40))
  .map(([name, schema]) => ({ name, schema }));

/** A directory name: anything but '/' and NUL. */
const hostileDir = hostileText(5).map((text) => `d${text.replace(/\//g, '_')}`);

/** A statement that holds `payload` where psql reads it as data: a string, a dollar quote, a comment, an identifier, COPY data. */
function statementsHolding(payload: string, table: string, kind: number, column: string): string {
  const literal = quoteLiteral(payload);
  let tag = 'body';
  while (`${payload}$${tag}$`.indexOf(`$${tag}$`) !== payload.length) tag += 'x';
  const dollar = `$${tag}$${payload}$${tag}$`;
  let commented = payload;
  while (/\*\/|\/\*/.test(commented)) commented = commented.replace(/\*\/|\/\*/g, '');
  const oneLine = payload.replace(/[\r\n]/g, ' ');
  const copyLine = payload.replace(/[\r\n\t\\]/g, ' ');
  switch (kind % 6) {
    case 0:
      return `INSERT INTO ${table} VALUES (${literal});\n`;
    case 1:
      return `INSERT INTO ${table} VALUES (${dollar});\n`;
    case 2:
      return `-- ${oneLine}\nINSERT INTO ${table} VALUES ('after a comment'); -- ${oneLine}\n`;
    case 3:
      return `/* ${commented} */\nINSERT INTO ${table} VALUES ('after a block comment');\n`;
    case 4:
      return `ALTER TABLE ${table} ADD COLUMN ${quoteIdent(`${column}${payload.slice(0, 30)}`)} text;\n`;
    default:
      return `COPY ${table} (v) FROM stdin;\n${copyLine === '\\.' ? 'x' : copyLine}\n\\.\n`;
  }
}

interface Case {
  table: { name: string; schema: string | undefined };
  dir: string;
  slugs: [string, string];
  payloads: [string, string, string];
  kinds: [number, number, number];
  mode: 'from' | 'connected' | 'history' | 'down';
  downFromFiles: boolean;
  outside: boolean;
  rowName: string;
  rowLabel: string;
  rowChecksum: string;
}

const cases: fc.Arbitrary<Case> = fc.record({
  table: hostileTable,
  dir: hostileDir,
  slugs: fc.tuple(hostileSlug, hostileSlug),
  payloads: fc.tuple(hostileText(6), hostileText(6), hostileText(6)),
  kinds: fc.tuple(fc.nat(5), fc.nat(5), fc.nat(5)),
  mode: fc.constantFrom('from', 'connected', 'history', 'down'),
  downFromFiles: fc.boolean(),
  outside: fc.boolean(),
  rowName: hostileText(6),
  rowLabel: hostileText(3).map((text) => `9${text}`),
  rowChecksum: hostileText(6),
});

/** Every user table's rows and columns, and pgpair's history and log for `history` (times, users and how left out). */
async function endState(sql: Sql, history: string): Promise<unknown> {
  const tables = await sql.unsafe(
    `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename LIKE 'prop\\_%' ORDER BY 1`,
  );
  const data: Record<string, unknown> = {};
  for (const { name } of tables) {
    data[String(name)] = (await sql.unsafe(`SELECT coalesce(json_agg(t ORDER BY t::text), '[]') AS rows FROM ${String(name)} t`))[0]!.rows;
  }
  const log = history.replace(/"$/, '_log"');
  const rows = await sql.unsafe(`SELECT version, version_label, name, up_checksum, down_checksum, state, transactional, statements_done, statements_total, error FROM ${history} ORDER BY version COLLATE "C"`);
  const entries = await sql.unsafe(`SELECT action, version, name, checksum, detail FROM ${log} ORDER BY id`);
  return JSON.parse(JSON.stringify({ data, rows, entries })) as unknown;
}

describe('--sql scripts under hostile names, paths, history rows and file contents (property, real psql)', () => {
  let scripted: Scratch;
  let direct: Scratch;
  before(async () => {
    [scripted, direct] = await Promise.all([scratchDatabase('script_safety_p'), scratchDatabase('script_safety_p')]);
  });
  after(async () => {
    await Promise.all([scripted.drop(), direct.drop()]);
  });

  it(`runs nothing but pgpair's own meta-commands and ends where a pgpair run ends (seed ${SEED}, ${RUNS} runs)`, async (t) => {
    if (!needPsql(t)) return;
    let run = 0;
    const seen = { from: 0, connected: 0, history: 0, down: 0, outside: 0 };
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        run++;
        const label = `seed ${SEED}, run ${run}: ${JSON.stringify(c)}`;
        const prefix = `prop_${run}_${Math.floor(Math.random() * 1e9).toString(36)}`;
        const cwd = workdir();
        const dir = join(cwd, c.dir);
        mkdirSync(dir);
        const table = quoteIdent(`${prefix}_t`);
        const files: Record<string, string> = {
          [`0001_${c.slugs[0]}.up.sql`]: `CREATE TABLE ${table} (v text);\n${statementsHolding(c.payloads[0], table, c.kinds[0], 'a')}`,
          [`0001_${c.slugs[0]}.down.sql`]: `DROP TABLE ${table};\n`,
          [`0002_${c.slugs[1]}.up.sql`]: `${c.outside ? '-- pgpair:no-transaction\n' : ''}${statementsHolding(c.payloads[1], table, c.kinds[1], 'b')}${statementsHolding(c.payloads[2], table, c.kinds[2], 'c')}`,
          [`0002_${c.slugs[1]}.down.sql`]: `${c.outside ? '-- pgpair:no-transaction\n' : ''}${statementsHolding(c.payloads[2], table, c.kinds[2], 'd')}`,
        };
        for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
        // A table of its own per run, so that runs on the same two databases never share a history.
        const history = { schema: c.table.schema, name: `${c.table.name}${run}` };
        const option = `${history.schema === undefined ? '' : `${quoteIdent(history.schema)}.`}${quoteIdent(history.name)}`;
        const qualified = `${quoteIdent(history.schema ?? 'public')}.${quoteIdent(history.name)}`;
        seen[c.mode]++;
        if (c.outside) seen.outside++;

        let generated: pgpair.ScriptResult;
        if (c.mode === 'history') {
          // Rows read from the database: 0001 applied, its name and a version only the history knows, both hostile.
          for (const db of [scripted, direct]) {
            await pgpair.up({ url: db.url, dir, table: option, target: '0001', createSchema: true });
            await db.sql.unsafe(`UPDATE ${qualified} SET name = $1 WHERE version = '1'`, [c.rowName]);
            await db.sql.unsafe(`INSERT INTO ${qualified} (version, version_label, name, up_checksum, how, state, pgpair_version) VALUES ('900', $1, $2, $3, 'stamped', 'ok', '0')`, [c.rowLabel, c.rowName, c.rowChecksum]);
          }
          generated = await pgpair.script({ command: 'stamp', target: 'base', url: scripted.url, dir, table: option, request: `pgpair stamp base --table ${option} --dir ${c.dir} --sql` });
          await pgpair.stamp({ url: direct.url, dir, table: option, target: 'base', createSchema: true });
        } else if (c.mode === 'down') {
          for (const db of [scripted, direct]) await pgpair.up({ url: db.url, dir, table: option, createSchema: true });
          generated = await pgpair.script({
            command: 'down',
            target: 'base',
            dir,
            table: option,
            ...(c.downFromFiles ? { from: '0002' } : { url: scripted.url }),
            request: `pgpair down base --table ${option} --dir ${c.dir} --sql${c.downFromFiles ? ' --from 0002' : ''}`,
          });
          await pgpair.down({ url: direct.url, dir, table: option, target: 'base' });
        } else {
          generated = await pgpair.script({
            command: 'up',
            dir,
            table: option,
            createSchema: true,
            ...(c.mode === 'from' ? { from: 'base' } : { url: scripted.url }),
            request: `pgpair up --table ${option} --dir ${c.dir} --create-schema --sql${c.mode === 'from' ? ' --from base' : ''}`,
          });
          await pgpair.up({ url: direct.url, dir, table: option, createSchema: true });
        }
        const ran = await runPsql(scripted.url, generated.text);
        assert.deepEqual(ran.appeared, [], `${label}\npsql ran a meta-command that wrote a file\n${ran.stderr}\n--- script ---\n${generated.text}`);
        assert.equal(ran.code, 0, `${label}\npsql failed\n${ran.stderr}\n--- script ---\n${generated.text}`);
        assert.doesNotMatch(ran.stderr, /invalid command|No such file|touch:|ERROR/, `${label}\n${ran.stderr}`);
        assert.deepEqual(await endState(scripted.sql, qualified), await endState(direct.sql, qualified), `${label}\nthe script and the run disagree\n--- script ---\n${generated.text}`);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    t.diagnostic(`seed ${SEED}: ${run} runs (${seen.from} up --from, ${seen.connected} up from the database, ${seen.history} stamp with hostile history rows, ${seen.down} down; ${seen.outside} with a no-transaction file)`);
    assert.ok(seen.from > 0 && seen.connected > 0 && seen.history > 0 && seen.down > 0 && seen.outside > 0, 'every kind of script was tried');
  });
});
