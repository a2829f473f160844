/** "Did you mean": the nearest command to a mistyped one, and the variables that look like a misspelled DATABASE_URL. */
import { COMMANDS } from './spec.js';

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const kept = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = kept;
    }
  }
  return row[b.length]!;
}

/** Other tools' words for pgpair's commands (Alembic, Rails, Knex, dbmate): suggested, not accepted, so there is one name for each thing. */
const OTHER_TOOLS: Record<string, string> = {
  upgrade: 'up',
  migrate: 'up',
  downgrade: 'down',
  rollback: 'down',
  revision: 'create',
  new: 'create',
  generate: 'create',
  heads: 'status',
  show: 'status',
  version: 'current',
  log: 'history',
};

/** The usage error for a word that is no command, with the nearest command when one is close; null for a known command. */
export function unknownCommandMessage(word: string): string | null {
  if (COMMANDS.some((c) => c.name === word)) return null;
  if (word.toLowerCase() === 'help') return `"help" is not a command: run pgpair --help for the commands, or pgpair COMMAND --help for one of them.`;
  const synonym = OTHER_TOOLS[word.toLowerCase()];
  if (synonym) return `Unknown command ${JSON.stringify(word)}: did you mean ${synonym}? (pgpair ${synonym} is what other tools call ${word}.)`;
  const ranked = COMMANDS.map((c) => ({ name: c.name, d: distance(word.toLowerCase(), c.name) })).sort((a, b) => a.d - b.d);
  const best = ranked[0]!;
  const close = best.d <= Math.max(1, Math.floor(best.name.length / 3)) || best.name.startsWith(word.toLowerCase());
  const list = COMMANDS.map((c) => c.name).join(', ');
  return `Unknown command ${JSON.stringify(word)}${close ? `: did you mean ${best.name}?` : '.'} The commands are ${list}.`;
}

/** Environment variables that look like a misspelled DATABASE_URL (DATABASE_UR, DATABSE_URL, DB_URL…). */
export function nearDatabaseUrl(env: Record<string, string | undefined>): string[] {
  return Object.keys(env).filter((key) => key !== 'DATABASE_URL' && env[key] && (distance(key.toUpperCase(), 'DATABASE_URL') <= 2 || ['DB_URL', 'DATABASE_URI', 'DATABASEURL', 'POSTGRES_URL', 'PG_URL'].includes(key.toUpperCase())));
}
