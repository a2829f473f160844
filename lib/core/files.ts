/**
 * Pure: turns the entries of a migration directory into a validated set of
 * migrations, or one DirectoryError that lists every problem at once.
 */
import { analyzeFile, type FileAnalysis } from './analyze.js';
import { checksum, sqlAsWritten } from './checksum.js';
import { DirectoryError, type FileProblem } from './errors.js';
import type { LargeFileContent } from './large-file.js';
import { compareVersions, versionKey } from './version.js';

export const BASE_SCHEMA_FILE = 'schema.sql';
export const FILE_PATTERN = '<version>_<slug>.up.sql / <version>_<slug>.down.sql (version: digits, e.g. 0001_create_users.up.sql)';

/** One file as read from the directory. `text` is absent when it could not be decoded, or when the file was read in pieces (`large`). */
export interface DirectoryEntry {
  name: string;
  text?: string;
  /** Why the file could not be read as UTF-8 text, when it could not. */
  readError?: string;
  /** A large file, read in pieces (lib/read/source.ts): what is known of it instead of its text. */
  large?: {
    checksum: string;
    /** The line of its first NUL byte, counted as in `text`, or null. */
    nulLine: number | null;
    source: LargeFileSource;
  };
}

/** Where a large file is, and what is known of it: its COPY data and excerpts are read from it again when needed. */
export interface LargeFileSource extends LargeFileContent {
  /** The path it was read from. */
  readPath: string;
  /** Size and modification time when it was read: a file that changed since is not read again. */
  size: number;
  mtimeMs: number;
}

interface FileBase {
  /** Path as shown to the user: the directory joined with the file name. */
  path: string;
  name: string;
  checksum: string;
  /** What the file does when it runs (statements, run mode, problems): analysed once, when the directory is read. */
  analysis: FileAnalysis;
}

/** A file held as text: every file up to the large-file size (lib/core/large-file.ts). */
export interface TextMigrationFile extends FileBase {
  /** The text as written, BOM removed (checksum.ts sqlAsWritten): what runs, CRs included. */
  text: string;
  large?: undefined;
}

/** A file above the large-file size: never held whole; its COPY data is read from the file when it runs. */
export interface LargeMigrationFile extends FileBase {
  text?: undefined;
  large: LargeFileSource;
}

export type MigrationFile = TextMigrationFile | LargeMigrationFile;

export interface Migration {
  /** As spelled in the file name, e.g. "0003". */
  version: string;
  /** Canonical key: no leading zeros. Used to match history rows. */
  key: string;
  /** The migration's name: the name in the up file's (the down file may carry another: downName). */
  name: string;
  up: MigrationFile;
  /** null: the migration is irreversible. */
  down: MigrationFile | null;
}

export interface MigrationSet {
  dir: string;
  /** Sorted by version, ascending. */
  migrations: Migration[];
  /** `schema.sql`, the optional base schema. */
  schema: MigrationFile | null;
}

const NAME = /^([0-9]+)_(.+)\.(up|down)\.sql$/;

interface ParsedName {
  /** The file name, e.g. 0003_add_users.up.sql. */
  fileName: string;
  version: string;
  /** The migration's name in it, e.g. add_users. */
  name: string;
  direction: 'up' | 'down';
}

export function parseFileName(name: string): ParsedName | null {
  const match = NAME.exec(name);
  if (!match) return null;
  const [, version, slug, direction] = match as unknown as [string, string, string, 'up' | 'down'];
  if (!/^[^\s/\\]+$/.test(slug)) return null;
  return { fileName: name, version, name: slug, direction };
}

function joinPath(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

function toFile(dir: string, entry: DirectoryEntry): MigrationFile {
  const path = joinPath(dir, entry.name);
  if (entry.large) {
    const large = entry.large.source;
    return { path, name: entry.name, checksum: entry.large.checksum, large, analysis: analyzeFile({ path, large }) };
  }
  const text = sqlAsWritten(entry.text!);
  return { path, name: entry.name, text, checksum: checksum(entry.text!), analysis: analyzeFile({ path, text }) };
}

/** Problems inside a file's text that make it unusable before any SQL is parsed. */
function textProblems(path: string, entry: DirectoryEntry): FileProblem[] {
  let line = entry.large?.nulLine ?? null;
  if (entry.text !== undefined) {
    const nul = entry.text.indexOf('\u0000');
    if (nul === -1) return [];
    const before = entry.text.slice(0, nul);
    line = before.split('\n').length;
  }
  if (line === null) return [];
  return [{ file: path, line, message: 'contains a NUL byte, which PostgreSQL cannot accept in SQL text; is this a binary file?' }];
}

export interface ParseOptions {
  /**
   * Also check what is inside every up and down file, as `up` would before running it
   * (analyzeFile's problems: psql meta-commands, unterminated quotes or COPY data, unknown
   * directives, refused statements), and report those problems with the others. Default true;
   * `create`, which runs nothing, leaves it off.
   */
  checkContents?: boolean;
}

/** The slug of a migration's down file: the up file's slug, unless the down file is named otherwise (golang-migrate allows it). */
export function downName(migration: Migration): string | null {
  if (!migration.down) return null;
  return parseFileName(migration.down.name)?.name ?? migration.name;
}

/**
 * Validates a directory listing. `entries` holds every `.sql` entry of the directory
 * (subdirectories and other non-regular files come with a readError). Hidden files (starting
 * with '.') and files that do not end in `.sql` are ignored; every other `.sql` file must match
 * the pattern. An up file and a down file pair by version; their slugs may differ, and the
 * migration's name is the up file's slug.
 */
export function parseMigrationDirectory(dir: string, entries: readonly DirectoryEntry[], options: ParseOptions = {}): MigrationSet {
  const problems: FileProblem[] = [];
  let schema: MigrationFile | null = null;
  const byKey = new Map<string, { up: ParsedName[]; down: ParsedName[] }>();
  const texts = new Map<string, DirectoryEntry>();
  /** Files already reported for what their bytes are (NUL): not lexed as SQL as well. */
  const binary = new Set<string>();

  for (const entry of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    if (!/\.sql$/i.test(entry.name)) continue;
    const path = joinPath(dir, entry.name);
    if (entry.readError !== undefined || (entry.text === undefined && entry.large === undefined)) {
      problems.push({ file: path, message: entry.readError ?? 'could not be read' });
      continue;
    }
    const inText = textProblems(path, entry);
    if (inText.length > 0) binary.add(entry.name);
    problems.push(...inText);
    if (entry.name === BASE_SCHEMA_FILE) {
      schema = toFile(dir, entry);
      continue;
    }
    const parsed = parseFileName(entry.name);
    if (!parsed) {
      problems.push({ file: path, message: `file name does not match ${FILE_PATTERN}; rename it, or move it out of the directory` });
      continue;
    }
    texts.set(entry.name, entry);
    const key = versionKey(parsed.version);
    const slot = byKey.get(key) ?? { up: [], down: [] };
    slot[parsed.direction].push(parsed);
    byKey.set(key, slot);
  }

  const migrations: Migration[] = [];
  for (const [key, slot] of byKey) {
    const all = [...slot.up, ...slot.down];
    let ok = true;
    for (const direction of ['up', 'down'] as const) {
      const files = slot[direction];
      if (files.length > 1) {
        ok = false;
        const names = files.map((f) => joinPath(dir, f.fileName));
        problems.push({
          file: names[0]!,
          message: `version ${files[0]!.version} has ${files.length} ${direction} files (${names.join(', ')}); two branches probably created the same version, so renumber one of them`,
        });
      }
    }
    const spellings = [...new Set(all.map((f) => f.version))];
    if (spellings.length > 1 && slot.up.length <= 1 && slot.down.length <= 1) {
      ok = false;
      problems.push({
        file: joinPath(dir, all[0]!.fileName),
        message: `version ${spellings.join(' and ')} are the same version spelled differently (${all.map((f) => joinPath(dir, f.fileName)).join(', ')}); use one spelling`,
      });
    }
    if (slot.up.length === 0) {
      ok = false;
      const down = slot.down[0]!;
      problems.push({
        file: joinPath(dir, down.fileName),
        message: `down file without its up file; add ${down.version}_${down.name}.up.sql or remove this file`,
      });
    }
    if (!ok) continue;
    const up = slot.up[0]!;
    const down = slot.down[0];
    const migration: Migration = {
      version: up.version,
      key,
      name: up.name,
      up: toFile(dir, texts.get(up.fileName)!),
      down: down ? toFile(dir, texts.get(down.fileName)!) : null,
    };
    if (options.checkContents ?? true) {
      for (const file of [migration.up, migration.down]) if (file && !binary.has(file.name)) problems.push(...file.analysis.problems);
    }
    migrations.push(migration);
  }

  if (problems.length > 0) {
    problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    throw new DirectoryError(dir, problems);
  }
  migrations.sort((a, b) => compareVersions(a.version, b.version));
  return { dir, migrations, schema };
}
