/**
 * Where a fleet's targets come from: a targets file (one URL per line), PGPAIR_TARGETS, or the
 * schemas of one database that match a glob (--schemas 'tenant_*'). Each gives a list of
 * connection strings; lib/run/fleet.ts runs one migrator per entry.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../core/errors.js';
import { connect } from '../db/index.js';
import { maskUrl, normalizeDatabaseUrl, splitSchema, urlScheme, withSchema } from '../db/url.js';

const SCHEMES = new Set(['postgres', 'postgresql', 'pglite']);

/** One target's connection string, checked (normalised as --url is, its schema= read), or the reason it cannot be used. */
function checkTarget(text: string): { url: string } | { problem: string } {
  const scheme = urlScheme(text);
  if (scheme === null || !SCHEMES.has(scheme)) {
    // A libpq key=value string holds spaces, so it cannot be a line of its own list; say what a line must be.
    return { problem: `${maskUrl(text)} is not a database URL: write postgres://user:password@host:port/database[?schema=NAME], or pglite:PATH` };
  }
  try {
    const url = normalizeDatabaseUrl(text);
    splitSchema(url);
    if (scheme === 'pglite' && /[?&]schema=/.test(url)) return { problem: `${maskUrl(text)}: schema= is for postgres:// targets (a pglite: path is taken as written)` };
    return { url };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The targets of a targets file's text: one URL per line; `#` starts a comment line, blank lines
 * are skipped, spaces around a URL are ignored. Every bad line is reported at once, as
 * `FILE:LINE: why`, in one ConfigError (exit 2); a file with no target is an error too.
 */
export function parseTargetsFile(file: string, text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  return collectTargets(
    lines.map((line, index) => ({ text: line, where: `${file}:${index + 1}` })),
    `The targets file ${file}`,
    `The targets file ${file} names no target: put one database URL per line (# starts a comment).`,
  );
}

/** Repeated --url values, checked as the lines of a targets file are (a bad one named by its position). */
export function checkUrlTargets(urls: readonly string[]): string[] {
  return collectTargets(
    urls.map((url, index) => ({ text: url, where: `--url #${index + 1}` })),
    'The --url options',
    'The --url options name no target.',
    false,
  );
}

/** `lines`: blank entries and # comments are skipped (a list); otherwise each entry must be a target (an empty --url is not silently dropped). */
function collectTargets(entries: readonly { text: string; where: string }[], source: string, none: string, lines = true): string[] {
  const targets: string[] = [];
  const problems: string[] = [];
  for (const entry of entries) {
    const line = entry.text.trim();
    if (lines && (line === '' || line.startsWith('#'))) continue;
    if (line === '') {
      problems.push(`${entry.where}: it is empty; give a database URL`);
      continue;
    }
    const checked = checkTarget(line);
    if ('url' in checked) targets.push(checked.url);
    else problems.push(`${entry.where}: ${checked.problem}`);
  }
  const one = problems.length === 1;
  if (problems.length > 0) throw new ConfigError(`${source}: ${one ? 'a target' : `${problems.length} targets`} pgpair cannot use:\n  ${problems.join('\n  ')}\nFix ${one ? 'it' : 'them'}${lines ? ` (or comment ${one ? 'it' : 'them'} out with #)` : ''} and run again.`);
  if (targets.length === 0) throw new ConfigError(none);
  return targets;
}

/** Reads and parses a targets file (see parseTargetsFile). */
export async function readTargetsFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new ConfigError(`Cannot read the targets file ${file}${code === 'ENOENT' ? ': it does not exist' : code ? ` (${code})` : ''}. Give --targets a file with one database URL per line.`);
  }
  return parseTargetsFile(file, text);
}

/**
 * PGPAIR_TARGETS: URLs separated by newlines or by commas. A comma splits only where the next URL
 * starts (`,postgres://`, `,postgresql://`, `,pglite:`), so that a multi-host URL
 * (postgres://h1:5432,h2:5432/db) stays one target. Comment lines (#) and blanks are skipped.
 */
export function parseTargetsList(text: string): string[] {
  const lines = text.split(/\r\n|\r|\n|,(?=\s*(?:postgres(?:ql)?:\/\/|pglite:))/i);
  return parseTargetsFile('PGPAIR_TARGETS', lines.join('\n'));
}

/** A LIKE pattern (escape `\`) that matches what the glob matches: `*` any run of characters, `?` one; `%`, `_` and `\` literal. */
export function globToLike(glob: string): string {
  let like = '';
  for (const char of glob) {
    if (char === '*') like += '%';
    else if (char === '?') like += '_';
    else if (char === '%' || char === '_' || char === '\\') like += `\\${char}`;
    else like += char;
  }
  return like;
}

/** The schemas of `url`'s database whose names match `glob`, in name order, without PostgreSQL's own (pg_*, information_schema). */
export async function matchingSchemas(url: string, glob: string, options: { connectTimeout?: number; signal?: AbortSignal | undefined } = {}): Promise<string[]> {
  const db = await connect({ url, ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}), ...(options.signal ? { signal: options.signal } : {}), readOnly: true });
  try {
    const rows = await db.query<{ name: string }>(
      `SELECT nspname AS name FROM pg_catalog.pg_namespace
        WHERE nspname LIKE $1 ESCAPE '\\' AND nspname NOT LIKE 'pg\\_%' ESCAPE '\\' AND nspname <> 'information_schema'
        ORDER BY nspname COLLATE "C"`,
      [globToLike(glob)],
    );
    return rows.map((row) => row.name);
  } finally {
    await db.close();
  }
}

/**
 * The targets of `--schemas GLOB` on one database: one URL per matching schema (`?schema=NAME`
 * added). No match is a ConfigError (exit 2) that names the pattern and the database.
 */
export async function schemaTargets(url: string, glob: string, display: string, options: { connectTimeout?: number; signal?: AbortSignal | undefined } = {}): Promise<string[]> {
  if (urlScheme(url) !== 'postgres' && urlScheme(url) !== 'postgresql') throw new ConfigError(`--schemas needs a postgres:// database URL; ${maskUrl(url)} is not one.`);
  if (splitSchema(url).schema !== null) throw new ConfigError(`--schemas ${glob} expands to schemas of one database: give its URL without schema=.`);
  const names = await matchingSchemas(url, glob, options);
  if (names.length === 0) throw new ConfigError(`--schemas ${JSON.stringify(glob)} matches no schema in ${display}: check the pattern (* matches any characters, ? one) and the database.`);
  return names.map((name) => withSchema(url, name));
}
