/**
 * Pure: how a `--sql` script names the history table and computes the lock key.
 *
 * The history table's schema is known when the script is made from the database or for
 * `--table schema.name`; otherwise (`--from`, no schema) it is resolved once, when the script
 * starts and before any migration runs, as the session's current schema, exactly as a pgpair
 * run resolves it when it connects. It is then held in a psql variable (plain statements name the
 * tables as :"pgpair_history_schema"."name", which psql quotes as an identifier), and carried into
 * DO blocks, where psql interpolates no variable, in a session setting set again right before each
 * use, since RESET ALL (the migration's or the script's own) clears it.
 */
import type { HistoryTables } from './history.js';
import { quoteIdent, quoteLiteral } from './ident.js';
import { LOCK_KEY_SQL } from './session-state.js';

/** The psql variable holding the resolved schema. */
export const SCHEMA_VARIABLE = 'pgpair_history_schema';

/** The session setting that carries it into DO blocks. */
export const SCHEMA_SETTING = 'pgpair.history_schema';

export interface ScriptTables {
  /** The names as plain statements of the script write them. */
  tables: HistoryTables;
  /** Whether the schema is resolved when the script runs. */
  resolved: boolean;
  /** The schema, as a server-side SQL expression of type text that holds no psql variable (usable in DO blocks). */
  schemaValue: string;
  /** The history table's `schema.table`, the same way: the lock key's text. */
  displayValue: string;
  /** The lock key, computed by the server as lib/run/lock.ts computes it, from displayValue. */
  lockKey: string;
  /** Statements that must run right before schemaValue, displayValue or lockKey is used (empty when the schema is known). */
  pin: string[];
  /** For comments: the history table and its log as named in the script. */
  displayHistory: string;
  displayLog: string;
}

/** LOCK_KEY_SQL with its $1 written as `display` (not String.replace, which reads `$'` and `$&` in a replacement). */
export function lockKeyOf(display: string): string {
  return LOCK_KEY_SQL.split('$1').join(display);
}

export function scriptTables(t: HistoryTables): ScriptTables {
  if (t.schema !== null) {
    return {
      lockKey: lockKeyOf(quoteLiteral(t.display)),
      tables: t,
      resolved: false,
      schemaValue: quoteLiteral(t.schema),
      displayValue: quoteLiteral(t.display),
      pin: [],
      displayHistory: t.display,
      displayLog: `${t.schema}.${t.logName}`,
    };
  }
  const schemaSql = `:"${SCHEMA_VARIABLE}"`;
  const schemaValue = `current_setting(${quoteLiteral(SCHEMA_SETTING)})`;
  return {
    lockKey: lockKeyOf(`${schemaValue} || ${quoteLiteral(`.${t.historyName}`)}`),
    tables: { ...t, schemaSql, history: `${schemaSql}.${quoteIdent(t.historyName)}`, log: `${schemaSql}.${quoteIdent(t.logName)}` },
    resolved: true,
    schemaValue,
    displayValue: `${schemaValue} || ${quoteLiteral(`.${t.historyName}`)}`,
    pin: [`SELECT set_config(${quoteLiteral(SCHEMA_SETTING)}, :'${SCHEMA_VARIABLE}', false) AS "history schema";`],
    displayHistory: `<current schema>.${t.historyName}`,
    displayLog: `<current schema>.${t.logName}`,
  };
}

/**
 * The lock key, computed by the server exactly as lib/run/lock.ts computes it. With the schema not
 * known when the script is made, from the schema the script resolved when it started (see
 * scriptTables; the setting must be pinned right before).
 */
export function lockKeySql(t: HistoryTables): string {
  return scriptTables(t).lockKey;
}
