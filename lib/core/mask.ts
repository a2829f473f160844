/**
 * Keeping credentials and terminal control characters out of what pgpair shows. Pure: no I/O.
 *
 * Credentials are masked where they are written as credentials, never by looking for a word
 * everywhere: a password such as `true`, `applied` or `postgres` is also a JSON value, a state or
 * a database name, and masking every occurrence would corrupt the output (issue 11, item 14).
 *
 * - maskCredentials: any text, whatever the password: a URL's userinfo (`scheme://user:***@`),
 *   a `password=***` setting (libpq key=value, URL query, PGPASSWORD=…), a SQL `PASSWORD '***'`
 *   literal (also E'' and dollar-quoted).
 * - scrubPassword: the configured password, as a last resort for text that cannot be structured
 *   (a server message quoting a connection string). The rule: it is masked where it stands as a
 *   credential (`:PASSWORD@`, `password=PASSWORD`, `PASSWORD 'PASSWORD'`), and anywhere else only
 *   when it is unusual enough that it cannot be an ordinary word or number (see isDistinctive),
 *   and then only as a whole token.
 * - escapeControls: control characters (ESC, CR, C0/C1, U+2028/2029, bidi overrides) shown as
 *   visible escapes in human output; names from files and the database reach the terminal
 *   through it (item 15).
 */

const MASK = '***';

/**
 * What help texts and examples write where a password goes (`postgres://user:password@host`):
 * no secret, left as written. A real password that is one of these words is still masked by
 * scrubPassword, which knows the configured one.
 */
const PLACEHOLDERS = new Set([MASK, 'password', 'PASSWORD', 'pass', 'PASS', '…', '...']);

/**
 * A URL's userinfo: `scheme://user:PASSWORD@host`, also with the scheme mistyped (`postgres//`,
 * `postgresql:/`). Bounded lengths keep a long line without `@` (a minified dump's) linear.
 */
const URL_USERINFO = /((?:\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}:\/\/|\bpostgres(?:ql)?(?::\/?|\/\/)|(?<![\w:/])\/\/)[^\s:/?#@"'`<>]{0,256}:)([^\s]{0,1024})@/gi;

/** A `…password=VALUE` setting: libpq key=value, a URL's query, PGPASSWORD=… in a message. */
const PASSWORD_SETTING = /(?<!\w)(\w*password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]*)/gi;

/**
 * SQL: `PASSWORD 'x'`, `PASSWORD E'x'`, `PASSWORD $tag$x$tag$` (CREATE/ALTER ROLE/USER). In free
 * text a literal is taken to end with its line: an unterminated quote must not swallow the rest
 * of a message. sqlPasswordLiterals, which reads SQL, follows a literal across lines.
 */
function sqlPassword(multiline: boolean): RegExp {
  const any = multiline ? '[\\s\\S]' : '[^\\n]';
  const notQuote = multiline ? "[^']" : "[^'\\n]";
  const notQuoteOrBackslash = multiline ? "[^'\\\\]" : "[^'\\\\\\n]";
  return new RegExp(
    `(?<![\\w$])(password\\s+)(?:([eE])'((?:${notQuoteOrBackslash}|\\\\${any}|'')*)('?)|'((?:${notQuote}|'')*)('?)|(\\$(?:[A-Za-z_\\u0080-\\uffff][\\w\\u0080-\\uffff]*)?\\$)(${any}*?)(\\7|${multiline ? '$(?![\\s\\S])' : '$'}))`,
    multiline ? 'gid' : 'gim',
  );
}
const SQL_PASSWORD = sqlPassword(false);
const SQL_PASSWORD_MULTILINE = sqlPassword(true);

/**
 * Where the contents of SQL password literals are in `text` (UTF-16 [start, end), quotes and
 * tags excluded, empty ones left out): for an excerpt of a migration, which masks them.
 */
export function sqlPasswordLiterals(text: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  if (!/password/i.test(text)) return ranges;
  SQL_PASSWORD_MULTILINE.lastIndex = 0;
  for (let match = SQL_PASSWORD_MULTILINE.exec(text); match; match = SQL_PASSWORD_MULTILINE.exec(text)) {
    const body = match.indices?.[3] ?? match.indices?.[5] ?? match.indices?.[8];
    if (body && body[1] > body[0]) ranges.push([body[0], body[1]]);
    if (match[0].length === 0) SQL_PASSWORD_MULTILINE.lastIndex++;
  }
  return ranges;
}

/** Masks every credential written as one (see the module comment). Idempotent. */
export function maskCredentials(text: string): string {
  if (!/password|@/i.test(text)) return text;
  return text
    .replace(URL_USERINFO, (whole, userinfo: string, password: string) => {
      // `//host:5432/db?x=a@b` is a port, not a password.
      if ((/^\d*[/?]/.test(password) && !password.includes('@')) || PLACEHOLDERS.has(password)) return whole;
      return `${userinfo}${MASK}@`;
    })
    .replace(SQL_PASSWORD, (_whole, keyword: string, e, _eBody, eClose: string, _body, close: string, tag: string | undefined, _dollarBody, dollarClose: string) => {
      if (e) return `${keyword}${e}'${MASK}${eClose}`;
      if (tag) return `${keyword}${tag}${MASK}${dollarClose}`;
      return `${keyword}'${MASK}${close}`;
    })
    .replace(PASSWORD_SETTING, (whole, key: string, value: string, offset: number, all: string) => {
      if (value === '' || PLACEHOLDERS.has(value) || value === `'${MASK}'`) return whole;
      if (value.startsWith("'")) return `${key}'${MASK}'`;
      // Inside quotes (`"password=x"`) the value ends at the closing quote.
      const before = all[offset - 1];
      if (before === '"' || before === "'") {
        const end = value.indexOf(before);
        if (end !== -1) return `${key}${MASK}${value.slice(end)}`;
      }
      return `${key}${MASK}`;
    });
}

/**
 * Whether a password is unusual enough to be masked wherever it stands as a whole token: at
 * least 8 characters from three classes (lower, upper, digit, other), or at least 16 of any.
 * `postgres`, `applied`, `true`, `1` or `Password` are not; `Sekr1tPw` and a generated one are.
 */
export function isDistinctive(password: string): boolean {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(password)).length;
  return password.length >= 16 || (password.length >= 8 && classes >= 3);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The spellings a password takes in text: as is, percent-encoded (a URL), SQL-quoted. */
function spellings(password: string): string[] {
  return [...new Set([password, encodeURIComponent(password), password.replace(/'/g, "''")])];
}

/** A regex source that finds `form` as a whole token: not glued to letters or digits it does not end in. */
function token(form: string): string {
  const start = /^[A-Za-z0-9]/.test(form) ? '(?<![A-Za-z0-9])' : '';
  const end = /[A-Za-z0-9]$/.test(form) ? '(?![A-Za-z0-9])' : '';
  return `${start}${escapeRegExp(form)}${end}`;
}

const contextCache = new Map<string, RegExp[]>();

/** Where a password stands as a credential, whatever it is (see the module comment). Compiled once per password. */
function credentialContexts(password: string): RegExp[] {
  let cached = contextCache.get(password);
  if (!cached) {
    cached = compileContexts(password);
    contextCache.set(password, cached);
  }
  return cached;
}

function compileContexts(password: string): RegExp[] {
  const contexts = spellings(password).flatMap((form) => {
    const f = escapeRegExp(form);
    return [
      new RegExp(`(:)${f}(@)`, 'g'),
      new RegExp(`((?<!\\w)\\w*password\\s*=\\s*'?)${f}('|(?=[\\s&"]|$))`, 'gi'),
      new RegExp(`((?<![\\w$])password\\s+[eE]?')${f}(')`, 'gi'),
    ];
  });
  // A distinctive password is masked anywhere as a whole token: one more pattern, with nothing around it.
  if (isDistinctive(password)) contexts.push(...spellings(password).map((form) => new RegExp(`()${token(form)}()`, 'g')));
  return contexts;
}

/** Masks the configured passwords in text that cannot be structured (see the module comment). */
export function scrubPassword(text: string, passwords: readonly string[]): string {
  let out = text;
  for (const password of passwords) {
    if (password === '' || password === MASK) continue;
    for (const context of credentialContexts(password)) out = out.replace(context, `$1${MASK}$2`);
  }
  return out;
}

/**
 * Whether text would show the password as scrubPassword would mask it: as a credential, or (a
 * distinctive one) anywhere as a token. For the `--sql` script, which is printed as written.
 */
export function showsPassword(text: string, password: string): boolean {
  if (password === '' || password === MASK) return false;
  return credentialContexts(password).some((pattern) => {
    pattern.lastIndex = 0;
    return pattern.test(text);
  });
}

/** The longest stretch of text showsPassword needs to see at once: the tail a streaming check keeps. */
export function showsPasswordWindow(password: string): number {
  return 3 * encodeURIComponent(password).length + 64;
}

/** Both masks: credentials as such, and the configured passwords. */
export function maskSecrets(text: string, passwords: readonly string[]): string {
  return scrubPassword(maskCredentials(text), passwords);
}

/**
 * Control characters that change what a terminal shows: C0 (but tab and newline, which human
 * output uses), DEL, C1, the line and paragraph separators and the bidi embeddings, overrides
 * and isolates (U+202A–202E, U+2066–2069).
 */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_OR_LAYOUT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(char: string): string {
  const code = char.charCodeAt(0);
  if (char === '\n') return '\\n';
  if (char === '\t') return '\\t';
  if (char === '\r') return '\\r';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Human output: control characters as visible escapes (`\x1b`, `\r`, `\u202e`); tab and newline kept. */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, visible);
}

/** One value in a line or table cell (a name, a version): newline and tab escaped too. */
export function escapeValue(text: string): string {
  return text.replace(CONTROL_OR_LAYOUT, visible);
}

/**
 * JSON text with the characters JSON.stringify leaves raw but a terminal acts on (DEL, C1,
 * U+2028/2029, bidi controls) written as \u escapes: the document parses to the same values.
 * Only valid on JSON.stringify's output, where such characters can only stand inside strings.
 */
export function jsonForTerminal(json: string): string {
  return json.replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON.stringify with every string value masked (maskSecrets), safe for a terminal. */
export function maskedJson(value: unknown, passwords: readonly string[], indent?: number): string {
  return jsonForTerminal(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? maskSecrets(v, passwords) : v), indent));
}
