/**
 * The synthetic corpus: N migrations, each creating one table with an index
 * and a comment, each reverted by dropping it. Tools differ only in the file
 * layout (see tools/*.js, which write it); the SQL is identical for all.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Every table the corpus creates starts with this, so counting them is one LIKE. */
export const TABLE_PREFIX = 'bench_item_';

/**
 * @typedef {object} Migration
 * @property {number} number   1-based position
 * @property {string} version  zero-padded, same width for the whole corpus
 * @property {string} slug
 * @property {string} table
 * @property {string} up       SQL that creates the table, its index and its comment
 * @property {string} down     SQL that drops it
 */

/** N migrations in order. Versions are zero-padded to max(4, digits of N) so names sort as numbers. */
export function generateCorpus(n) {
  const width = Math.max(4, String(n).length);
  const migrations = [];
  for (let number = 1; number <= n; number++) {
    const version = String(number).padStart(width, '0');
    const table = `${TABLE_PREFIX}${version}`;
    migrations.push({
      number,
      version,
      slug: `create_${table}`,
      table,
      up: `CREATE TABLE ${table} (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ${table}_name_idx ON ${table} (name);
COMMENT ON TABLE ${table} IS 'synthetic migration ${number} of ${n}';
`,
      down: `DROP TABLE ${table};
`,
    });
  }
  return migrations;
}

/** Writes `files` ({ name: text }) into `dir`, creating it. */
export async function writeFiles(dir, files) {
  await mkdir(dir, { recursive: true });
  const entries = Object.entries(files);
  // In batches: 20,000 files at once would run out of file descriptors.
  for (let i = 0; i < entries.length; i += 256) {
    await Promise.all(entries.slice(i, i + 256).map(([name, text]) => writeFile(join(dir, name), text)));
  }
}
