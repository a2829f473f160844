/**
 * Cloning a test template (lib/run/template.ts) into a fresh database: `CREATE DATABASE … TEMPLATE`,
 * retried while PostgreSQL refuses because sessions are connected to the template (SQLSTATE
 * 55006), up to `busyTimeoutMs`; then a TemplateBusyError naming them.
 */
import type { Logger } from 'pino';
import { ConfigError, TemplateBusyError } from '../core/errors.js';
import { quoteIdent } from '../core/ident.js';
import type { Connection } from '../db/types.js';
import { DEFAULT_DIR, interruptedBefore, silent, tableOf } from './session.js';
import { checkWaits, dropDatabase, ensureTemplate, explained, filesOf, onServer, serverUrl, sessionsOn, sqlstate, urlWithDatabase, type TemplateOptions } from './template.js';
import { cloneName, templateIdentity, templatePrefix } from './template-name.js';
import { pauseUnlessAborted } from './pause.js';

export interface CloneOptions extends TemplateOptions {
  /**
   * The template to clone, by name (what `pgpair template` printed, or templateDatabase() returned,
   * e.g. in a test runner's global setup): no migration file is read and nothing is built, so a
   * clone costs about what CREATE DATABASE … TEMPLATE does. A template that does not exist is a
   * ConfigError. Without it (or undefined), the files are read (and hashed) on every call.
   */
  template?: string | undefined;
}

export interface ServerTestDatabase {
  kind: 'server';
  /** The URL of the new database: the given URL with its database name replaced. */
  url: string;
  /** The new database's name. */
  name: string;
  /** The template it was cloned from. */
  template: string;
  /** Terminates the database's sessions and drops it; resolves when it is gone. Safe to call twice. */
  drop(): Promise<void>;
}


/**
 * Clones the template into a new database, retrying while sessions are connected to the template.
 * `rebuild`: makes the template again when it went away meanwhile (null: it is the caller's, by name).
 */
async function clone(db: Connection, template: string, place: string, rebuild: (() => Promise<unknown>) | null, options: TemplateOptions, logger: Logger): Promise<string> {
  const name = cloneName(place);
  const started = Date.now();
  const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  let rebuilt = false;
  for (let attempt = 1; ; attempt++) {
    try {
      await db.exec(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
      return name;
    } catch (error) {
      const state = sqlstate(error);
      if (state === '3D000' && rebuild === null) {
        throw new ConfigError(`The template database ${template} does not exist on ${db.displayUrl}: build it first (pgpair template, or templateDatabase() in a global setup), and give testDatabase() the name it prints.`);
      }
      if (state === '3D000' && rebuild !== null && !rebuilt) {
        // The template went away since it was looked up (another process dropped it: --clean, a newer set's build).
        rebuilt = true;
        await rebuild();
        continue;
      }
      if (state !== '55006') throw explained(error, `Cannot create a database from the template ${template}`);
      const sessions = await sessionsOn(db, template);
      const waited = Date.now() - started;
      if (waited >= busyTimeoutMs) throw new TemplateBusyError(template, 'sessions', waited, sessions);
      logger.debug(`the template ${template} has ${sessions.length} session(s) connected; trying again (attempt ${attempt + 1})`);
      await pauseUnlessAborted(Math.min(50 * attempt, 500), options.signal);
      if (options.signal?.aborted) throw interruptedBefore(options.signal, `while waiting for the template ${template} to be free`);
    }
  }
}

/**
 * A fresh database at head on the server, cloned from this migration set's template (built by the
 * first call, see templateDatabase), or from `template` by name. Throws what reading the files
 * throws before connecting.
 */
export async function serverTestDatabase(options: CloneOptions): Promise<ServerTestDatabase> {
  const url = serverUrl(options.url);
  checkWaits(options);
  const logger = options.logger ?? silent;
  let template: string;
  let place: string;
  let prepare: (db: Connection) => Promise<(() => Promise<unknown>) | null>;
  if (options.template !== undefined) {
    template = options.template;
    place = templatePrefix(options.dir ?? DEFAULT_DIR, tableOf(options)).place;
    prepare = async () => null;
  } else {
    const files = await filesOf(options);
    const identity = templateIdentity(files, tableOf(options));
    template = identity.name;
    place = identity.place;
    prepare = async (db) => {
      const ensure = async () => {
        try {
          await ensureTemplate(db, url, files, identity, options, logger);
        } catch (error) {
          throw explained(error, `Cannot build the template database ${identity.name}`);
        }
      };
      await ensure();
      return ensure;
    };
  }
  const name = await onServer(url, options, async (db) => clone(db, template, place, await prepare(db), options, logger));
  let dropped: Promise<void> | null = null;
  return {
    kind: 'server',
    url: urlWithDatabase(url, name),
    name,
    template,
    drop: () => {
      dropped ??= onServer(url, { connectTimeout: options.connectTimeout ?? 10 }, (db) => dropDatabase(db, name, false)).catch((error: unknown) => {
        dropped = null;
        throw explained(error, `Cannot drop the test database ${name}`);
      });
      return dropped;
    },
  };
}
