import type { IncomingMessage, ServerResponse } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { Clock } from '../../core/clock.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { UsageRecorder } from '../usage/recorder.js';
import type { IntrospectionLog } from '../http/plugins/request-log.js';
import { introspectionHandler } from './handler.js';
import { Introspector } from './introspector.js';
import type { IntrospectionLookup } from './lookup.js';

export type { IntrospectionLookup };
export { INTROSPECTION_PATH, isIntrospectionUrl } from './handler.js';

/**
 * The client's address as fastify computes `request.ip` with the same trust list (@fastify/proxy-addr, which fastify
 * itself uses): the socket's, or the nearest address in X-Forwarded-For that is not a trusted proxy.
 */
export function clientAddressOf(trustProxy: string[] | false): (req: IncomingMessage, forwardedFor?: string) => string | undefined {
  if (trustProxy === false) return (req) => req.socket.remoteAddress;
  const trusted = proxyAddr.compile(trustProxy);
  return (req, forwardedFor = req.headers['x-forwarded-for'] as string | undefined) => {
    if (forwardedFor === undefined) return req.socket.remoteAddress;
    // The request as proxy-addr reads it (its socket, its X-Forwarded-For), the header given as the door read it.
    const view: IncomingMessage = Object.create(req, { headers: { value: { 'x-forwarded-for': forwardedFor } } });
    const all = proxyAddr.all(view, trusted);
    return all[all.length - 1];
  };
}

export interface IntrospectionOptions {
  lookup: IntrospectionLookup;
  authenticator: Authenticator;
  clock: Clock;
  recorder: UsageRecorder;
  bodyLimit: number;
  /** Addresses or CIDR ranges of proxies whose X-Forwarded-For is believed (fastify's trustProxy); none: false. */
  trustProxy: string[] | false;
  /** An unexpected failure, for the service's log. */
  failed(error: unknown): void;
  /** Writes a request line (null: request logging is off). */
  logRequest: IntrospectionLog | null;
  /** The service's public URL: answers name the account's issuer URL (null: its urn). */
  publicUrl: string | null;
}

/**
 * RFC 7662 introspection for resource servers: one Introspector (with its one-second memory, swept every second)
 * behind one door, the node:http handler in front of fastify (handler.ts).
 */
export function createIntrospection(o: IntrospectionOptions): {
  /** Answers POST /v1/introspect and returns true, or returns false having touched nothing. */
  handler(closing: () => boolean): (req: IncomingMessage, res: ServerResponse) => boolean;
  stop(): void;
} {
  const introspector = new Introspector(o.lookup, undefined, o.publicUrl);
  const sweeper = setInterval(() => introspector.sweep(), 1_000);
  sweeper.unref();
  return {
    handler: (closing) =>
      introspectionHandler({
        authenticator: o.authenticator,
        bodyLimit: o.bodyLimit,
        clientAddress: clientAddressOf(o.trustProxy),
        closing,
        introspect: (token, principal, address) => {
          const now = o.clock.nowMs();
          const result = introspector.introspect(token, principal.accountId, now);
          // Who presented it, from where, and whether it was draining: counted in memory, written in batches.
          if (result.tokenId !== undefined) o.recorder.recordIntrospection(result.tokenId, now, principal, address, result.draining === true);
          return result;
        },
        nowMs: () => o.clock.nowMs(),
        failed: o.failed,
        logRequest: o.logRequest,
      }),
    stop() {
      clearInterval(sweeper);
    },
  };
}
