/**
 * A real upstream on 127.0.0.1:0 that records exactly what it received (raw header pairs,
 * target) and answers with JSON of it. Also accepts WebSocket upgrades and echoes messages.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  body: string;
  /** The gateway's side of the connection: equal ports mean a reused (pooled) connection. */
  remotePort: number;
}

export interface Upstream {
  url: string;
  port: number;
  received: Received[];
  upgrades: Received[];
  last(): Received;
  /** Makes the next responses wait this long (timeouts). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const received: Received[] = [];
  const upgrades: Received[] = [];
  const state = { delayMs: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        remotePort: req.socket.remotePort ?? 0,
      };
      received.push(record);
      const send = (): void => {
        const body = JSON.stringify({ method: record.method, url: record.url, headers: record.headers });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (state.delayMs > 0) setTimeout(send, state.delayMs);
      else send();
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body: '', remotePort: req.socket.remotePort ?? 0 });
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) => ws.send(`echo:${String(data)}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    upgrades,
    last: () => {
      const r = received[received.length - 1];
      if (!r) throw new Error('upstream received nothing');
      return r;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value: number) {
      state.delayMs = value;
    },
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Header values the upstream saw for a name, across every raw spelling. */
export function rawHeaderValues(received: Received, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < received.rawHeaders.length; i += 2) {
    if ((received.rawHeaders[i] as string).toLowerCase() === name.toLowerCase()) out.push(received.rawHeaders[i + 1] as string);
  }
  return out;
}
