/**
 * What a forwarded request sends its upstream after the head.
 *
 * http-proxy's `stream` pass ends with `(options.buffer || req).pipe(proxyReq)`: even a request
 * without a body (almost every GET) is piped, which adds and later removes about ten listeners
 * on the two streams and allocates the pipe's state, on every request. Every route's proxy
 * instead gets REQUEST_BODY as its `buffer`, which the forwarder points at the request it is
 * forwarding, synchronously around `proxy.web` (REQUEST_BODY.around). A request whose upstream head
 * gives it a body (Content-Length or Transfer-Encoding in the list the upstream receives) is
 * piped as before; one without is ended at once: by HTTP's framing such a request has no body,
 * and whatever the client sends after its head is its next request, which Node parses as one.
 * A request no one read is drained by Node when its response finishes.
 *
 * Deciding by the upstream's head, not the client's, also means no byte of a body can reach an
 * upstream that was not told how long it is.
 */
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';

const INSPECTED = Symbol('portcullis.inspectedBody');
type Inspected = IncomingMessage & { [INSPECTED]?: Buffer };

/**
 * Marks a request whose body the gateway has read (http/inspected-body.ts): the upstream gets
 * these bytes, as read, instead of the request stream (which has ended).
 */
export function setInspectedBody(req: IncomingMessage, body: Buffer): void {
  (req as Inspected)[INSPECTED] = body;
}

/** The body the gateway read from the request, or undefined when it is still to be streamed. */
export function inspectedBodyOf(req: IncomingMessage): Buffer | undefined {
  return (req as Inspected)[INSPECTED];
}

class RequestBody {
  private current: IncomingMessage | undefined;
  private hasBody = false;

  /** Called by http-proxy's stream pass with the upstream request, once per forwarded request. */
  pipe<T extends Writable>(upstream: T): T {
    const req = this.current;
    this.current = undefined;
    // Fail closed: piped outside around(), there is no request to tell what to send.
    if (req === undefined) {
      upstream.destroy();
      throw new Error('http-proxy piped a request body outside the forwarder');
    }
    if (!this.hasBody) upstream.end();
    else {
      const inspected = inspectedBodyOf(req);
      if (inspected === undefined) return req.pipe(upstream);
      upstream.end(inspected);
    }
    return upstream;
  }

  /** Runs `forward` (which must call http-proxy's web synchronously) with `req` as the body source. */
  around(req: IncomingMessage, hasBody: boolean, forward: () => void): void {
    this.current = req;
    this.hasBody = hasBody;
    try {
      forward();
    } finally {
      this.current = undefined;
    }
  }
}

/** A route proxy's `buffer` option: see the module comment. One for all routes (forwarding is synchronous). */
export const REQUEST_BODY = new RequestBody();
