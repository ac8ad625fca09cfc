import { declarePlugin } from '../../plugins/shared.js';
import type { FastifyInstance } from 'fastify';
import { parseTokenType } from '../../../../core/tokens.js';
import { ADMIN, tokensOf } from '../../plugins/auth.js';
import { routeSchemas } from '../../schemas.js';

/**
 * Token management, admins only (the spec: "Only admins can view and manage tokens"). Registered under /v1.
 * Changes are logged by token id, never by value.
 */
export async function tokenRoutes(app: FastifyInstance): Promise<void> {
  const view = app.tokenView;

  app.get('/tokens', { schema: routeSchemas.list, config: { roles: ADMIN } }, async (request) => ({
    tokens: (await tokensOf(request).list()).map(view),
  }));

  app.post<{ Body: { type: string; name: string } }>('/tokens', { schema: routeSchemas.create, config: { roles: ADMIN } }, async (request, reply) => {
    const { token, value } = await tokensOf(request).create({ type: parseTokenType(request.body.type), name: request.body.name });
    request.log.info({ tokenId: token.id, type: token.type }, 'token created');
    return reply.code(201).send({ token: view(token), value });
  });

  app.get<{ Params: { ref: string } }>('/tokens/:ref', { schema: routeSchemas.get, config: { roles: ADMIN } }, async (request) => ({
    token: view(await tokensOf(request).find(request.params.ref)),
  }));

  app.post<{ Params: { ref: string }; Body: { allowPending?: boolean } }>(
    '/tokens/:ref/reveal',
    { schema: routeSchemas.reveal, config: { roles: ADMIN } },
    async (request) => {
      // Recorded as a retrieval (who holds the value, from where), as the page's Copy is: app.revealValue.
      const { token, value } = await app.revealValue(request.principal!, request.params.ref, { allowPending: request.body?.allowPending === true }, request.ip ?? '');
      request.log.info({ tokenId: token.id }, 'token value revealed');
      return { token: view(token), value };
    },
  );

  app.patch<{ Params: { ref: string }; Body: { name: string } }>('/tokens/:ref', { schema: routeSchemas.rename, config: { roles: ADMIN } }, async (request) => {
    const token = await tokensOf(request).rename(request.params.ref, request.body.name);
    request.log.info({ tokenId: token.id }, 'token renamed');
    return { token: view(token) };
  });

  app.delete<{ Params: { ref: string }; Body: { confirmation: string } }>('/tokens/:ref', { schema: routeSchemas.delete, config: { roles: ADMIN } }, async (request) => {
    const token = await tokensOf(request).delete(request.params.ref, request.body.confirmation);
    request.log.info({ tokenId: token.id }, 'token deleted');
    return { token: view(token) };
  });

  app.post<{ Body: { value: string } }>('/identify', { schema: routeSchemas.identify, config: { roles: ADMIN } }, async (request) => {
    const token = await tokensOf(request).identify(request.body.value);
    return { token: token ? view(token) : null };
  });
}
declarePlugin(tokenRoutes, 'v1 tokens', { plugins: ['service', 'auth', 'errors'], decorators: { fastify: ['accounts', 'tokenView', 'revealValue'], request: ['principal'] } });
