import type http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { errorBody } from './errors.js';
import { SECURITY_HEADERS } from './security-headers.js';
import { isHeader } from '../header-names.js';

/**
 * Bounds on what one connection may hold, beyond Node's own timeouts (headers, request, keep-alive, which app.ts
 * passes to the server):
 * - at most `maxConnections` open at once (Node closes the others as soon as they are accepted);
 * - at most `maxRequestsInFlight` requests unanswered on one connection: a client that pipelines more without
 *   reading the answers is disconnected (every answer waiting to be sent holds memory);
 * - a connection whose answers the client has not read for `unreadResponseTimeoutMs` (its writes blocked,
 *   needDrain, all that time) is closed.
 * Checked every `checkEveryMs` (a sweep over open connections, no timer per connection or request).
 * Also: an HTTP/1.1 request without a Host header gets the service's error body (Node would send an empty 400).
 */
export interface ConnectionBounds {
  maxConnections: number;
  maxRequestsInFlight: number;
  unreadResponseTimeoutMs: number;
  checkEveryMs: number;
}

const STATE = Symbol('tokenctl.connection');

interface ConnectionState {
  inFlight: number;
  /** When its writes were first seen blocked (ms), 0 when they are not. */
  blockedSince: number;
  /** Bytes the kernel had taken at the last sweep. */
  sentAtLastSweep: number;
}

type TrackedSocket = Socket & { [STATE]?: ConnectionState };

function onResponseClose(this: http.ServerResponse): void {
  const state = (this.req.socket as TrackedSocket)[STATE];
  if (state !== undefined) state.inFlight--;
}

function onDrain(this: TrackedSocket): void {
  const state = this[STATE];
  if (state !== undefined) state.blockedSince = 0;
}

/** Whether the raw headers have a Host (read from the raw list: `req.headers` is built only when asked, which costs). */
function hasHost(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (isHeader(raw[i]!, 'host', 'Host')) return true;
  return false;
}

const NO_HOST = JSON.stringify(errorBody('usage', 'malformed HTTP request: an HTTP/1.1 request needs a Host header'));

export function boundConnections(
  server: http.Server,
  bounds: ConnectionBounds,
  log: FastifyBaseLogger,
): {
  /** For the server's request listener: true when the request was refused (answered or its connection closed). */
  refuse(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  stop(): void;
} {
  const open = new Set<TrackedSocket>();
  server.maxConnections = bounds.maxConnections;
  server.on('connection', (socket: TrackedSocket) => {
    socket[STATE] = { inFlight: 0, blockedSince: 0, sentAtLastSweep: -1 };
    open.add(socket);
    socket.on('drain', onDrain);
    socket.once('close', () => open.delete(socket));
  });

  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const socket of open) {
      const state = socket[STATE]!;
      // Blocked: answers wait to be written and none of them went out since the last sweep. Not `writableNeedDrain`:
      // from Node.js 22 the buffer's high-water mark (64 KiB) exceeds one answer, and the server stops answering
      // pipelined requests as soon as one answer waits, so the flag may never be set.
      // bytesWritten counts what is queued too: the difference is what the kernel took.
      const sent = socket.bytesWritten - socket.writableLength;
      const stuck = socket.writableLength > 0 && sent === state.sentAtLastSweep;
      state.sentAtLastSweep = sent;
      if (!stuck) state.blockedSince = 0;
      else if (state.blockedSince === 0) state.blockedSince = now;
      else if (now - state.blockedSince >= bounds.unreadResponseTimeoutMs) {
        log.warn({ inFlight: state.inFlight }, `connection closed: its client has not read the answers for ${Math.round((now - state.blockedSince) / 1000)} s`);
        socket.destroy();
      }
    }
  }, bounds.checkEveryMs);
  sweeper.unref();

  return {
    refuse(req, res) {
      const socket = req.socket as TrackedSocket;
      const state = socket[STATE];
      if (state !== undefined) {
        if (++state.inFlight > bounds.maxRequestsInFlight) {
          if (!socket.destroyed) log.warn(`connection closed: more than ${bounds.maxRequestsInFlight} requests in flight on it (pipelined without reading the answers)`);
          socket.destroy();
          return true;
        }
        // on, not once (no wrapper made per request): a response closes once.
        res.on('close', onResponseClose);
      }
      if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && !hasHost(req.rawHeaders)) {
        res.writeHead(400, [...SECURITY_HEADERS, 'content-type', 'application/json; charset=utf-8', 'content-length', String(NO_HOST.length), 'connection', 'close']);
        res.end(NO_HOST);
        return true;
      }
      return false;
    },
    stop() {
      clearInterval(sweeper);
    },
  };
}
