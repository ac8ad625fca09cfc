import type { FastifyInstance } from 'fastify';
import { parseTokenType } from '../../../../core/tokens.js';
import { accountOf, actorOfRequest as actor, ADMIN } from '../../../plugins/auth.js';
import { routeSchemas } from '../../../schemas.js';

/**
 * Token management, admins only (the spec: "Only admins can view and manage tokens"). Registered under /v1.
 * Changes are logged by token id, never by value.
 */
export async function tokenRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock } = app;
  const view = app.tokenView;

  app.get('/tokens', { schema: routeSchemas.list, config: { roles: ADMIN } }, async (request) => ({
    tokens: store.listTokens(accountOf(request)).map(view),
  }));

  app.post<{ Body: { type: string; name: string } }>('/tokens', { schema: routeSchemas.create, config: { roles: ADMIN } }, async (request, reply) => {
    const { token, value } = await store.createToken(accountOf(request), { type: parseTokenType(request.body.type), name: request.body.name }, actor(request), clock.now());
    request.log.info({ tokenId: token.id, type: token.type }, 'token created');
    return reply.code(201).send({ token: view(token), value });
  });

  app.get<{ Params: { ref: string } }>('/tokens/:ref', { schema: routeSchemas.get, config: { roles: ADMIN } }, async (request) => ({
    token: view(store.findToken(accountOf(request), request.params.ref)),
  }));

  app.post<{ Params: { ref: string }; Body: { allowPending?: boolean } }>(
    '/tokens/:ref/reveal',
    { schema: routeSchemas.reveal, config: { roles: ADMIN } },
    async (request) => {
      const { token, value } = store.revealToken(accountOf(request), request.params.ref, request.body?.allowPending === true, actor(request), clock.now());
      request.log.info({ tokenId: token.id }, 'token value revealed');
      return { token: view(token), value };
    },
  );

  app.patch<{ Params: { ref: string }; Body: { name: string } }>('/tokens/:ref', { schema: routeSchemas.rename, config: { roles: ADMIN } }, async (request) => {
    const token = store.renameToken(accountOf(request), request.params.ref, request.body.name, actor(request), clock.now());
    request.log.info({ tokenId: token.id }, 'token renamed');
    return { token: view(token) };
  });

  app.delete<{ Params: { ref: string }; Body: { confirmation: string } }>('/tokens/:ref', { schema: routeSchemas.delete, config: { roles: ADMIN } }, async (request) => {
    const token = store.deleteToken(accountOf(request), request.params.ref, request.body.confirmation, actor(request), clock.now());
    request.log.info({ tokenId: token.id }, 'token deleted');
    return { token: view(token) };
  });

  app.post<{ Body: { value: string } }>('/identify', { schema: routeSchemas.identify, config: { roles: ADMIN } }, async (request) => {
    const token = store.identify(accountOf(request), request.body.value);
    return { token: token ? view(token) : null };
  });
}
