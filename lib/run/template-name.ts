/**
 * The names of test templates (lib/run/template.ts) and of the databases cloned from them.
 *
 * A template is named `pgpair_tpl_<project>_<place>_<set>`:
 * - `<project>`: the name of the directory that holds the migration directory (readable only);
 * - `<place>`: 8 hex digits of a hash of the migration directory's absolute path and the history
 *   table, so that the templates of one directory (and table) share a prefix and no other's do;
 * - `<set>`: 12 hex digits of a hash of the migration set: every migration's version, name, up
 *   and down file names and checksums, the history table and pgpair's version. Any edit, a new
 *   file or another pgpair version gives another name, so a template is never stale.
 *
 * A template under construction is `<template>_b<6 hex>`, cloned databases are
 * `pgpair_test_<place>_<time><random>`. All stay within PostgreSQL's 63 bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, resolve } from 'node:path';
import type { TableName } from '../core/ident.js';
import type { MigrationSet } from '../core/files.js';
import { PGPAIR_VERSION } from '../core/meta.js';

export interface TemplateIdentity {
  /** The template database's name. */
  name: string;
  /** What every template of this directory and table starts with (the name without the set's hash). */
  prefix: string;
  /** The place hash: names the clones. */
  place: string;
}

function hex(value: unknown, length: number): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, length);
}

/** The readable part of a name: lower-case ASCII letters, digits and _, at most 16, never empty. */
function slug(text: string): string {
  const cleaned = text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 16).replace(/_+$/, '');
  return cleaned || 'sql';
}

/** The prefix of the templates of migration directory `dir` with history table `table`: needs no file read. */
export function templatePrefix(dir: string, table: TableName): { prefix: string; place: string } {
  const absolute = resolve(dir);
  const place = hex([absolute, table.schema, table.name], 8);
  return { prefix: `pgpair_tpl_${slug(basename(dirname(absolute)))}_${place}_`, place };
}

/**
 * The template of this migration set, history table and pgpair version. `engine`: what else the
 * snapshot depends on (the PGlite version, whose data directory another version may not read).
 */
export function templateIdentity(files: MigrationSet, table: TableName, engine?: string): TemplateIdentity {
  const { prefix, place } = templatePrefix(files.dir, table);
  const set = hex(
    {
      pgpair: PGPAIR_VERSION,
      ...(engine !== undefined ? { engine } : {}),
      table: [table.schema, table.name],
      migrations: files.migrations.map((m) => [m.version, m.name, m.up.name, m.up.checksum, m.down?.name ?? null, m.down?.checksum ?? null]),
    },
    12,
  );
  return { name: `${prefix}${set}`, prefix, place };
}

/** A fresh name to build a template under, renamed to the template's once it is complete. */
export function builderName(template: string): string {
  return `${template}_b${randomBytes(3).toString('hex')}`;
}

/** What a database named `name` is to this prefix: one of its templates, a build of one (maybe cut short), or neither. */
export function kindOf(name: string, prefix: string): 'template' | 'builder' | null {
  if (!name.startsWith(prefix)) return null;
  const rest = name.slice(prefix.length);
  if (/^[0-9a-f]{12}$/.test(rest)) return 'template';
  if (/^[0-9a-f]{12}_b[0-9a-f]{6}$/.test(rest)) return 'builder';
  return null;
}

/** What the databases cloned from the templates of this place start with. */
export function clonePrefix(place: string): string {
  return `pgpair_test_${place}_`;
}

/** A fresh, unique name for a database cloned from a template of this place. */
export function cloneName(place: string): string {
  return `${clonePrefix(place)}${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** Whether `name` is a database cloned from a template of this place (cloneName's form). */
export function isCloneOf(name: string, place: string): boolean {
  return name.startsWith(clonePrefix(place)) && /^[0-9a-z]+[0-9a-f]{8}$/.test(name.slice(clonePrefix(place).length));
}
