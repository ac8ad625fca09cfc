import type { IncomingMessage, ServerResponse } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Clock } from '../../core/clock.js';
import type { FailedAuthLimiter } from '../auth-limiter.js';
import type { LastUsedRecorder } from '../last-used.js';
import { INTROSPECTORS } from '../plugins/auth.js';
import { acceptFormBodies } from '../plugins/shared.js';
import type { RequestLine } from '../plugins/request-log.js';
import { routeSchemas } from '../schemas.js';
import { introspectionFastPath } from './fast-path.js';
import { Introspector, type IntrospectionAnswer } from './introspector.js';
import type { IntrospectionLookup } from './lookup.js';

export type { IntrospectionLookup };

/**
 * The client's address as fastify computes `request.ip` with the same trust list (@fastify/proxy-addr, which fastify
 * itself uses): the socket's, or the nearest address in X-Forwarded-For that is not a trusted proxy.
 */
export function clientAddressOf(trustProxy: string[] | false): (req: IncomingMessage) => string | undefined {
  if (trustProxy === false) return (req) => req.socket.remoteAddress;
  const trusted = proxyAddr.compile(trustProxy);
  return (req) => {
    if (req.headers['x-forwarded-for'] === undefined) return req.socket.remoteAddress;
    const all = proxyAddr.all(req, trusted);
    return all[all.length - 1];
  };
}

export interface IntrospectionOptions {
  lookup: IntrospectionLookup;
  clock: Clock;
  recorder: LastUsedRecorder;
  limiter: FailedAuthLimiter;
  bodyLimit: number;
  /** Addresses or CIDR ranges of proxies whose X-Forwarded-For is believed (fastify's trustProxy); none: false. */
  trustProxy: string[] | false;
  log: FastifyBaseLogger;
  /** Whether request lines are written (plugins/request-log.ts): the fast path writes its own. */
  logRequests: boolean;
}

/**
 * RFC 7662 introspection for resource servers: one Introspector (with its one-second memory, swept every second)
 * behind two doors that answer alike: the fastify route, and the fast path in front of fastify for the request
 * shape resource servers send all day (fast-path.ts; test/server/fast-introspect.test.ts keeps them equal).
 */
export function createIntrospection(o: IntrospectionOptions): {
  /** The fastify route, POST /introspect (registered under /v1). */
  routes(app: FastifyInstance): Promise<void>;
  /** Answers a well-formed request straight from node:http and returns true, or returns false having touched nothing. */
  fastPath(closing: () => boolean): (req: IncomingMessage, res: ServerResponse) => boolean;
  stop(): void;
} {
  const introspector = new Introspector(o.lookup);
  const sweeper = setInterval(() => introspector.sweep(), 1_000);
  sweeper.unref();

  const answer = (token: string, accountId: string): IntrospectionAnswer => {
    const now = o.clock.now();
    const result = introspector.introspect(token, accountId, now);
    if (result.tokenId !== undefined) o.recorder.record(result.tokenId, now);
    return result;
  };

  return {
    async routes(app) {
      acceptFormBodies(app);
      app.post<{ Body: { token: string } }>('/introspect', { schema: routeSchemas.introspect, config: { roles: INTROSPECTORS } }, async (request) =>
        answer(request.body.token, request.principal!.accountId).response,
      );
    },
    fastPath(closing) {
      let fastRequests = 0;
      return introspectionFastPath({
        bodyLimit: o.bodyLimit,
        clientAddress: clientAddressOf(o.trustProxy),
        closing,
        retryAfterSeconds: (address) => o.limiter.retryAfterSeconds(address),
        lookup: o.lookup,
        roles: INTROSPECTORS,
        introspect: (token, principal) => answer(token, principal.accountId).json,
        failed: (error) => o.log.error({ err: error }, 'request failed'),
        logRequest: o.logRequests ? (line: RequestLine) => o.log.info({ reqId: `fast-${++fastRequests}`, ...line }, 'request') : null,
      });
    },
    stop() {
      clearInterval(sweeper);
    },
  };
}
