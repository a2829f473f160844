/**
 * Run by support.ts's runHiddenCopy in a process of its own, because a driver that misses the
 * COPY may wait for its data forever (PGlite would, in its only thread): sends `ready` once
 * connected, then what exec of a hidden `COPY … FROM STDIN` did, then whether the session still
 * answers.
 */
import { pgErrorFields } from '../../lib/db/errors.js';
import { connect } from '../../lib/db/index.js';

const c = await connect({ url: process.env.CONTRACT_URL! });
await c.exec('CREATE TEMP TABLE hidden (id int)');
process.send!({ step: 'ready' });
// The server reads the dollar-quoted string $é$ $$ $é$, then a COPY … FROM STDIN, then a comment; a
// reader that does not know non-ASCII dollar tags sees a $$ string that runs over the COPY instead.
const outcome = await c.exec('SELECT $é$ $$ $é$; COPY hidden FROM STDIN; -- $$').then(
  () => ({ step: 'done', resolved: true, sqlstate: null }),
  (error: unknown) => ({ step: 'done', resolved: false, sqlstate: pgErrorFields(error)?.sqlstate ?? null }),
);
process.send!(outcome);
const [row] = await c.query<{ one: number }>('SELECT 1 AS one');
process.send!({ step: 'usable', one: row!.one });
await c.close();
process.disconnect();
