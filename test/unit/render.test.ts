/** The --sql renderer, without a database: plans built from inline files and history rows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirectoryError } from '../../lib/core/errors.js';
import { parseMigrationDirectory, type Migration } from '../../lib/core/files.js';
import { historyTables, historyValues, insertHistorySql, type HistoryRow } from '../../lib/core/history.js';
import { MAX_TABLE_NAME_BYTES, parseTableName, quoteLiteral } from '../../lib/core/ident.js';
import { dollarQuote, SqlExpression } from '../../lib/core/literal.js';
import { LOCK_KEY_SQL } from '../../lib/run/lock.js';
import { PGPAIR_VERSION } from '../../lib/core/meta.js';
import { planDown, planStamp, planUp, type Plan } from '../../lib/core/plan.js';
import { commentText, inlineParams, lockKeySql, renderScript, sqlLiteral, type RenderInput } from '../../lib/core/render.js';
import { beforeCommitGuardSql, lockGuardSql, markTransactionSql, restoreSessionSql } from '../../lib/core/session-state.js';
import { splitStatements } from '../../lib/core/lexer.js';
import { computeStatus } from '../../lib/core/status.js';
import { historyRowOf } from '../helpers/history-row.js';

function migrations(files: Record<string, string>): Migration[] {
  return parseMigrationDirectory('sql', Object.entries(files).map(([name, text]) => ({ name, text }))).migrations;
}

const recorded = (m: Migration, how: HistoryRow['how'] = 'executed'): HistoryRow => historyRowOf(m, { how });

const FILES = {
  '0001_create_users.up.sql': '-- The users.\nCREATE TABLE users (id int PRIMARY KEY, name text);\n',
  '0001_create_users.down.sql': 'DROP TABLE users;\n',
  "0002_it's_copy.up.sql": "COPY users (id, name) FROM stdin;\n1\tO'Brien\n2\tback\\\\slash\n\\.\nUPDATE users SET name = 'x' WHERE id = 2",
  "0002_it's_copy.down.sql": 'DELETE FROM users;\n',
  '0003_index.up.sql': '-- Not in a transaction.\nCREATE INDEX CONCURRENTLY users_name ON users (name);\nANALYZE users;\n',
  '0003_index.down.sql': '-- pgpair:no-transaction\nDROP INDEX CONCURRENTLY users_name;\n',
};

const tables = historyTables({ schema: null, name: 'pgpair_history' }, 'public');

function render(plan: Plan, rows: HistoryRow[], extra: Partial<RenderInput> = {}): string {
  return renderScript({
    plan,
    tables,
    history: { rows, assumed: false, tableExists: rows.length > 0 },
    generatedAt: new Date('2024-06-05T12:00:00Z'),
    source: 'read from postgres://db/app',
    request: 'pgpair up --sql',
    lockTimeoutMs: 60_000,
    ...extra,
  });
}

/** Index of a line (or fragment) in the script; fails when missing. */
function at(text: string, fragment: string, from = 0): number {
  const index = text.indexOf(fragment, from);
  assert.notEqual(index, -1, `missing ${JSON.stringify(fragment)} in\n${text}`);
  return index;
}

describe('literals', () => {
  it('writes values as SQL literals and leaves server-side expressions as written', () => {
    assert.equal(sqlLiteral(null), 'NULL');
    assert.equal(sqlLiteral(undefined), 'NULL');
    assert.equal(sqlLiteral(true), 'true');
    assert.equal(sqlLiteral(12), '12');
    assert.equal(sqlLiteral("it's"), "'it''s'");
    assert.equal(sqlLiteral('a\\b'), "E'a\\\\b'");
    assert.equal(sqlLiteral(new SqlExpression('now()')), 'now()');
    assert.throws(() => sqlLiteral({}), /cannot write/);
    assert.throws(() => sqlLiteral(Number.NaN), /cannot write/);
  });

  it('inlines $1…$13 without mistaking $1 for the start of $10', () => {
    const [m] = migrations({ "0007_o'neil.up.sql": 'select 1;' });
    const text = inlineParams(insertHistorySql(tables), historyValues(m!, 'script', { durationMs: 5 }));
    assert.match(text, /^INSERT INTO "public"\."pgpair_history" \(version, /);
    assert.ok(text.endsWith(`VALUES ('7', '0007', 'o''neil', '${m!.up.checksum}', NULL, 'script', 'ok', true, NULL, NULL, NULL, 5, '${PGPAIR_VERSION}');`), text);
    assert.throws(() => inlineParams('SELECT $2', [1]), /refers to \$2/);
  });

  it('computes the lock key with lib/lock.ts expression, from the current schema when it is not known', () => {
    assert.equal(lockKeySql(tables), LOCK_KEY_SQL.replace('$1', "'public.pgpair_history'"));
    const unknown = historyTables({ schema: null, name: 'hist' }, null);
    assert.equal(unknown.history, '"hist"');
    assert.equal(lockKeySql(unknown), "hashtextextended('pgpair:' || current_database() || ':' || current_setting('pgpair.history_schema') || '.hist', 0)");
    // A name that holds what String.replace reads in a replacement ($', $&) is written as it is.
    const odd = historyTables({ schema: "s$'", name: 'h$&' }, null);
    assert.equal(lockKeySql(odd), LOCK_KEY_SQL.split('$1').join(`'s$''.h$&'`));
  });
});

describe('renderScript', () => {
  const all = migrations(FILES);
  const empty = computeStatus(all, []);

  it('orders the script: header, ON_ERROR_STOP, lock, history check, history table, then each step, then unlock', () => {
    const text = render(planUp(empty), []);
    assert.ok(text.startsWith(`-- ${'-'.repeat(76)}\n-- pgpair up: from base to 0003 (apply 3 migrations).\n-- Generated 2024-06-05T12:00:00.000Z by pgpair ${PGPAIR_VERSION} (pgpair up --sql).\n-- Starting state: read from postgres://db/app.\n`), text);
    const order = [
      '--   up 0001_create_users  sql/0001_create_users.up.sql (in a transaction)',
      '--   up 0003_index  sql/0003_index.up.sql (outside a transaction: line 2: CREATE INDEX CONCURRENTLY cannot run inside a transaction block)',
      '\\set ON_ERROR_STOP on\n',
      `SET lock_timeout = '60000ms';\nSELECT pg_advisory_lock(${lockKeySql(tables)});\nRESET lock_timeout;`,
      'DO $pgpair_check$',
      "expected text[] := '{}'::text[];",
      'CREATE TABLE IF NOT EXISTS "public"."pgpair_history"',
      '-- up 0001_create_users: sql/0001_create_users.up.sql',
      "-- up 0002_it's_copy: sql/0002_it's_copy.up.sql",
      '-- up 0003_index: sql/0003_index.up.sql',
      `SELECT pg_advisory_unlock(${lockKeySql(tables)});`,
    ];
    let cursor = 0;
    for (const fragment of order) cursor = at(text, fragment, cursor) + fragment.length;
    assert.equal(render(planUp(empty), []), text, 'the same input renders the same text');
  });

  it('wraps a transactional migration with its history row and log entry in BEGIN/COMMIT, with file:line markers and its comments', () => {
    const text = render(planUp(empty, { target: { version: '0001' } }), []);
    const step = text.slice(at(text, '-- up 0001_create_users'));
    assert.match(
      step,
      /^-- up 0001_create_users: sql\/0001_create_users\.up\.sql\n-- Runs in one transaction.*\nBEGIN;\nSELECT txid_current\(\) AS pgpair_xid \\gset\nSELECT set_config\('lock_timeout', '5000ms', true\);\n-- lock_timeout 5000ms \(--migration-lock-timeout, default 5s\): a statement that waits longer for a lock fails, and\n-- the script stops\. pgpair up retries such a migration \(--lock-retries\); psql cannot: run the script again\.\n\n-- The users\.\n-- sql\/0001_create_users\.up\.sql:2\nCREATE TABLE users \(id int PRIMARY KEY, name text\);\n\n(-- .*\n){2}SELECT set_config\('pgpair\.transaction', :'pgpair_xid', true\);\nDO \$pgpair\$[\s\S]*?\$pgpair\$;\nSET SESSION AUTHORIZATION DEFAULT; RESET ALL; SELECT set_config\('client_encoding', 'UTF8', false\); RESET ROLE;\nINSERT INTO "public"\."pgpair_history" .*\n.*\nVALUES \('1', '0001', 'create_users', 'sha256:[0-9a-f]{64}', 'sha256:[0-9a-f]{64}', 'script', 'ok', true, NULL, NULL, NULL, \(1000 \* extract\(epoch FROM clock_timestamp\(\) - transaction_timestamp\(\)\)\)::integer, '[0-9.]+'\);\nINSERT INTO "public"\."pgpair_history_log" .*\nVALUES \('up', '0001', 'create_users', 'sha256:[0-9a-f]{64}', 'script', .*, NULL, '[0-9.]+'\);\nCOMMIT;\n/,
    );
  });

  it('writes COPY data as psql expects it and ends a last statement without a semicolon', () => {
    const text = render(planUp(empty, { target: { version: '0002' } }), []);
    assert.ok(text.includes("-- sql/0002_it's_copy.up.sql:1\nCOPY users (id, name) FROM stdin;\n1\tO'Brien\n2\tback\\\\slash\n\\.\n\n-- sql/0002_it's_copy.up.sql:5\nUPDATE users SET name = 'x' WHERE id = 2;\n"), text);
    assert.ok(text.includes("VALUES ('2', '0002', 'it''s_copy', "), 'the slug is a literal');
  });

  it('runs a non-transactional migration outside any transaction, recording its progress, and says why', () => {
    const twoApplied = computeStatus(all, all.slice(0, 2).map((m) => recorded(m)));
    const text = render(planUp(twoApplied), all.slice(0, 2).map((m) => recorded(m)));
    assert.doesNotMatch(text, /CREATE TABLE IF NOT EXISTS/, 'the history table exists');
    const step = text.slice(at(text, '-- up 0003_index:'));
    assert.match(step, /^-- up 0003_index: sql\/0003_index\.up\.sql\n-- Runs outside any transaction, statement by statement, because line 2: CREATE INDEX CONCURRENTLY cannot run inside a transaction block\./);
    const running = at(step, "'script', 'running', false, 0, 2, NULL, NULL,");
    const lockCheck = lockGuardSql(lockKeySql(tables));
    const create = at(step, `-- sql/0003_index.up.sql:2\nCREATE INDEX CONCURRENTLY users_name ON users (name);\n${lockCheck}`);
    const progress1 = at(step, `$pgpair$;\nUPDATE "public"."pgpair_history" SET statements_done = 1 WHERE version = '3';`, create);
    const analyze = at(step, `-- sql/0003_index.up.sql:3\nANALYZE users;\n${lockCheck}`, progress1);
    at(step, `$pgpair$;\nUPDATE "public"."pgpair_history" SET statements_done = 2 WHERE version = '3';`, analyze);
    const restore = at(step, "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; SELECT set_config('client_encoding', 'UTF8', false); RESET ROLE;\n-- Done: record it.", analyze);
    const done = at(step, "BEGIN;\nUPDATE \"public\".\"pgpair_history\" SET state = 'ok', statements_done = 2, duration_ms = (1000 * extract(epoch FROM clock_timestamp() - applied_at))::integer WHERE version = '3';");
    assert.ok(running < create && create < analyze && analyze < restore && restore < done);
    assert.doesNotMatch(step.slice(0, done), /pgpair\.transaction/, 'no transaction marker outside a transaction');
    assert.equal(step.slice(0, done).includes('BEGIN;'), false, 'no BEGIN before the statements');
    assert.match(step, /VALUES \('up', '0003', 'index', 'sha256:[0-9a-f]{64}', 'script', NULL, 'line 2: CREATE INDEX CONCURRENTLY cannot run inside a transaction block', /);
  });

  it('reverts with the down files, deleting history rows; expects the recorded rows in version order', () => {
    const rows = all.map((m) => recorded(m));
    const text = render(planDown(computeStatus(all, rows), { target: 'base' }), rows, { request: 'pgpair down base --sql' });
    assert.match(text, /-- pgpair down: from 0003 to base \(revert 3 migrations\)\./);
    const order = ["UPDATE \"public\".\"pgpair_history\" SET state = 'running', statements_done = 0, statements_total = 1, error = NULL WHERE version = '3';", 'DROP INDEX CONCURRENTLY users_name;', "DELETE FROM \"public\".\"pgpair_history\" WHERE version = '3';", '-- down 0002', 'DELETE FROM users;', "DELETE FROM \"public\".\"pgpair_history\" WHERE version = '2';", '-- down 0001', 'DROP TABLE users;'];
    let cursor = 0;
    for (const fragment of order) cursor = at(text, fragment, cursor);
    assert.ok(text.includes(`expected text[] := ARRAY[\n    '1 ok ${all[0]!.up.checksum}',\n    '2 ok ${all[1]!.up.checksum}',\n    '3 ok ${all[2]!.up.checksum}'\n  ]::text[];`), text);
    assert.ok(text.includes('generate a new script (pgpair down base --sql)'));
  });

  it('sorts the expected versions as the database does (COLLATE "C"), not numerically', () => {
    const many = migrations({ '1_a.up.sql': '', '2_b.up.sql': '', '10_c.up.sql': '' });
    const rows = many.map((m) => recorded(m));
    const text = render(planUp(computeStatus(many, rows)), rows);
    assert.match(text, /ARRAY\[\n {4}'1 ok [^']+',\n {4}'10 ok [^']+',\n {4}'2 ok [^']+'\n {2}\]/);
  });

  it('stamps rows only, in one transaction, in the three statements a run sends; an unstamp reads how its row was recorded from the row', () => {
    // Changed on purpose: a script stamps as a run does (lib/core/program.ts), no longer one INSERT per row.
    const rows = all.slice(0, 3).map((m) => recorded(m, 'stamped'));
    const down = planStamp(computeStatus(all, rows), { version: '0001' });
    const known = render(down, rows);
    assert.match(known, /-- pgpair stamp: from 0003 to 0001 \(unstamp 2 versions\)\./);
    assert.match(known, /-- unstamp 0003_index: removed from the history; nothing of it is reverted\.\n-- unstamp 0002_it's_copy: /);
    const log = at(known, 'INSERT INTO "public"."pgpair_history_log" (action, version, name, checksum, how, duration_ms, detail, pgpair_version)\nSELECT r->>0, r->>1, r->>2, r->>3, coalesce(r->>4, (SELECT h.how FROM "public"."pgpair_history" h WHERE h.version = r->>8))');
    assert.match(known, new RegExp(`\\[\\["unstamp","0003","index","${all[2]!.up.checksum}",null,null,null,"[0-9.]+","3"\\],\\["unstamp","0002","it''s_copy",`));
    const removed = at(known, `DELETE FROM "public"."pgpair_history" WHERE version IN (SELECT json_array_elements_text('["3","2"]'::text::json));`);
    assert.ok(log < removed, 'the log entries read the rows before they go');
    const steps = (text: string) => text.slice(at(text, '-- Records rows only'));
    assert.doesNotMatch(steps(known), /stamped/, 'how is read from the rows, not written into the script');
    // Made without the database (--from), the script records the same.
    const assumed = renderScript({ ...inputFor(down, rows), history: { rows, assumed: true, tableExists: true } });
    assert.equal(steps(assumed), steps(renderScript(inputFor(down, rows))));

    const up = planStamp(empty, 'head');
    const text = render(up, []);
    assert.match(text, /-- pgpair stamp: from base to 0003 \(stamp 3 versions\)\./);
    assert.equal(text.match(/^BEGIN;$/gm)?.length, 2, 'one for the history table, one for all the stamps');
    assert.match(text, /-- stamp 0003_index: recorded as applied; sql\/0003_index\.up\.sql is not run\./);
    assert.match(text, new RegExp(`\\["3","0003","index","${all[2]!.up.checksum}","${all[2]!.down!.checksum}","stamped","ok",false,`));
    assert.equal(text.match(/^INSERT INTO /gm)?.length, 2, 'one statement for the log entries, one for the rows');
    assert.doesNotMatch(text, /CREATE INDEX/, 'no migration SQL in a stamp');
  });

  it('applies --statement-timeout and --migration-lock-timeout as the executor does', () => {
    const text = render(planUp(empty), [], { statementTimeoutMs: 30_000, migrationLockTimeoutMs: 5_000 });
    assert.match(text, /BEGIN;\nSELECT txid_current\(\) AS pgpair_xid \\gset\nSELECT set_config\('statement_timeout', '30000ms', true\);\nSELECT set_config\('lock_timeout', '5000ms', true\);\n/);
    assert.ok(text.includes("SELECT set_config('statement_timeout', '30000ms', false);\nSELECT set_config('lock_timeout', '5000ms', false);\n"));
    assert.ok(text.includes('RESET statement_timeout;\nRESET lock_timeout;\n-- The session goes back'));
  });

  it('refuses files the executor would refuse, listing every problem', () => {
    // Read without the content checks, which would refuse these files already (lib/files.ts), to reach the renderer's own.
    const bad = parseMigrationDirectory('sql', Object.entries({ '0001_a.up.sql': 'select 1;\n\\i other.sql\n', '0002_b.up.sql': "select 'unterminated;\n" }).map(([name, text]) => ({ name, text })), { checkContents: false }).migrations;
    const status = computeStatus(bad, []);
    assert.throws(() => render(planUp(status), []), (e: unknown) => e instanceof DirectoryError && e.problems.length === 2);
  });
});

/**
 * The plan with the first statement of the file at `path` read as `text`: stands for a statement
 * that pgpair's lexer and psql read differently.
 */
function withStatementText(plan: Plan, path: string, text: string): Plan {
  const steps = plan.steps.map((step) => {
    if ((step.action !== 'up' && step.action !== 'down') || step.file.path !== path) return step;
    const analysis = step.file.analysis;
    return { ...step, file: { ...step.file, analysis: { ...analysis, statements: [{ ...analysis.statements[0]!, text }, ...analysis.statements.slice(1)] } } };
  });
  return { ...plan, steps };
}

function inputFor(plan: Plan, rows: HistoryRow[]): RenderInput {
  return {
    plan,
    tables,
    history: { rows, assumed: false, tableExists: true },
    generatedAt: new Date('2024-06-05T12:00:00Z'),
    source: 'test',
    lockTimeoutMs: 1000,
  };
}

describe('text pgpair writes into a script', () => {
  const all = migrations(FILES);
  const empty = computeStatus(all, []);

  it('quoteLiteral: one printable line, an E literal with escapes for a backslash or any control character', () => {
    assert.equal(quoteLiteral('plain'), "'plain'");
    assert.equal(quoteLiteral("it's"), "'it''s'");
    assert.equal(quoteLiteral('a\\b'), "E'a\\\\b'");
    assert.equal(quoteLiteral("x\n\\! touch pwned\r'"), "E'x\\n\\\\! touch pwned\\r'''");
    assert.equal(quoteLiteral('\t\b\f\x01\x1f\x7f\x00'), "E'\\t\\b\\f\\x01\\x1f\\x7f\\x00'");
    assert.equal(quoteLiteral('zoë \u2028 ✓'), "'zoë \u2028 ✓'", 'Unicode as is: psql reads no meta-command in it');
    for (const value of ['a\nb', 'a\\', "'\\'", '\r\n', 'x\x0bz']) assert.doesNotMatch(quoteLiteral(value), /[\x00-\x1f\x7f]/, JSON.stringify(value));
  });

  it('dollarQuote: a tag that neither the body nor its end meeting the closing tag holds', () => {
    assert.equal(dollarQuote('SELECT 1'), '$pgpair$SELECT 1$pgpair$');
    assert.equal(dollarQuote('x $pgpair$ y'), '$pgpair1$x $pgpair$ y$pgpair1$');
    assert.equal(dollarQuote('ends in $pgpair'), '$pgpair1$ends in $pgpair$pgpair1$');
    assert.equal(dollarQuote('x', 'pgpair_check'), '$pgpair_check$x$pgpair_check$');
    assert.equal(dollarQuote('ends in $pgpair'), '$pgpair1$ends in $pgpair$pgpair1$');
  });

  it('commentText: a comment stays one line whatever it holds', () => {
    assert.equal(commentText('a\nb\rc\td\x07e\u2028f\u0085g'), 'a\\nb\\rc\\td\\x07e\\u2028f\\x85g');
    assert.equal(commentText('zoë ✓ $x$ \\ok'), 'zoë ✓ $x$ \\ok');
  });

  it('no line of the script starts a meta-command but its own, whatever the table name, directory, request and history rows hold', () => {
    const hostile = 'x\n\\! touch pwned\r\\o out\u2028';
    // A slug holds no whitespace, '/' or '\\' (files.ts), but quotes, dollars and comment marks.
    const odd = migrations({ "0001_x'$pgpair_check$;--*\"$1.up.sql": 'SELECT 1;\n-- a comment\n', "0001_x'$pgpair_check$;--*\"$1.down.sql": 'SELECT 2;\n' }).map((m) => ({
      ...m,
      up: { ...m.up, path: `dir${hostile}/${m.up.name}` },
    }));
    const rows = [{ ...recorded(odd[0]!), name: hostile, version: `1${hostile}`, upChecksum: `$pgpair_check$${hostile}` }];
    for (const table of [{ schema: null, name: hostile }, { schema: hostile, name: 'h' }]) {
      for (const from of [null, 'files'] as const) {
        const t = historyTables(table, from === null ? 'public' : null);
        const plans = [planUp(computeStatus(odd, [])), planStamp(computeStatus(odd, rows), 'base')];
        for (const plan of plans) {
          const text = renderScript({ ...inputFor(plan, plan.command === 'up' ? [] : rows), tables: t, source: `read from ${hostile}`, request: `pgpair up --table ${hostile}` });
          // A line may start with a backslash inside a quoted identifier (psql reads it as part of the name), never elsewhere.
          const lines = text.split('\n');
          const metaLines = splitStatements(text).problems.map((p) => lines[p.line - 1]!.slice(p.column - 1));
          // pgpair's own: ON_ERROR_STOP, the schema read at the start (--from without a schema), and each transaction's id read at its BEGIN.
          const ownXid = metaLines.filter((l) => l === '\\gset').length - (from === 'files' && table.schema === null ? 1 : 0);
          assert.equal(ownXid, (text.match(/^SELECT txid_current\(\) AS pgpair_xid \\gset$/gm) ?? []).length, text);
          assert.deepEqual([...new Set(metaLines)], ['\\set ON_ERROR_STOP on', ...(metaLines.includes('\\gset') ? ['\\gset'] : [])], text);
          for (const line of lines.filter((l) => l.startsWith('--'))) assert.doesNotMatch(line, /[\r\u2028]/, `a comment is one line: ${JSON.stringify(line)}`);
          assert.ok(lines.some((l) => l.startsWith('--') && l.includes('x\\n\\! touch pwned\\r\\o out\\u2028')), 'the names are shown, escaped');
        }
      }
    }
  });

  it('a --from script without a schema names every history and log table through the schema it resolves when it starts', () => {
    const t = historyTables({ schema: null, name: 'pgpair_history' }, null);
    const rows = all.slice(0, 1).map((m) => recorded(m));
    for (const plan of [planUp(empty), planDown(computeStatus(all, rows), { target: 'base' }), planStamp(computeStatus(all, rows), 'head')]) {
      const text = renderScript({ ...inputFor(plan, plan.command === 'up' ? [] : rows), tables: t, history: { rows: plan.command === 'up' ? [] : rows, assumed: true, tableExists: plan.command === 'up' ? null : true } });
      const resolved = at(text, 'SELECT current_schema() AS pgpair_history_schema \\gset\n');
      assert.ok(resolved < at(text, 'SELECT pg_advisory_lock('), 'resolved before the lock and anything else');
      for (const match of text.matchAll(/"pgpair_history(_log)?"/g)) {
        assert.ok(text.slice(0, match.index).endsWith(':"pgpair_history_schema".') || /format\('%I\.%I'/.test(text.slice(match.index - 80, match.index)), `unqualified at ${match.index}: ${text.slice(match.index - 60, match.index + 30)}`);
      }
      // DO blocks get the schema through the setting pinned right before them.
      for (const match of text.matchAll(/current_setting\('pgpair\.history_schema'\)/g)) {
        const previous = text.lastIndexOf("SELECT set_config('pgpair.history_schema', :'pgpair_history_schema', false)", match.index);
        assert.ok(previous !== -1 && !/RESET ALL/.test(text.slice(previous, match.index)), `pinned before use at ${match.index}: ${text.slice(Math.max(0, match.index - 700), match.index + 50)}`);
      }
    }
  });

  it('a transactional step: marker after BEGIN, then its statements, the guard, the session restore, its rows, COMMIT', () => {
    const text = render(planUp(empty, { target: { version: '0001' } }), []);
    const step = text.slice(at(text, '-- up 0001_create_users'));
    const order = [
      'BEGIN;\n',
      'SELECT txid_current() AS pgpair_xid \\gset\n',
      'CREATE TABLE users',
      markTransactionSql(":'pgpair_xid'"),
      beforeCommitGuardSql(lockKeySql(tables)),
      restoreSessionSql(null, [['client_encoding', 'UTF8']]),
      'INSERT INTO "public"."pgpair_history" ',
      'INSERT INTO "public"."pgpair_history_log" ',
      'COMMIT;',
    ];
    let cursor = 0;
    for (const fragment of order) cursor = at(step, fragment, cursor) + fragment.length;
    const all3 = render(planUp(empty), []);
    assert.equal(render(planUp(empty), []), all3, 'the same input, the same script');
  });

  it('refuses to write a script in which psql would read a meta-command that is not its own, naming the file and statement', () => {
    // An analysis that lets a meta-command through stands for a statement pgpair's lexer and psql read differently.
    const sneaky = withStatementText(planUp(empty), 'sql/0001_create_users.up.sql', 'CREATE TABLE users (id int);\n\\! touch pwned\n');
    assert.throws(
      () => render(sneaky, []),
      (e: unknown) =>
        e instanceof DirectoryError &&
        e.problems.length === 1 &&
        e.problems[0]!.file === 'sql/0001_create_users.up.sql' &&
        e.problems[0]!.line === 2 &&
        /psql would read psql meta-command \\! at line \d+ of the --sql script/.test(e.problems[0]!.message),
    );
  });
});

describe('inlineParams', () => {
  it('writes values only for the $n outside quoted names and literals: a table named "h$3" stays that name', () => {
    assert.equal(inlineParams(`INSERT INTO "s$1"."h$3""$2" (a, b) VALUES ($1, $2) -- '$9'`, ["x\"'); DROP TABLE t; --", 2]), `INSERT INTO "s$1"."h$3""$2" (a, b) VALUES ('x"''); DROP TABLE t; --', 2) -- '$9';`);
    const t = historyTables({ schema: 'sch$1', name: 'h$3' }, null);
    const [m] = migrations({ '0001_a"b.up.sql': 'select 1;' });
    const text = inlineParams(insertHistorySql(t), historyValues(m!, 'script'));
    assert.ok(text.startsWith('INSERT INTO "sch$1"."h$3" ('), text);
    assert.throws(() => inlineParams('SELECT $2', [1]), /refers to \$2/);
  });
});

describe('parseTableName', () => {
  it('refuses a name PostgreSQL would truncate, counting bytes, and one whose log trigger name would be truncated', () => {
    assert.deepEqual(parseTableName('h'.repeat(47)), { schema: null, name: 'h'.repeat(47) });
    assert.equal(parseTableName('h'.repeat(48)), null, 'NAME_log_append_only would pass 63 bytes');
    assert.equal(parseTableName('é'.repeat(24)), null, '48 bytes in 24 characters');
    assert.deepEqual(parseTableName(`${'s'.repeat(63)}.h`), { schema: 's'.repeat(63), name: 'h' });
    assert.equal(parseTableName(`"${'ß'.repeat(32)}".h`), null, 'a 64-byte schema');
    assert.equal(MAX_TABLE_NAME_BYTES, 47);
  });
});

describe('the check that a script holds no meta-command but its own', () => {
  it('checks every step whose values are not plain, however many steps come before it', () => {
    const files: Record<string, string> = {};
    for (let i = 1; i <= 9; i++) files[`000${i}_m${i}.up.sql`] = 'SELECT 1;\n';
    const many = migrations(files);
    const status = computeStatus(many, []);
    const sneaky = (plan: Plan, path: string) => withStatementText(plan, path, 'SELECT 1;\n\\! touch pwned\n');
    // A plain step late in a long plan is sampled, not checked; one with a slug that is not plain is.
    assert.doesNotThrow(() => render(sneaky(planUp(status), 'sql/0009_m9.up.sql'), []));
    assert.throws(() => render(sneaky(planUp(status), 'sql/0002_m2.up.sql'), []), DirectoryError, 'the first steps are checked');
    const { '0009_m9.up.sql': _plain, ...first8 } = files;
    const odd = migrations({ ...first8, "0009_m'9.up.sql": 'SELECT 1;\n' });
    assert.throws(() => render(sneaky(planUp(computeStatus(odd, [])), "sql/0009_m'9.up.sql"), []), DirectoryError);
  });
});
