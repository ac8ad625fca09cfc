import type { FastifyInstance, FastifyReply } from 'fastify';
import { readOpenApiDocument } from '../openapi.js';
import { routeSchemas } from '../schemas.js';

/** Routes anyone may call: health, the public signing keys (JWKS) and the API description. */
export async function publicRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/.well-known/jwks.json', { schema: routeSchemas.jwks }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return { keys: app.store.signingKeys().map((k) => k.publicJwk) };
  });

  const openapi = async (_request: unknown, reply: FastifyReply) => {
    reply.header('cache-control', 'public, max-age=300').type('application/yaml; charset=utf-8');
    return readOpenApiDocument();
  };
  app.get('/openapi.yaml', openapi);
  app.get('/v1/openapi.yaml', openapi);
}
