import type { FastifyInstance } from 'fastify';
import { accountOf, actorOfRequest as actor, ADMIN } from '../../../plugins/auth.js';
import { routeSchemas } from '../../../schemas.js';

/** The rotation journal: start, deliver, complete, abandon (admins). Registered under /v1. */
export async function rotationRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock } = app;
  const view = app.tokenView;

  app.get('/rotations', { schema: routeSchemas.rotations, config: { roles: ADMIN } }, async (request) => ({
    rotations: store.rotations(accountOf(request)),
  }));

  app.post<{ Body: { ref: string; newName?: string } }>('/rotations', { schema: routeSchemas.startRotation, config: { roles: ADMIN } }, async (request, reply) => {
    const { rotation, old, replacement } = await store.startRotation(accountOf(request), request.body.ref, { newName: request.body.newName }, actor(request), clock.now());
    request.log.info({ rotation: rotation.id }, 'rotation started');
    return reply.code(201).send({ rotation, old: view(old), replacement: { token: view(replacement.token), value: replacement.value } });
  });

  app.post<{ Params: { id: string }; Body: { delivery: 'stdout' | 'exec' } }>(
    '/rotations/:id/deliver',
    { schema: routeSchemas.deliverRotation, config: { roles: ADMIN } },
    async (request) => ({
      rotation: store.markRotationDelivered(accountOf(request), request.params.id, request.body.delivery, actor(request), clock.now()),
    }),
  );

  app.post<{ Params: { id: string }; Body: { confirmation: string } }>(
    '/rotations/:id/complete',
    { schema: routeSchemas.completeRotation, config: { roles: ADMIN } },
    async (request) => {
      const { rotation, old } = store.completeRotation(accountOf(request), request.params.id, request.body.confirmation, actor(request), clock.now());
      return { rotation, old: view(old) };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/rotations/:id/abandon',
    { schema: routeSchemas.abandonRotation, config: { roles: ADMIN } },
    async (request) => ({
      rotation: store.abandonRotation(accountOf(request), request.params.id, request.body.reason, actor(request), clock.now()),
    }),
  );
}
