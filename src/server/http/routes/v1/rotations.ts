import { declarePlugin } from '../../plugins/shared.js';
import type { FastifyInstance } from 'fastify';
import { ADMIN, tokensOf } from '../../plugins/auth.js';
import { routeSchemas } from '../../schemas.js';

/** The rotation journal: start, deliver, complete, abandon (admins). Registered under /v1. */
export async function rotationRoutes(app: FastifyInstance): Promise<void> {
  const view = app.tokenView;

  app.get('/rotations', { schema: routeSchemas.rotations, config: { roles: ADMIN } }, async (request) => ({
    rotations: await tokensOf(request).rotations(),
  }));

  app.post<{ Body: { ref: string; newName?: string } }>('/rotations', { schema: routeSchemas.startRotation, config: { roles: ADMIN } }, async (request, reply) => {
    const { rotation, old, replacement } = await tokensOf(request).startRotation(request.body.ref, { newName: request.body.newName });
    request.log.info({ rotation: rotation.id }, 'rotation started');
    return reply.code(201).send({ rotation, old: view(old), replacement: { token: view(replacement.token), value: replacement.value } });
  });

  app.post<{ Params: { id: string }; Body: { delivery: 'stdout' | 'exec' } }>(
    '/rotations/:id/deliver',
    { schema: routeSchemas.deliverRotation, config: { roles: ADMIN } },
    async (request) => ({
      rotation: await tokensOf(request).markRotationDelivered(request.params.id, request.body.delivery),
    }),
  );

  app.post<{ Params: { id: string }; Body: { confirmation: string } }>(
    '/rotations/:id/complete',
    { schema: routeSchemas.completeRotation, config: { roles: ADMIN } },
    async (request) => {
      const { rotation, old } = await tokensOf(request).completeRotation(request.params.id, request.body.confirmation);
      return { rotation, old: view(old) };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/rotations/:id/abandon',
    { schema: routeSchemas.abandonRotation, config: { roles: ADMIN } },
    async (request) => ({
      rotation: await tokensOf(request).abandonRotation(request.params.id, request.body.reason),
    }),
  );
}
declarePlugin(rotationRoutes, 'v1 rotations', { plugins: ['service', 'auth', 'errors'], decorators: { fastify: ['accounts', 'tokenView'], request: ['principal'] } });
