import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { accountIssuerPath } from '../../../secrets/jwt.js';
import type { PublicSigningKey } from '../../../storage/service-port.js';
import { INTROSPECTION_PATH } from '../../introspection/handler.js';
import { errorBody } from '../plugins/errors.js';
import { declarePlugin } from '../plugins/shared.js';
import { routeSchemas } from '../schemas.js';

/** What the introspection endpoint takes besides a bearer credential (which RFC 8414 has no name for). */
export const INTROSPECTION_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

/** A Host header (or X-Forwarded-Host from a trusted proxy) that can be part of a URL as it is. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** How long resource servers may keep metadata and keys built on the configured public URL. */
const PUBLIC_CACHE = 'public, max-age=300';

/**
 * RFC 8414 discovery and each account's keys. Each account is an issuer of its own, `<public URL>/accounts/<id>`:
 * its metadata (`/.well-known/oauth-authorization-server/accounts/<id>`, path insertion as RFC 8414 section 3 has
 * it) names its own JWKS (`/accounts/<id>/jwks.json`), so a resource server that verifies API tokens offline
 * against it never accepts another account's token, even one that does not check `iss` (mod_oauth2's jwks_uri
 * mode). `/.well-known/oauth-authorization-server` is the service's own metadata, for introspection only (no JWKS:
 * the keys are each account's).
 *
 * The URLs are built on `--public-url` (TOKENCTL_PUBLIC_URL). Without it they are built on the request (Host, and
 * X-Forwarded-Proto/-Host from a trusted proxy): right for the name the client used, but no promise that it is the
 * name other clients use, or the issuer API tokens carry (their urn), so such metadata is never cached (no-store).
 */
export async function oauthRoutes(app: FastifyInstance, { publicUrl }: { publicUrl: string | null }): Promise<void> {
  /** The origin URLs are built on; null (and the refusal sent) when the request's Host cannot be one. */
  const originOf = (request: FastifyRequest, reply: FastifyReply): string | null => {
    if (publicUrl !== null) {
      reply.header('cache-control', PUBLIC_CACHE);
      return publicUrl;
    }
    const host = request.host;
    if (typeof host !== 'string' || !HOST.test(host)) {
      void reply.code(400).send(errorBody('usage', "the service cannot tell its URL from this request's Host header; its operator sets it with: tokenctl serve --public-url https://<name>"));
      return null;
    }
    return `${request.protocol === 'https' ? 'https' : 'http'}://${host.toLowerCase()}`;
  };

  const metadata = (origin: string, accountId: string | null) => ({
    issuer: accountId === null ? origin : `${origin}${accountIssuerPath(accountId)}`,
    ...(accountId === null ? {} : { jwks_uri: `${origin}/accounts/${accountId}/jwks.json` }),
    introspection_endpoint: `${origin}${INTROSPECTION_PATH}`,
    introspection_endpoint_auth_methods_supported: [...INTROSPECTION_AUTH_METHODS],
    // No authorization or token endpoint: tokens are made by the account's admins, not through an OAuth grant.
    response_types_supported: [],
    grant_types_supported: [],
  });

  /** The account's keys, from memory; an account another process created a moment ago is looked for once more. */
  const keysOf = async (accountId: string): Promise<readonly PublicSigningKey[]> => {
    const keys = app.memory.accountSigningKeys(accountId);
    if (keys.length > 0) return keys;
    await app.memory.catchUp();
    return app.memory.accountSigningKeys(accountId);
  };
  const noSuchAccount = (reply: FastifyReply) => reply.code(404).header('cache-control', 'no-store').send(errorBody('notFound', 'no account with this id on this service'));

  app.get('/.well-known/oauth-authorization-server', { schema: routeSchemas.serviceMetadata }, async (request, reply) => {
    const origin = originOf(request, reply);
    return origin === null ? reply : metadata(origin, null);
  });

  app.get<{ Params: { accountId: string } }>(
    '/.well-known/oauth-authorization-server/accounts/:accountId',
    { schema: routeSchemas.accountMetadata },
    async (request, reply) => {
      if ((await keysOf(request.params.accountId)).length === 0) return noSuchAccount(reply);
      const origin = originOf(request, reply);
      return origin === null ? reply : metadata(origin, request.params.accountId);
    },
  );

  app.get<{ Params: { accountId: string } }>('/accounts/:accountId/jwks.json', { schema: routeSchemas.accountJwks }, async (request, reply) => {
    const keys = await keysOf(request.params.accountId);
    if (keys.length === 0) return noSuchAccount(reply);
    // Every key of the account: the one new tokens are signed with, and those that signed tokens still in use.
    reply.header('cache-control', PUBLIC_CACHE);
    return { keys: keys.map((k) => k.publicJwk) };
  });
}
declarePlugin(oauthRoutes, 'oauth', { plugins: ['service', 'errors'], decorators: { fastify: ['memory'] } });
