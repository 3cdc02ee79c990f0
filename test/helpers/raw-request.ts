/** One raw HTTP/1.1 GET on its own connection, so the target and Host reach the gateway byte for byte. */
import { connect } from 'node:net';

export function rawGet(url: string, target: string, options: { host?: string; extra?: string } = {}): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: ${options.host ?? `${hostname}:${port}`}\r\nConnection: close\r\n${options.extra ?? ''}\r\n`);
    });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('end', () => resolve({ status: Number(text.slice(9, 12)), text }));
    socket.on('error', reject);
  });
}
