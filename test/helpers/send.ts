/**
 * One request through node:http with the body and framing exactly as given: a Content-Length
 * for a whole body, or `chunked` (the body then written in two chunks, so Node frames it chunked).
 */
import { request } from 'node:http';

export interface SendOptions {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer | string;
  chunked?: boolean;
}

export function send(url: string, options: SendOptions): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const target = new URL(url);
  const length = options.body !== undefined && !options.chunked ? { 'content-length': String(Buffer.byteLength(options.body)) } : {};
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: target.port, method: options.method, path: options.path, headers: { ...length, ...options.headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (options.body !== undefined) {
      const body = Buffer.from(options.body);
      if (options.chunked) {
        req.write(body.subarray(0, Math.min(5, body.length)));
        req.write(body.subarray(Math.min(5, body.length)));
      } else req.write(body);
    }
    req.end();
  });
}
