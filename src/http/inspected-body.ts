/**
 * A request body the gateway reads before forwarding it (a form body checked for `_method`,
 * SPEC 5): at most `limit` bytes, kept as sent, so that the upstream receives it byte-identical
 * with the request's own framing. Only requests that need it pay for it: every other body stays
 * streamed.
 */
import type { IncomingMessage } from 'node:http';

/** `consumed`: part of the body was read before the refusal, so the request can no longer be forwarded. */
export type InspectedBody = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'encoded' | 'aborted'; consumed: boolean };

/** Whether the request has a body by HTTP's framing (a length above zero, or chunked). */
export function carriesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Whether the request carries a form body (URL-encoded or multipart), which backends parse for `_method`. */
export function carriesForm(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !carriesBody(req)) return false;
  return /^\s*(application\/x-www-form-urlencoded|multipart\/form-data)\s*(;|$)/i.test(type);
}

/**
 * Reads the whole body, or refuses: longer than `limit` (judged from Content-Length before any
 * byte is read when it has one), compressed (a backend would inflate what the gateway cannot
 * judge), or ended by the client before its end.
 */
export function readInspectedBody(req: IncomingMessage, limit: number): Promise<InspectedBody> {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return Promise.resolve({ ok: false, reason: 'encoded', consumed: false });
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.resolve({ ok: false, reason: 'too_large', consumed: false });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: InspectedBody): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish({ ok: false, reason: 'too_large', consumed: true });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish({ ok: true, body: Buffer.concat(chunks, size) });
    const onClose = (): void => finish({ ok: false, reason: 'aborted', consumed: true });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}
