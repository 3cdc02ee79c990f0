/**
 * The keep-alive agent of one route, and the route's timeout on it: on the sockets while they
 * serve a request, and on a request that waits in the agent's queue for a socket.
 */
import * as http from 'node:http';
import type { ClientRequest } from 'node:http';
import * as https from 'node:https';
import { Socket } from 'node:net';

/** The error code of an upstream timeout; the forwarder answers it with 504. */
export const UPSTREAM_TIMEOUT = 'PORTCULLIS_UPSTREAM_TIMEOUT';

/** The error an upstream timeout destroys its connection (or its queued request) with. */
export function upstreamTimeout(message: string): Error {
  return Object.assign(new Error(message), { code: UPSTREAM_TIMEOUT });
}

interface TimedAgentOptions {
  secure: boolean;
  timeoutMs: number;
  /** Connections to the upstream at once; further requests wait in the agent's queue. */
  maxSockets?: number;
}

type AddRequest = (req: ClientRequest, options: object) => void;
type Queues = Record<string, ClientRequest[] | undefined>;
type Pools = Record<string, Socket[] | undefined>;

/**
 * A keep-alive agent whose sockets time out after `timeoutMs` without activity while they
 * serve a request: connecting, sending, waiting for the answer and reading it. The timeout is
 * set when a socket is made and again when a pooled socket is taken for a request (Node clears
 * it when the socket goes back to the pool), and one listener per socket destroys it with an
 * upstream-timeout error, which reaches http-proxy's error path like any other failure. This
 * replaces http-proxy's `proxyTimeout`, which armed a timer and four listeners and closures
 * per request.
 *
 * A request that finds every socket busy (maxSockets answers in progress, such as long polls
 * or event streams) waits in the agent's queue; it gets the route timeout there too and fails
 * with an upstream-timeout error when no socket was free in time. Only such a request pays for
 * a timer: addRequest either hands a socket over at once (reuseSocket or createConnection,
 * both called synchronously from it) or queues the request, and a flag set by those two says
 * which it was.
 */
export function timedAgent({ secure, timeoutMs, maxSockets = 1024 }: TimedAgentOptions): http.Agent {
  const options = { keepAlive: true, keepAliveMsecs: 1000, maxSockets, maxFreeSockets: 256, scheduling: 'lifo' as const };
  const agent = secure ? new https.Agent(options) : new http.Agent(options);
  const createConnection = agent.createConnection.bind(agent) as http.Agent['createConnection'];
  const reuseSocket = agent.reuseSocket.bind(agent);
  const open = agent as unknown as { addRequest: AddRequest; requests: Queues };
  const addRequest = open.addRequest.bind(agent);
  let assigned = false;
  agent.createConnection = (connectOptions, callback) => {
    assigned = true;
    const socket = createConnection(connectOptions, callback);
    if (socket instanceof Socket) {
      socket.setTimeout(timeoutMs);
      socket.on('timeout', () => socket.destroy(upstreamTimeout(`upstream sent nothing for ${timeoutMs} ms`)));
    }
    return socket;
  };
  agent.reuseSocket = (socket, req) => {
    assigned = true;
    reuseSocket(socket, req);
    if (socket instanceof Socket && socket.timeout !== timeoutMs) socket.setTimeout(timeoutMs);
  };
  const pools = (agent as unknown as { sockets: Pools }).sockets;
  open.addRequest = (req, requestOptions) => {
    assigned = false;
    if (secure) addRequest(req, requestOptions);
    else {
      const connect = connectionOptions(requestOptions as ConnectionOptions);
      keepPool(pools, agent.getName(connect));
      addRequest(req, connect);
    }
    if (!assigned) queueDeadline(open.requests, req, timeoutMs);
  };
  return agent;
}

/**
 * Adds the pool's (empty) list of busy sockets before Node's `addRequest` looks for it, which is
 * the first thing `addRequest` does itself when the list is missing (it deletes a list when its
 * last socket goes back to the free pool, so under steady load it is missing every few dozen
 * requests). Added there, the keyed store changes the state of its inline cache each time, and
 * V8 restarts counting that function's calls towards optimisation on every such change: Node's
 * `addRequest` then never leaves baseline code (`--trace-opt-verbose`: "resetting ticks ... due
 * to IC change", over and over). Added here, Node's code only ever finds the list, and it is
 * optimised like the rest of the request path. The list and its name are the ones Node would
 * use: the agent's own options, which Node merges over the request's before naming the pool,
 * hold nothing the name is made of (host, port, local address, family, socket path).
 */
function keepPool(pools: Pools, name: string): void {
  if (pools[name] === undefined) pools[name] = [];
}

/** What a plain-HTTP agent reads of a request's options: where to connect, and from where. */
interface ConnectionOptions {
  host?: string;
  port?: number | string;
  localAddress?: string;
  family?: number;
  socketPath?: string;
  timeout?: number;
  lookup?: unknown;
}

/**
 * The part of a request's options a plain-HTTP agent uses (the pool name and the connection),
 * as a small object. Node's agent copies the options it is given, with its own, into a fresh
 * dictionary on every request; ClientRequest hands it all of them (method, headers, path,
 * agent and the TLS fields http-proxy sets to undefined), and that copy was the largest single
 * cost of Node's agent per request. `servername: ''` skips working out a TLS server name from
 * the Host header, which a plain connection never sends. Options this does not know (a Unix
 * socket, a custom lookup) are passed on whole.
 */
function connectionOptions(options: ConnectionOptions): object {
  if (options.socketPath !== undefined || options.lookup !== undefined) return options;
  return { host: options.host, port: options.port, localAddress: options.localAddress, family: options.family, timeout: options.timeout, servername: '' };
}

/**
 * Fails a queued request that is still waiting after `timeoutMs`. It is taken out of the queue
 * first (a destroyed request left there would only fail once a socket came free), then failed
 * the way Node's agent fails a request it could not connect (onSocket with an error): 'error'
 * and 'close' follow on the next tick. A request that went away meanwhile (client gone) is only
 * taken out of the queue.
 */
function queueDeadline(queues: Queues, req: ClientRequest, timeoutMs: number): void {
  const timer = setTimeout(() => {
    if (!dequeue(queues, req) || req.destroyed) return;
    (req as unknown as { onSocket(socket: undefined, err: Error): void }).onSocket(undefined, upstreamTimeout(`no connection to the upstream came free within ${timeoutMs} ms`));
  }, timeoutMs);
  // The listener and the client keep the process alive while the request matters; this timer must not hold up an exit.
  timer.unref();
  req.once('socket', () => clearTimeout(timer));
}

/** Removes a request from the agent's queues; false when it is in none (it got a socket). */
function dequeue(queues: Queues, req: ClientRequest): boolean {
  for (const name in queues) {
    const queue = queues[name];
    const index = queue === undefined ? -1 : queue.indexOf(req);
    if (queue === undefined || index === -1) continue;
    queue.splice(index, 1);
    if (queue.length === 0) delete queues[name];
    return true;
  }
  return false;
}
