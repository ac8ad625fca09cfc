import { declarePlugin } from '../../plugins/shared.js';
import type { FastifyInstance } from 'fastify';
import { ADMIN } from '../../plugins/auth.js';
import { routeSchemas } from '../../schemas.js';

/**
 * The account's webhook endpoints (admins), for signed notifications (Standard Webhooks). Registered under /v1. The
 * `whsec_` secret is in the answer that adds an endpoint, and never again. The URL is checked at once (https://,
 * addresses the operator allows); the delivery log is per endpoint.
 */
export async function webhookRoutes(app: FastifyInstance): Promise<void> {
  app.get('/webhooks', { schema: routeSchemas.listWebhooks, config: { roles: ADMIN } }, async (request) => ({
    webhooks: await app.webhooks.list(request.principal!),
  }));

  app.post<{ Body: { url: string; events?: string[]; description?: string } }>(
    '/webhooks',
    { schema: routeSchemas.addWebhook, config: { roles: ADMIN } },
    async (request, reply) => {
      const { webhook, secret } = await app.webhooks.add(request.principal!, request.body);
      request.log.info({ webhook: webhook.id }, 'webhook endpoint added');
      return reply.code(201).send({ webhook, secret });
    },
  );

  app.delete<{ Params: { id: string } }>('/webhooks/:id', { schema: routeSchemas.removeWebhook, config: { roles: ADMIN } }, async (request) => {
    const webhook = await app.webhooks.remove(request.principal!, request.params.id);
    request.log.info({ webhook: webhook.id }, 'webhook endpoint removed');
    return { webhook };
  });

  app.post<{ Params: { id: string } }>('/webhooks/:id/test', { schema: routeSchemas.testWebhook, config: { roles: ADMIN } }, async (request, reply) =>
    reply.code(202).send(await app.webhooks.test(request.principal!, request.params.id)),
  );

  app.get<{ Params: { id: string } }>('/webhooks/:id/attempts', { schema: routeSchemas.webhookAttempts, config: { roles: ADMIN } }, async (request) => ({
    attempts: await app.webhooks.attempts(request.principal!, request.params.id),
  }));
}
declarePlugin(webhookRoutes, 'v1 webhooks', { plugins: ['service', 'auth', 'errors'], decorators: { fastify: ['webhooks'], request: ['principal'] } });
