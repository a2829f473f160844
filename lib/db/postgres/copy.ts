/**
 * COPY … FROM STDIN on a postgres.js session: streaming a file's data to the server, and refusing a
 * COPY the server started in text pgpair sent as ordinary SQL.
 */
import type { Writable } from 'node:stream';
import type postgres from 'postgres';
import type { Row } from '../types.js';
import type { Sql } from './connection.js';

/**
 * The server asked for COPY data in answer to text pgpair sent as ordinary SQL: a `COPY … FROM
 * STDIN` hidden inside a larger piece of text (the lexer's and the server's reading of it
 * differed). postgres.js then hands back a stream and the session would wait for data forever,
 * deaf to statement_timeout. Abort the COPY (CopyFail) and report it as the statement's error.
 */
export async function refuseUnexpectedCopy(stream: Writable): Promise<Error> {
  await new Promise<void>((resolve) => {
    stream.once('close', resolve);
    stream.once('error', () => {});
    stream.destroy(new Error('pgpair refused a COPY FROM STDIN it did not expect'));
  });
  return Object.assign(new Error('the statement started a COPY … FROM STDIN that pgpair did not see as a statement of its own, so pgpair sent no data and aborted it; put each COPY … FROM stdin; on its own, followed by its data and a \\. line'), {
    code: 'PP003',
    severity: 'ERROR',
  });
}

/**
 * COPY … FROM STDIN. postgres.js hands back a Writable once the server is
 * ready; an error the server sends after the data ended would otherwise be
 * lost and leave the pipeline waiting forever (postgres.js #1173), so the
 * query's own reject is observed as well as the stream.
 */
export async function copyFrom(target: Sql, statement: string, data: AsyncIterable<string | Uint8Array> | string): Promise<void> {
  const query = target.unsafe(statement) as unknown as postgres.PendingQuery<Row[]> & { reject: (e: unknown) => void };
  let failServer: (error: unknown) => void = () => {};
  const serverFailed = new Promise<never>((_, reject) => {
    failServer = reject;
  });
  serverFailed.catch(() => {});
  const originalReject = query.reject;
  query.reject = (error: unknown) => {
    failServer(error);
    originalReject(error);
  };
  const stream = (await query.writable()) as import('node:stream').Writable;
  const finished = new Promise<void>((resolve, reject) => {
    stream.once('finish', resolve);
    stream.once('error', reject);
    stream.once('close', () => {
      if (!stream.writableFinished) reject(new Error('COPY stream closed before the server accepted the data'));
    });
  });
  finished.catch(() => {});
  const write = async (chunk: string | Uint8Array) => {
    if (!stream.write(chunk)) {
      await Promise.race([new Promise<void>((resolve) => stream.once('drain', resolve)), finished, serverFailed]);
    }
  };
  let sourceFailed = false;
  let pieces: AsyncIterator<string | Uint8Array> | undefined;
  try {
    if (typeof data === 'string') {
      if (data.length > 0) await write(data);
    } else {
      pieces = data[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<string | Uint8Array>;
        try {
          next = await pieces.next();
        } catch (error) {
          sourceFailed = true;
          throw error;
        }
        if (next.done) break;
        if (stream.destroyed) {
          await pieces.return?.();
          break;
        }
        await write(next.value);
      }
    }
    stream.end();
    await Promise.race([finished, serverFailed]);
  } catch (error) {
    // Let the data source release what it holds (a large file's handle) now, not when it is collected.
    if (!sourceFailed) await pieces?.return?.()?.catch(() => {});
    if (!stream.destroyed) stream.destroy(error instanceof Error ? error : new Error(String(error)));
    // The server's own error says more than the stream's; but when the data could not be read, that is the news.
    await Promise.race([serverFailed, new Promise((resolve) => setTimeout(resolve, 50))]).catch((serverError) => {
      if (!sourceFailed) throw serverError;
    });
    throw error;
  }
}
