/** Masking credentials, connection strings, and control characters in human output (issue 11, items 13-15). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { dotenvTruncation, resolveDatabaseUrl } from '../../lib/run/config.js';
import { maskUrl, normalizeDatabaseUrl, parseKeyValue, urlPassword } from '../../lib/db/url.js';
import { ConfigError } from '../../lib/core/errors.js';
import { exitCodeOf } from '../../lib/cli/exit-codes.js';
import { scrubber } from '../../lib/run/logger.js';
import { escapeControls, escapeValue, isDistinctive, maskCredentials, maskedJson, scrubPassword, showsPassword } from '../../lib/core/mask.js';
import { excerpt, formatExcerpt } from '../../lib/core/position.js';

/** The passwords issue 11 names: common words, one character, quotes, a percent sign. */
export const COMMON_PASSWORDS = ['true', 'applied', 'postgres', '1', 'a', 'sql', '"', '\\', '%40'];

describe('maskCredentials', () => {
  const cases: Array<[string, string]> = [
    ['postgres://u:secret@h/db', 'postgres://u:***@h/db'],
    ['Invalid target "postgres://u:secret@h:5432/db": use a version', 'Invalid target "postgres://u:***@h:5432/db": use a version'],
    ['postgresql:/root:secret@host/db', 'postgresql:/root:***@host/db'],
    ['postgres//root:secret@host/db', 'postgres//root:***@host/db'],
    ['postgres://root:se@cret@host/db', 'postgres://root:***@host/db'],
    ['//u:p@h/db', '//u:***@h/db'],
    ['postgres://u:1@h/db', 'postgres://u:***@h/db'],
    ['host=h password=secret dbname=d', 'host=h password=*** dbname=d'],
    ["host=h password='se cr\\'et' dbname=d", "host=h password='***' dbname=d"],
    ['Given: "password=abc", next', 'Given: "password=***", next'],
    ['PGPASSWORD=xyz npx pgpair', 'PGPASSWORD=*** npx pgpair'],
    ['postgres://h/db?sslmode=require&password=abc&x=1', 'postgres://h/db?sslmode=require&password=***&x=1'],
    ["CREATE ROLE app LOGIN PASSWORD 'it''s' VALID UNTIL 'infinity'", "CREATE ROLE app LOGIN PASSWORD '***' VALID UNTIL 'infinity'"],
    ["alter user app with encrypted password E'a\\'b';", "alter user app with encrypted password E'***';"],
    ['CREATE ROLE app PASSWORD $pw$x y$pw$;', 'CREATE ROLE app PASSWORD $pw$***$pw$;'],
    ["PASSWORD 'unterminated\nthe next line 'stays'", "PASSWORD '***\nthe next line 'stays'"],
  ];
  for (const [text, expected] of cases) {
    it(`masks ${JSON.stringify(text)}`, () => {
      assert.equal(maskCredentials(text), expected);
      assert.equal(maskCredentials(expected), expected, 'idempotent');
    });
  }
  const untouched = [
    'postgres://h:5432/db?application_name=a@b',
    'postgres://user@h/db',
    'mailto:joe@example.com',
    'https://example.com/a:b@c',
    'password authentication failed for user "root"',
    'CREATE ROLE app PASSWORD NULL',
    'ALTER ROLE app PASSWORD $1',
    'Set DATABASE_URL (e.g. DATABASE_URL=postgres://user:password@host:5432/dbname) or pass --url.',
    'e.g. host=localhost user=me password=… (quote it)',
    '{"transactional": true, "state": "applied"}',
  ];
  for (const text of untouched) {
    it(`leaves ${JSON.stringify(text)} as it is`, () => assert.equal(maskCredentials(text), text));
  }
});

describe('scrubPassword: the configured password, masked only where it stands as one', () => {
  const ordinary = 'state applied, transactional true, database "postgres", 1 row, a sql file, "quoted" \\ back 100%40';
  for (const password of COMMON_PASSWORDS) {
    it(`never changes ordinary text for the password ${JSON.stringify(password)}`, () => {
      assert.equal(isDistinctive(password), false);
      assert.equal(scrubPassword(ordinary, [password]), ordinary);
      assert.equal(showsPassword(ordinary, password), false);
      const inUserinfo = `user:${password}@host and user:${encodeURIComponent(password)}@host`;
      assert.equal(scrubPassword(inUserinfo, [password]), 'user:***@host and user:***@host');
      assert.equal(showsPassword(`x=1 password=${password} y=2`, password), true);
      assert.equal(showsPassword(`CREATE ROLE r PASSWORD '${password.replace(/'/g, "''")}'`, password), true);
    });
  }
  it('masks a distinctive password anywhere as a whole token, in every spelling', () => {
    const password = 'Zq9-long_Secret42';
    assert.ok(isDistinctive(password));
    assert.equal(scrubPassword(`a ${password} b ${encodeURIComponent(password)} c`, [password]), 'a *** b *** c');
    assert.equal(scrubPassword(`PostgreSQL ${password}x`, [password]), `PostgreSQL ${password}x`, 'only whole tokens');
    assert.ok(showsPassword(`COPY data\t${password}\tmore`, password));
  });
});

describe('connection strings', () => {
  it('parses libpq key=value strings as libpq does and turns them into the URL they mean', () => {
    const text = "host = db.internal port=6432 dbname='my-app' user=me password='p a\\'ss\\\\w@rd' sslmode=require application_name=x options='-c search_path=s'";
    assert.deepEqual(parseKeyValue(text), { host: 'db.internal', port: '6432', dbname: 'my-app', user: 'me', password: "p a'ss\\w@rd", sslmode: 'require', application_name: 'x', options: '-c search_path=s' });
    const url = normalizeDatabaseUrl(text);
    assert.equal(url, "postgres://me:p%20a'ss%5Cw%40rd@db.internal:6432/my-app?sslmode=require&application_name=x&options=-c%20search_path%3Ds");
    // What the driver reads from it.
    const options = postgres(url).options;
    assert.deepEqual([options.host, options.port, options.database, options.user, options.pass], [['db.internal'], [6432], 'my-app', 'me', "p a'ss\\w@rd"]);
    assert.equal((options.connection as Record<string, unknown>).options, '-c search_path=s');
    assert.equal(urlPassword(text), "p a'ss\\w@rd");
    for (const password of ["it's", 'back\\slash', 'a b', '@:/?#%&=+', 'ünï €', '%40', '"', 'true']) {
      const quoted = `'${password.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
      const converted = normalizeDatabaseUrl(`host=h user=u password=${quoted} dbname=d`);
      assert.equal(postgres(converted).options.pass, password, converted);
      assert.equal(urlPassword(converted), password);
      assert.ok(!maskUrl(converted).includes(encodeURIComponent(password)) || password === 'true', maskUrl(converted));
    }
    assert.equal(normalizeDatabaseUrl('host=::1 dbname=d'), 'postgres://[::1]/d');
    assert.equal(normalizeDatabaseUrl('host=a,b port=1,2 user=u'), 'postgres://u@a:1,b:2/');
    assert.equal(normalizeDatabaseUrl('hostaddr=10.0.0.1 password=x\\ y'), 'postgres://:x%20y@10.0.0.1/');
  });

  const bad: Array<[string, RegExp]> = [
    ['host=h bogus=1 password=Sekr1tPw', /unknown key "bogus"/],
    ['host=h HOST=x password=Sekr1tPw', /unknown key "HOST" \(keys are lower case: host\)/],
    ['host=h Sekr1tPw', /item 2 has no = after its key/],
    ["host=h password='Sekr1tPw", /the quoted value of password has no closing '/],
    ['host=h sslcert=/x password=Sekr1tPw', /sslcert is a libpq setting that pgpair's driver \(postgres\.js\) does not support/],
    ['host=/var/run/postgresql password=Sekr1tPw', /Unix-domain socket directory.*PGHOST=\/var\/run\/postgresql/],
    ['host=h port=x5 password=Sekr1tPw', /port=x5 is not a number/],
    ["host=h dbname='my app' password=Sekr1tPw", /dbname "my app" holds a character .* that the driver \(postgres\.js\) cannot take in a URL/],
    ['postgresql:/root:Sekr1tPw@host/db', /^Invalid database URL postgresql:\/root:\*\*\*@host\/db: a postgresql URL starts with postgresql:\/\/ \(two slashes/],
    ['postgres:root:Sekr1tPw@host/db', /^Invalid database URL postgres:root:\*\*\*@host\/db: a postgres URL starts with postgres:\/\//],
    ['postgres//root:Sekr1tPw@host/db', /^Invalid database URL postgres\/\/root:\*\*\*@host\/db: the colon after postgres is missing; write postgres:\/\//],
    ['postgres://root:Sekr@1tPw@host/db', /^Invalid database URL postgres:\/\/root:\*\*\*@host\/db: it holds more than one @ before the host.*@ as %40/],
    ['postgres://root:Sekr#1tPw@host/db', /^Invalid database URL postgres:\/\/root:\*\*\*@host\/db: it holds a #.*# as %23/],
    ['postgres://root:Sekr/1tPw@host/db', /^Invalid database URL postgres:\/\/root:\*\*\*@host\/db: the user name or password holds a \/ or \?.*\/ as %2F/],
    ['postgres://root:Sekr%zz1tPw@host/db', /holds a % that starts no valid %XX escape/],
    ['postgres://root:Sekr1tPw@host:port/db', /not a valid URL \(check the host and the port/],
    ['postgres://root:Sekr1tPw', /^Invalid database URL postgres:\/\/root:\*\*\*: /],
    ['root:Sekr1tPw@127.0.0.1:5432/db', /^Invalid database URL root:\*\*\*@127\.0\.0\.1:5432\/db: it has no scheme; write postgres:\/\//],
    ['mysql:Sekr1tPw@h/db', /^Invalid database URL mysql:\*\*\*@h\/db: it has no scheme/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)} with exit 2, a fix and no password`, () => {
      assert.throws(
        () => normalizeDatabaseUrl(text),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.equal(exitCodeOf(error), 2);
          assert.match(error.message, message);
          assert.ok(!error.message.includes('Sekr'), error.message);
          return true;
        },
      );
    });
  }

  it('keeps well-formed URLs as written, multi-host and IPv6 included, and resolveDatabaseUrl normalises', () => {
    for (const url of ['postgres://u:p%40ss@h:5432/db?sslmode=require', 'postgresql://h1:5432,h2:5433/db', 'postgres://[::1]:5432/db', 'postgres://', 'pglite:memory', 'pglite:./x#y']) {
      assert.equal(normalizeDatabaseUrl(url), url);
    }
    assert.deepEqual(resolveDatabaseUrl({ url: 'host=h dbname=d', env: {} }), { url: 'postgres://h/d', source: 'option' });
    assert.deepEqual(resolveDatabaseUrl({ env: { DATABASE_URL: ' dbname=d ' } }), { url: 'postgres:///d', source: 'DATABASE_URL' });
  });

  it('masks a URL cut short, whose "port" is the start of a password', () => {
    assert.equal(maskUrl('postgres://root:pa'), 'postgres://root:***');
    assert.equal(maskUrl('postgres://h:5432,h2:5433/db'), 'postgres://h:5432,h2:5433/db');
    assert.equal(maskUrl('postgres://[::1]:5432/db'), 'postgres://[::1]:5432/db');
  });

  it('finds a value that dotenv cut at an unquoted #, and says how to quote it without showing it', () => {
    const text = '# comment\nPGPAIR_DIR=db # a comment\nexport DATABASE_URL=postgres://root:Qx7#ss@h/db\n';
    const error = dotenvTruncation('.env', text, (key) => key === 'DATABASE_URL' || key === 'PGPAIR_DIR');
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^\.env:3: the value of DATABASE_URL holds a #.*cut there\. In a URL write # as %23.*quote the value: DATABASE_URL="\.\.\."\.$/);
    assert.ok(!error.message.includes('Qx7'), 'no part of the password');
    assert.equal(dotenvTruncation('.env', 'DATABASE_URL="postgres://u:p#s@h/db"\nPGPASSWORD=ab # note\n', () => true), null);
    assert.equal(dotenvTruncation('.env', 'OTHER=a#b\n', (key) => key === 'DATABASE_URL'), null);
  });
});

describe('control characters', () => {
  it('escapes ESC, CR, C1, line separators and bidi controls, and keeps tab and newline', () => {
    assert.equal(escapeControls('a\u001b[31mred\r\u0000\u009b\u2028\u202e\u2066x\ty\nz'), 'a\\x1b[31mred\\r\\x00\\x9b\\u2028\\u202e\\u2066x\ty\nz');
    assert.equal(escapeValue('a\tb\nc\u001b'), 'a\\tb\\nc\\x1b');
    assert.equal(escapeControls('plain ünïcödé ✓ 日本'), 'plain ünïcödé ✓ 日本');
  });
  it('JSON keeps the real values, with what a terminal acts on written as \\u escapes', () => {
    const value = { name: 'a\u001b\u009b\u202e\u2028b', url: 'postgres://u:pw@h/db' };
    const json = maskedJson(value, []);
    assert.ok(!/[\u001b\u009b\u202e\u2028]/.test(json), json);
    assert.deepEqual(JSON.parse(json), { name: value.name, url: 'postgres://u:***@h/db' });
  });
});

describe('the log scrubber', () => {
  it('keeps a JSON line valid and every value but the credentials, for any password', () => {
    const line = `${JSON.stringify({ level: 30, msg: 'applied 0001 in true order', ok: true, database: 'postgres', url: 'postgres://u:zz@h/db', sql: "ALTER ROLE r PASSWORD 'x'" })}\n`;
    for (const password of [...COMMON_PASSWORDS, 'zz']) {
      const out = scrubber([password])(line);
      assert.ok(out.endsWith('\n'));
      assert.deepEqual(JSON.parse(out), { level: 30, msg: 'applied 0001 in true order', ok: true, database: 'postgres', url: 'postgres://u:***@h/db', sql: "ALTER ROLE r PASSWORD '***'" });
    }
  });
  it('escapes control characters for the terminal (pretty), not in JSON lines', () => {
    const line = `${JSON.stringify({ msg: 'applied 0001_a\u001b[2Jb' })}\n`;
    assert.equal(JSON.parse(scrubber([], { pretty: true })(line)).msg, 'applied 0001_a\\x1b[2Jb');
    assert.equal(JSON.parse(scrubber([])(line)).msg, 'applied 0001_a\u001b[2Jb');
  });
});

describe('error excerpts', () => {
  it('mask PASSWORD literals and keep the caret under the spot', () => {
    const text = "-- roles\nCREATE ROLE app LOGIN PASSWORD 'hunter2' NOSUCH;\nSELECT 1;\n";
    const column = "CREATE ROLE app LOGIN PASSWORD 'hunter2' ".length + 1;
    assert.equal(excerpt(text, 2, column), [" 1 | -- roles", " 2 | CREATE ROLE app LOGIN PASSWORD '***' NOSUCH;", `   | ${' '.repeat("CREATE ROLE app LOGIN PASSWORD '***' ".length)}^`, ' 3 | SELECT 1;'].join('\n'));
    const lines = ["ALTER ROLE a PASSWORD E'x\\'y' VALID", "UNTIL 'x'; create user b password $$p1$$ bad;"];
    const out = formatExcerpt(lines, { first: 5, last: 6, target: 6 }, 42);
    assert.ok(!/x\\'y|p1/.test(out), out);
    assert.match(out, /PASSWORD E'\*\*\*' VALID/);
    assert.ok(out.endsWith(`password $$***$$ bad;\n   | ${' '.repeat("UNTIL 'x'; create user b password $$***$$ ".length)}^`), out);
  });
  it('mask a literal that spans lines, line by line', () => {
    const out = excerpt("CREATE ROLE a PASSWORD 'one\ntwo' BAD;\n", 2, 6);
    assert.equal(out, [" 1 | CREATE ROLE a PASSWORD '***", " 2 | ***' BAD;", '   |      ^'].join('\n'));
  });
});
