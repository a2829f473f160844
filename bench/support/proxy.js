/**
 * A counting TCP proxy for the PostgreSQL wire protocol, used only for the
 * profile (it adds a hop, so timed runs never go through it). It forwards
 * bytes untouched and, on the side, counts what crosses: connections, the
 * client's messages by type (Q simple query, P/B/D/E/S/H extended protocol,
 * d COPY data…), the server's ReadyForQuery messages (one per simple query or
 * Sync: "queries"), and round trips: how many times the server answered after
 * the client had spoken, i.e. how often the client had to wait. A client that
 * pipelines sends several queries per round trip; one that asks the server to
 * describe a statement before binding it (Flush, H) waits twice per query.
 */
import net from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export class CountingProxy {
  /** @type {net.Server | null} */
  server = null;
  /** @type {{ connections: number, roundTrips: number, queries: number, clientMessages: Record<string, number>, clientBytes: number, serverBytes: number }} */
  counts = { connections: 0, roundTrips: 0, queries: 0, clientMessages: {}, clientBytes: 0, serverBytes: 0 };

  /** @param {{ host: string, port: number }} upstream */
  constructor(upstream) {
    this.upstream = upstream;
    this.reset();
  }

  reset() {
    this.counts = { connections: 0, roundTrips: 0, queries: 0, clientMessages: {}, clientBytes: 0, serverBytes: 0 };
  }

  /** Listens on 127.0.0.1 on a free port; resolves to that port. */
  async start() {
    const server = net.createServer((client) => this.#pipe(client));
    this.server = server;
    await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the counting proxy listens on no TCP port');
    return address.port;
  }

  async stop() {
    const server = this.server;
    if (server) await new Promise((resolve) => server.close(() => resolve(undefined)));
  }

  #pipe(client) {
    const counts = this.counts;
    counts.connections++;
    const server = net.connect(this.upstream.port, this.upstream.host);
    client.setNoDelay(true);
    server.setNoDelay(true);
    let fromClient = Buffer.alloc(0);
    let fromServer = Buffer.alloc(0);
    let startup = true; // the first client messages have no type byte
    let singleByteReplies = 0; // SSL/GSS requests are answered with one bare byte
    let encrypted = false;
    let clientSpokeLast = false; // a round trip ends when the server answers a client that spoke last

    client.on('data', (chunk) => {
      server.write(chunk);
      counts.clientBytes += chunk.length;
      clientSpokeLast = true;
      if (encrypted) return;
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        if (startup) {
          if (fromClient.length < 8) break;
          const length = fromClient.readInt32BE(0);
          if (fromClient.length < length) break;
          const code = fromClient.readInt32BE(4);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) singleByteReplies++;
          else startup = false;
          fromClient = fromClient.subarray(length);
          continue;
        }
        if (fromClient.length < 5) break;
        const length = fromClient.readInt32BE(1);
        if (fromClient.length < 1 + length) break;
        const type = String.fromCharCode(fromClient.readUInt8(0));
        counts.clientMessages[type] = (counts.clientMessages[type] ?? 0) + 1;
        fromClient = fromClient.subarray(1 + length);
      }
    });

    server.on('data', (chunk) => {
      client.write(chunk);
      counts.serverBytes += chunk.length;
      if (clientSpokeLast) counts.roundTrips++;
      clientSpokeLast = false;
      if (encrypted) return;
      fromServer = Buffer.concat([fromServer, chunk]);
      for (;;) {
        if (singleByteReplies > 0) {
          if (fromServer.length < 1) break;
          singleByteReplies--;
          if (fromServer[0] === 0x53 || fromServer[0] === 0x47) {
            encrypted = true; // 'S' or 'G': TLS or GSS follows, nothing more can be read
            return;
          }
          fromServer = fromServer.subarray(1);
          continue;
        }
        if (fromServer.length < 5) break;
        const length = fromServer.readInt32BE(1);
        if (fromServer.length < 1 + length) break;
        if (fromServer[0] === 0x5a) counts.queries++;
        fromServer = fromServer.subarray(1 + length);
      }
    });

    const close = () => {
      client.destroy();
      server.destroy();
    };
    client.on('close', close);
    server.on('close', close);
    client.on('error', close);
    server.on('error', close);
  }
}
