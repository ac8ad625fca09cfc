import { declarePlugin } from '../../plugins/shared.js';
import type { FastifyInstance } from 'fastify';
import { resolveTokenForUsage } from '../../../../core/usage.js';
import { ADMIN, tokensOf } from '../../plugins/auth.js';
import { routeSchemas } from '../../schemas.js';

/**
 * Who still depends on a token (admins). Registered under /v1. GET /usage: every token of the account with use
 * recorded (the last use, its caller and address, calls in the last 24 hours and per day, the drain watch), one call
 * for a whole listing; GET /tokens/:ref/usage: one token (a deleted one too: whether it is still presented while it
 * drains is what one asks after a rotation).
 */
export async function usageRoutes(app: FastifyInstance): Promise<void> {
  app.get('/usage', { schema: routeSchemas.usageOverview, config: { roles: ADMIN } }, async (request) => ({
    asOf: app.clock.now().toISOString(),
    tokens: await app.usage.ofAccount(request.principal!.accountId),
  }));

  app.get<{ Params: { ref: string } }>('/tokens/:ref/usage', { schema: routeSchemas.tokenUsage, config: { roles: ADMIN } }, async (request) => {
    const token = resolveTokenForUsage(await tokensOf(request).list(), request.params.ref);
    return { token: app.tokenView(token), usage: await app.usage.ofToken(request.principal!.accountId, token.id) };
  });
}
declarePlugin(usageRoutes, 'v1 usage', { plugins: ['service', 'auth', 'errors'], decorators: { fastify: ['accounts', 'tokenView', 'usage', 'clock'], request: ['principal'] } });
