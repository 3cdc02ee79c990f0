/** One error responder for the gateway listener: browsers get redirects and HTML, API clients JSON. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PortcullisError, genericMessage, type ErrorCode } from '../errors/errors.js';

export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: PortcullisError, headers: Record<string, string | string[]> = {}): void {
  sendJson(res, error.status, error.toJSON(), { ...(error.headers ?? {}), ...headers });
}

export function sendCode(res: ServerResponse, code: ErrorCode, message?: string, headers: Record<string, string | string[]> = {}): void {
  const error = new PortcullisError(code, message ?? genericMessage(code));
  sendError(res, error, headers);
}

export function redirect(res: ServerResponse, status: 302 | 303, location: string, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { location, 'cache-control': 'no-store', 'content-length': '0', 'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin', ...headers });
  res.end();
}

/**
 * Every gateway page (SPEC 7): scripts only from the gateway's own files (no inline script, no
 * eval), no plugins, no framing, no <base>, forms only to the gateway.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(html)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    ...headers,
  });
  res.end(html);
}

/** A same-origin relative redirect target, or `/` (no open redirects). */
export function safeRedirectTarget(rd: unknown): string {
  if (typeof rd !== 'string' || rd === '' || rd.length > 2048) return '/';
  if (!rd.startsWith('/') || rd.startsWith('//') || rd.startsWith('/\\')) return '/';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(rd)) return '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(rd);
  } catch {
    return '/';
  }
  if (decoded.startsWith('//') || decoded.startsWith('/\\') || /[\u0000-\u001f\u007f]/.test(decoded)) return '/';
  try {
    const base = new URL('http://portcullis.invalid');
    const resolved = new URL(rd, base);
    if (resolved.origin !== base.origin) return '/';
    // Dot segments resolve away: `/.//evil.example/` has the path `//evil.example/`, which a
    // browser reads as another host. What comes out is checked like what went in.
    const path = resolved.pathname;
    if (path.startsWith('//') || path.startsWith('/\\') || decodeURIComponent(path).startsWith('//')) return '/';
    return path + resolved.search;
  } catch {
    return '/';
  }
}
