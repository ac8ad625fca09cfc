import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../../core/roles.js';
import { actorOf, type Principal } from '../../../tokens/principals.js';
import type { TokenService } from '../../../tokens/token-service.js';
import { Authenticator, type AuthAnswer, type AuthRefusal } from '../../auth/authenticator.js';
import { errorBody } from './errors.js';
import { shared } from './shared.js';

export { ADMIN, ANYONE, INTROSPECTORS } from '../../../core/roles.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request, on routes that declare roles; null elsewhere. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Roles allowed on the route; absent: a public route. */
    roles?: readonly Role[];
  }
}

/** The token use cases on the request's account, as its principal (on routes that declare roles). */
export const tokensOf = (request: FastifyRequest): TokenService => request.server.accounts.tokens(request.principal!);
/** The actor the audit trail records for a request. */
export const actorOfRequest = (request: FastifyRequest): string => actorOf(request.principal!);

/** A refusal of the authentication door, as the API answers it: the error body, its challenge or Retry-After. */
export function sendRefusal(reply: FastifyReply, refusal: AuthRefusal): void {
  if (refusal.status === 401) reply.header('www-authenticate', 'Bearer realm="tokenctl"');
  if (refusal.retryAfterSeconds !== undefined) reply.header('retry-after', String(refusal.retryAfterSeconds));
  void reply.code(refusal.status).send(errorBody(refusal.kind, refusal.message));
}

/**
 * Authentication and roles on the API's routes: a route that declares `config.roles` gets a hook of its own that asks
 * the service's one authentication door (auth/authenticator.ts) with the Bearer credential, so public routes pay
 * nothing and no request looks its route's config up.
 */
export const authentication = shared<{ authenticator: Authenticator }>('auth', async (app, { authenticator }) => {
  /** The authentication and role check of one route; callback-style (no promise per request). */
  const authenticate = (roles: readonly Role[]) =>
    function authenticateRequest(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
      const settle = (answer: AuthAnswer) => {
        if (answer.ok) {
          request.principal = answer.principal;
          done();
          return;
        }
        if (answer.refusal.principal) request.principal = answer.refusal.principal;
        sendRefusal(reply, answer.refusal);
      };
      let answer: AuthAnswer | Promise<AuthAnswer>;
      try {
        answer = authenticator.check(Authenticator.bearer(request.headers.authorization), request.ip, roles);
      } catch (error) {
        done(error as Error); // the credential could not be looked up (a storage fault): the service's 500
        return;
      }
      if (answer instanceof Promise) answer.then(settle, (error: unknown) => done(error as Error));
      else settle(answer);
    };

  app.decorateRequest('principal', null);
  app.addHook('onRoute', (r) => {
    const roles = r.config?.roles;
    if (roles) r.onRequest = [authenticate(roles), ...[r.onRequest ?? []].flat()] as typeof r.onRequest;
  });
});
