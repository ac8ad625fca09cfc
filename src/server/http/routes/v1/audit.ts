import { declarePlugin } from '../../plugins/shared.js';
import type { FastifyInstance } from 'fastify';
import { ADMIN, tokensOf } from '../../plugins/auth.js';
import { routeSchemas } from '../../schemas.js';

/** The account's audit trail and its verification (admins). Registered under /v1. */
export async function auditRoutes(app: FastifyInstance): Promise<void> {
  app.get('/audit/events', { schema: routeSchemas.auditEvents, config: { roles: ADMIN } }, async (request) => ({
    events: await tokensOf(request).auditEvents(),
  }));

  app.get('/audit/verify', { schema: routeSchemas.auditVerify, config: { roles: ADMIN } }, async (request) => tokensOf(request).verifyAuditTrail());
}
declarePlugin(auditRoutes, 'v1 audit', { plugins: ['service', 'auth', 'errors'], decorators: { fastify: ['accounts', 'tokenView'], request: ['principal'] } });
