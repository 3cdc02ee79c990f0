/** builtin:echo — answers with JSON of the method, path, query and headers it received. */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { inspectedBodyOf } from './request-body.js';

/** `headers`: what an upstream would have received (the gateway's, not the client's req.headers). */
export function echo(req: IncomingMessage, res: ServerResponse, headers: IncomingHttpHeaders): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let size = 0;
  const answer = (): void => {
    const body = JSON.stringify({
      method: req.method,
      path: q === -1 ? url : url.slice(0, q),
      query: q === -1 ? '' : url.slice(q + 1),
      headers,
      body_bytes: size,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
  // A body the gateway read already (a form checked for _method): the stream has ended.
  const inspected = inspectedBodyOf(req);
  if (inspected !== undefined) {
    size = inspected.length;
    answer();
    return;
  }
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
  });
  req.on('end', answer);
}
