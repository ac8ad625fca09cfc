import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FailedAuthLimiter } from '../auth-limiter.js';
import type { Role } from '../../core/roles.js';
import { actorOf, type Principal } from '../../tokens/principals.js';
import type { TokenService } from '../../tokens/token-service.js';
import { errorBody } from './errors.js';
import { shared } from './shared.js';

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

export const ADMIN: readonly Role[] = ['admin'];
export const INTROSPECTORS: readonly Role[] = ['admin', 'service'];
export const ANYONE: readonly Role[] = ['admin', 'user', 'partner', 'service'];

/** One body for every authentication failure, whatever was wrong: nothing to learn from the difference. */
const UNAUTHENTICATED = errorBody('permission', 'authentication failed: missing, malformed or unknown credential');
const CREDENTIAL = /^Bearer ([\x21-\x7e]{1,256})$/i;

function forbiddenMessage(role: Role, roles: readonly Role[]): string {
  if (roles === INTROSPECTORS) return `only service principals and admins may introspect tokens; this credential's role is '${role}'`;
  return `only admins may manage tokens; this credential's role is '${role}'`;
}

function tooMany(reply: FastifyReply, wait: number): void {
  void reply
    .code(429)
    .header('retry-after', String(wait))
    .send(errorBody('permission', `too many failed authentication attempts from this address; retry after ${wait} s`));
}

/** The token use cases on the request's account, as its principal (on routes that declare roles). */
export const tokensOf = (request: FastifyRequest): TokenService => request.server.store.tokens(request.principal!);
/** The actor the audit trail records for a request. */
export const actorOfRequest = (request: FastifyRequest): string => actorOf(request.principal!);

/**
 * Authentication and roles: a route that declares `config.roles` gets a hook of its own that checks the Bearer
 * credential (through `fastify.store`) and the principal's role, so public routes pay nothing and no request looks
 * its route's config up. Failed authentications are counted per client address; a blocked address gets 429.
 */
export const authentication = shared<{ limiter: FailedAuthLimiter }>('auth', async (app, { limiter }) => {
  const { store } = app;
  /** The authentication and role check of one route; callback-style (no promise per request). */
  const authenticate = (roles: readonly Role[]) =>
    function authenticateRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
      const ip = request.ip;
      const wait = limiter.retryAfterSeconds(ip);
      if (wait > 0) {
        tooMany(reply, wait);
        return;
      }
      const header = request.headers.authorization;
      const match = typeof header === 'string' ? CREDENTIAL.exec(header) : null;
      const principal = match ? store.authenticate(match[1]!) : null;
      if (!principal) {
        const refuse = () => void reply.code(401).header('www-authenticate', 'Bearer realm="tokenctl"').send(UNAUTHENTICATED);
        const counted = limiter.recordFailure(ip);
        if (counted) void counted.then((beyond) => (beyond ? tooMany(reply, limiter.retryAfterSeconds(ip) || 1) : refuse()));
        else refuse();
        return;
      }
      request.principal = principal;
      if (!roles.includes(principal.role)) {
        reply.code(403).send(errorBody('permission', forbiddenMessage(principal.role, roles)));
        return;
      }
      done();
    };

  app.decorateRequest('principal', null);
  app.addHook('onRoute', (r) => {
    const roles = r.config?.roles;
    if (roles) r.onRequest = [authenticate(roles), ...[r.onRequest ?? []].flat()] as typeof r.onRequest;
  });
});
