/**
 * `create`: the next pair of migration files. The version is the newest + 1
 * in the newest file's zero-padded width, or a YYYYMMDDHHMMSS timestamp (UTC)
 * when asked or when the directory already uses timestamps, so two branches
 * writing migrations at once do not pick the same number.
 */
import { UsageError } from '../core/errors.js';
import { DEFAULT_DIR } from '../run/session.js';
import { ensureDirectory, readMigrations, writeNewFile } from './source.js';
import { compareVersions, versionKey } from '../core/version.js';

export type VersionStyle = 'timestamp' | 'sequential';

export interface CreateMigrationOptions {
  dir?: string;
  /** The migration's name, e.g. add_users. */
  name: string;
  /** Default: the style of the newest file (timestamp when it reads as one), sequential in an empty directory. */
  versions?: VersionStyle;
  /** The clock, for timestamp versions; default now. */
  now?: Date;
}

export interface CreatedMigration {
  version: string;
  up: string;
  down: string;
}

const SLUG = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether a version reads as YYYYMMDDHHMMSS: 14 digits that make a real date and time. */
function isTimestampVersion(version: string): boolean {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(version);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function timestampVersion(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${at.getUTCFullYear()}${two(at.getUTCMonth() + 1)}${two(at.getUTCDate())}${two(at.getUTCHours())}${two(at.getUTCMinutes())}${two(at.getUTCSeconds())}`;
}

function nextAfter(version: string): string {
  return (BigInt(versionKey(version)) + 1n).toString().padStart(version.length, '0');
}

/** Writes the pair and returns its version and paths; refuses a slug that would not make a valid file name. */
export async function createMigration(options: CreateMigrationOptions): Promise<CreatedMigration> {
  const dir = options.dir ?? DEFAULT_DIR;
  const { name: slug } = options;
  if (!SLUG.test(slug) || /\.(up|down)$/.test(slug) || slug.endsWith('.sql')) {
    throw new UsageError(`Invalid migration name "${slug}": use letters, digits, '_', '-' and '.', starting with a letter or digit (e.g. add_users).`);
  }
  await ensureDirectory(dir);
  const files = await readMigrations(dir);
  const newest = files.migrations[files.migrations.length - 1];
  const style = options.versions ?? (newest && isTimestampVersion(newest.version) ? 'timestamp' : 'sequential');
  let version: string;
  if (style === 'timestamp') {
    version = timestampVersion(options.now ?? new Date());
    // A clock behind the newest file, or two pairs in one second: still above the newest.
    if (newest && compareVersions(version, newest.version) <= 0) version = nextAfter(newest.version);
  } else {
    version = newest ? nextAfter(newest.version) : '0001';
  }
  const base = `${dir.replace(/\/+$/, '')}/${version}_${slug}`;
  const upPath = `${base}.up.sql`;
  const downPath = `${base}.down.sql`;
  await writeNewFile(upPath, `-- ${version}_${slug}: apply.\n-- Runs in one transaction together with its history row.\n\n`);
  await writeNewFile(downPath, `-- ${version}_${slug}: revert what the up file did.\n-- Delete this file if the migration cannot be reverted.\n\n`);
  return { version, up: upPath, down: downPath };
}
