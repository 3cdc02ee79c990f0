/**
 * One bounded HTTP exchange for the CLI: the whole exchange (answer and body) within a time
 * limit, the body read up to a size limit, and the body parsed as JSON without ever throwing.
 * It reports what happened and leaves the wording and exit codes to the caller: the status of
 * an answer is known even when its body is HTML from a front proxy, too large or too slow.
 */

/** A gateway's JSON answers are small; a body past this is not one of them. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Long enough for an LDAP login behind a slow link, short enough that a script does not hang. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export type Body = { kind: 'json'; value: unknown } | { kind: 'empty' } | { kind: 'not_json' } | { kind: 'too_large' } | { kind: 'timeout' };

export type Exchange = { kind: 'answer'; status: number; headers: Headers; body: Body } | { kind: 'unreachable'; reason: string } | { kind: 'timeout' };

export interface ExchangeOptions {
  timeoutMs?: number;
  maxBodyBytes?: number;
  /** For tests: a fetch that answers without a network. */
  fetch?: typeof fetch;
}

export async function exchange(url: URL, init: RequestInit, options: ExchangeOptions = {}): Promise<Exchange> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const controller = new AbortController();
  // Rejects when the time is up, whatever the fetch implementation does with the signal.
  const expired = new Promise<never>((_resolve, reject) => {
    controller.signal.addEventListener('abort', () => reject(new TimeoutSignal()), { once: true });
  });
  expired.catch(() => undefined);
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    let response: Response;
    try {
      response = await Promise.race([(options.fetch ?? fetch)(url, { ...init, redirect: 'error', signal: controller.signal }), expired]);
    } catch (err) {
      if (controller.signal.aborted) return { kind: 'timeout' };
      return { kind: 'unreachable', reason: describeNetworkError(err) };
    }
    const body = await readBody(response, maxBodyBytes, expired, () => controller.signal.aborted);
    return { kind: 'answer', status: response.status, headers: response.headers, body };
  } finally {
    clearTimeout(timer);
    // Stops whatever is still arriving (a body past the limit, one we gave up on).
    controller.abort();
  }
}

class TimeoutSignal extends Error {}

async function readBody(response: Response, maxBodyBytes: number, expired: Promise<never>, timedOut: () => boolean): Promise<Body> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBodyBytes) {
    await response.body?.cancel().catch(() => undefined);
    return { kind: 'too_large' };
  }
  if (!response.body) return { kind: 'empty' };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]);
      if (done) break;
      size += value.byteLength;
      if (size > maxBodyBytes) return { kind: 'too_large' };
      chunks.push(value);
    }
  } catch {
    return timedOut() ? { kind: 'timeout' } : { kind: 'not_json' };
  } finally {
    reader.cancel().catch(() => undefined);
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks));
  if (text.trim() === '') return { kind: 'empty' };
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch {
    return { kind: 'not_json' };
  }
}

/** fetch says only "fetch failed"; the cause says why (ECONNREFUSED, a redirect, a TLS error). */
function describeNetworkError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause && cause !== message ? `${message} (${cause})` : message;
}

/** What a body that is not the expected JSON was, for a message: "a body that is not JSON". */
export function describeBody(body: Body, timeoutMs = DEFAULT_TIMEOUT_MS): string {
  switch (body.kind) {
    case 'json':
      return 'a JSON body';
    case 'empty':
      return 'an empty body';
    case 'not_json':
      return 'a body that is not JSON';
    case 'too_large':
      return `a body larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB`;
    case 'timeout':
      return `a body that did not arrive within ${timeoutMs / 1000}s`;
  }
}
