/**
 * WebSocket test helpers: an upstream ws server on 127.0.0.1:0, a client that opens through the
 * gateway, one frame there and back, and polling for a socket to close.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** Generous: the property is that it closes; the gateway aims at well under a second. */
export const CLOSE_WITHIN_MS = 3000;

export interface WsUpstream {
  url: string;
  /** Upstream-side sockets currently open. */
  open(): number;
  close(): Promise<void>;
}

/** A WebSocket server that answers `echo:<message>`, and closes its side on `bye`. */
export async function startWsUpstream(): Promise<WsUpstream> {
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      if (String(data) === 'bye') ws.close(1000, 'bye');
      else ws.send(`echo:${String(data)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => wss.clients.size,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function openSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(new Error(`handshake answered ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
}

/** One frame there and back through the gateway. */
export function relay(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no echo within 2 s')), 2000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(String(data));
    });
    ws.once('close', () => reject(new Error('closed instead of relaying')));
    ws.send(text);
  });
}

/** Polls until `check` holds; the time it took, or Infinity after `ms`. */
export async function within(ms: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (check()) return Date.now() - started;
    if (Date.now() - started > ms) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function assertClosesWithin(ws: WebSocket, what: string): Promise<void> {
  const took = await within(CLOSE_WITHIN_MS, () => ws.readyState === WebSocket.CLOSED);
  assert.ok(took <= CLOSE_WITHIN_MS, `the socket still relayed after ${what} (${CLOSE_WITHIN_MS} ms)`);
}

export const basicOf = (username: string, password: string): string => 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
