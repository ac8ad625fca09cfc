import { declarePlugin } from '../../plugins/shared.js';
import type { FastifyInstance } from 'fastify';
import { ADMIN, ANYONE, tokensOf } from '../../plugins/auth.js';
import { routeSchemas } from '../../schemas.js';

/** Who is calling (any principal), and the account's signing keys (admins). Registered under /v1. */
export async function accountRoutes(app: FastifyInstance): Promise<void> {
  app.get('/whoami', { schema: routeSchemas.whoami, config: { roles: ANYONE } }, async (request) => {
    const { id, name, role } = request.principal!;
    return { principal: { id, name, role }, account: await tokensOf(request).account() };
  });

  app.get('/account/keys', { schema: routeSchemas.accountKeys, config: { roles: ADMIN } }, async (request) => tokensOf(request).accountKeys());
}
declarePlugin(accountRoutes, 'v1 account', { plugins: ['service', 'auth', 'errors'], decorators: { fastify: ['accounts', 'tokenView'], request: ['principal'] } });
