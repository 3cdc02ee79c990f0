/**
 * A TCP proxy in front of a PostgreSQL database that can stop passing bytes with every
 * connection still up: a network stall or a frozen primary, as the gateway sees it.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface StallProxy {
  /** The database URL through the proxy. */
  url: string;
  /** While true, bytes in either direction are swallowed. */
  frozen: boolean;
  /** Drops every proxied connection (a database restart or a reset, as the gateway sees it) and keeps listening. */
  cut(): void;
  /** Thaws, drops every proxied connection and stops listening. */
  close(): void;
}

export async function startStallProxy(databaseUrl: string): Promise<StallProxy> {
  const target = new URL(databaseUrl);
  const pairs: Array<[Socket, Socket]> = [];
  const state = { frozen: false };
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    pairs.push([client, upstream]);
    client.on('data', (chunk: Buffer) => {
      if (!state.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!state.frozen) client.write(chunk);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  const cut = (): void => {
    for (const [a, b] of pairs.splice(0)) {
      a.destroy();
      b.destroy();
    }
  };
  return {
    url: url.toString(),
    get frozen() {
      return state.frozen;
    },
    set frozen(value: boolean) {
      state.frozen = value;
    },
    cut,
    close() {
      state.frozen = false;
      cut();
      server.close();
    },
  };
}
