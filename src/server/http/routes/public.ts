import { declarePlugin } from '../plugins/shared.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { readOpenApiDocument } from '../openapi.js';
import { errorBody } from '../plugins/errors.js';
import { routeSchemas } from '../schemas.js';

/** Routes anyone may call: liveness and readiness, the public signing keys (JWKS) and the API description. */
export async function publicRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready: the storage can serve (from what it knows, at once) and the memory has not been out of step with it for
  // more than a few seconds. Liveness (/healthz) does not depend on it.
  app.get('/readyz', { schema: routeSchemas.ready }, async (_request, reply) => {
    if ((await app.storage.ready()) && app.memory.ready) return { status: 'ready' as const };
    return reply
      .code(503)
      .header('retry-after', '2')
      .send(errorBody('unavailable', 'the token service cannot reach its database now; introspection of known values still works, changes do not'));
  });

  app.get('/.well-known/jwks.json', { schema: routeSchemas.jwks }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return { keys: app.memory.signingKeys().map((k) => k.publicJwk) };
  });

  const openapi = async (_request: unknown, reply: FastifyReply) => {
    reply.header('cache-control', 'public, max-age=300').type('application/yaml; charset=utf-8');
    return readOpenApiDocument();
  };
  app.get('/openapi.yaml', openapi);
  app.get('/v1/openapi.yaml', openapi);
}
declarePlugin(publicRoutes, 'public', { plugins: ['service', 'errors'], decorators: { fastify: ['storage', 'memory'] } });
