import type { FastifyReply, FastifyRequest } from 'fastify';
import { shared } from './shared.js';

/**
 * Headers on every answer of the service: nothing it says (values, listings) may be cached, nor sniffed as another
 * type. As a flat list of names and values, for the answers written without fastify (the introspection fast path,
 * the raw answers to malformed requests). Routes that are public and cacheable (JWKS, OpenAPI) override
 * cache-control.
 */
export const SECURITY_HEADERS = ['cache-control', 'no-store', 'x-content-type-options', 'nosniff', 'referrer-policy', 'no-referrer'] as const;

export const securityHeaders = shared('security-headers', async (app) => {
  // Callback-style (no promise per request): introspection is a hot path.
  app.addHook('onRequest', (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    done();
  });
});
