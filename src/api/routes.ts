import { ADMIN, ANYONE, INTROSPECTORS, ROLES, type Role } from '../core/roles.js';
import { errorRef, oauthErrorRef, wire } from './wire.js';

/**
 * The operations of the service, each with what it declares: who may call it, what it takes, what it answers on
 * success and which domain errors it can meet. Every status an operation can return follows from those
 * declarations (`statusesOf`), and its fastify schema (`routeSchemas` in src/server/schemas.ts) declares them all in
 * `response`, the error statuses with the shared Error schema; test/server/http/openapi.test.ts checks that
 * api/openapi.yaml lists exactly those for each operation, and that the service really answers them.
 *
 * Server-side only: the CLI's HTTP backend imports ./wire.js, not this module.
 */

/** Who may call a route: nobody needs a credential (public), or a principal of one of these roles. */
export type Access = 'public' | readonly Role[];

export { ADMIN, ANYONE, INTROSPECTORS };

/** Domain errors a route can meet besides bad input: notFound (404), conflict or pending (409). */
export type DomainError = 'usage' | 'notFound' | 'conflict' | 'pending';

export interface ApiRoute {
  operationId: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** fastify's form (`/v1/tokens/:ref`). */
  url: string;
  access: Access;
  params?: object;
  body?: object;
  /** The success status and its body schema; a content type other than JSON where the body is not JSON. */
  success: { status: 200 | 201 | 202; schema: object; contentType?: string };
  errors?: readonly DomainError[];
  /**
   * An OAuth endpoint (introspection): its errors are OAuth's (`{"error","error_description"}`, RFC 6749 section
   * 5.2), and a credential that may not call it is answered 401 as an invalid one is (RFC 7662 section 2.3), not 403.
   */
  oauth?: true;
}

function route<const R extends ApiRoute>(r: R): R {
  return r;
}

export const apiRoutes = {
  health: route({ operationId: 'getHealth', method: 'GET', url: '/healthz', access: 'public', success: { status: 200, schema: wire.health } }),
  ready: route({ operationId: 'getReady', method: 'GET', url: '/readyz', access: 'public', success: { status: 200, schema: wire.ready } }),
  jwks: route({ operationId: 'getJwks', method: 'GET', url: '/.well-known/jwks.json', access: 'public', success: { status: 200, schema: wire.jwks } }),
  serviceMetadata: route({
    operationId: 'getServiceMetadata',
    method: 'GET',
    url: '/.well-known/oauth-authorization-server',
    access: 'public',
    success: { status: 200, schema: wire.authorizationServerMetadata },
  }),
  accountMetadata: route({
    operationId: 'getAccountMetadata',
    method: 'GET',
    url: '/.well-known/oauth-authorization-server/accounts/:accountId',
    access: 'public',
    params: wire.accountIdParams,
    success: { status: 200, schema: wire.authorizationServerMetadata },
    errors: ['notFound'],
  }),
  accountJwks: route({
    operationId: 'getAccountJwks',
    method: 'GET',
    url: '/accounts/:accountId/jwks.json',
    access: 'public',
    params: wire.accountIdParams,
    success: { status: 200, schema: wire.jwks },
    errors: ['notFound'],
  }),
  openapi: route({
    operationId: 'getOpenApi',
    method: 'GET',
    url: '/openapi.yaml',
    access: 'public',
    success: { status: 200, schema: { type: 'string' }, contentType: 'application/yaml' },
  }),
  openapiV1: route({
    operationId: 'getOpenApiV1',
    method: 'GET',
    url: '/v1/openapi.yaml',
    access: 'public',
    success: { status: 200, schema: { type: 'string' }, contentType: 'application/yaml' },
  }),
  whoami: route({ operationId: 'whoami', method: 'GET', url: '/v1/whoami', access: ANYONE, success: { status: 200, schema: wire.whoami } }),
  list: route({ operationId: 'listTokens', method: 'GET', url: '/v1/tokens', access: ADMIN, success: { status: 200, schema: wire.tokenList } }),
  create: route({
    operationId: 'createToken',
    method: 'POST',
    url: '/v1/tokens',
    access: ADMIN,
    body: wire.createBody,
    success: { status: 201, schema: wire.tokenWithValue },
    errors: ['usage', 'conflict'],
  }),
  get: route({
    operationId: 'getToken',
    method: 'GET',
    url: '/v1/tokens/:ref',
    access: ADMIN,
    params: wire.refParams,
    success: { status: 200, schema: wire.oneToken },
    errors: ['notFound'],
  }),
  reveal: route({
    operationId: 'revealToken',
    method: 'POST',
    url: '/v1/tokens/:ref/reveal',
    access: ADMIN,
    params: wire.refParams,
    body: wire.revealBody,
    success: { status: 200, schema: wire.tokenWithValue },
    errors: ['notFound', 'pending'],
  }),
  rename: route({
    operationId: 'renameToken',
    method: 'PATCH',
    url: '/v1/tokens/:ref',
    access: ADMIN,
    params: wire.refParams,
    body: wire.renameBody,
    success: { status: 200, schema: wire.oneToken },
    errors: ['usage', 'notFound', 'conflict'],
  }),
  delete: route({
    operationId: 'deleteToken',
    method: 'DELETE',
    url: '/v1/tokens/:ref',
    access: ADMIN,
    params: wire.refParams,
    body: wire.deleteBody,
    success: { status: 200, schema: wire.oneToken },
    errors: ['usage', 'notFound'],
  }),
  identify: route({
    operationId: 'identifyToken',
    method: 'POST',
    url: '/v1/identify',
    access: ADMIN,
    body: wire.identifyBody,
    success: { status: 200, schema: wire.identified },
  }),
  introspect: route({
    operationId: 'introspectToken',
    method: 'POST',
    url: '/v1/introspect',
    access: INTROSPECTORS,
    body: wire.introspectBody,
    success: { status: 200, schema: wire.introspection },
    oauth: true,
  }),
  accountKeys: route({
    operationId: 'getAccountKeys',
    method: 'GET',
    url: '/v1/account/keys',
    access: ADMIN,
    success: { status: 200, schema: wire.accountKeys },
  }),
  rotations: route({ operationId: 'listRotations', method: 'GET', url: '/v1/rotations', access: ADMIN, success: { status: 200, schema: wire.rotationList } }),
  startRotation: route({
    operationId: 'startRotation',
    method: 'POST',
    url: '/v1/rotations',
    access: ADMIN,
    body: wire.startRotationBody,
    success: { status: 201, schema: wire.rotationStarted },
    errors: ['usage', 'notFound', 'conflict'],
  }),
  deliverRotation: route({
    operationId: 'deliverRotation',
    method: 'POST',
    url: '/v1/rotations/:id/deliver',
    access: ADMIN,
    params: wire.rotationIdParams,
    body: wire.deliverBody,
    success: { status: 200, schema: wire.oneRotation },
    errors: ['notFound', 'conflict'],
  }),
  completeRotation: route({
    operationId: 'completeRotation',
    method: 'POST',
    url: '/v1/rotations/:id/complete',
    access: ADMIN,
    params: wire.rotationIdParams,
    body: wire.completeBody,
    success: { status: 200, schema: wire.rotationCompleted },
    errors: ['usage', 'notFound', 'conflict', 'pending'],
  }),
  abandonRotation: route({
    operationId: 'abandonRotation',
    method: 'POST',
    url: '/v1/rotations/:id/abandon',
    access: ADMIN,
    params: wire.rotationIdParams,
    body: wire.abandonBody,
    success: { status: 200, schema: wire.oneRotation },
    errors: ['notFound', 'conflict'],
  }),
  usageOverview: route({ operationId: 'getUsage', method: 'GET', url: '/v1/usage', access: ADMIN, success: { status: 200, schema: wire.usageOverview } }),
  tokenUsage: route({
    operationId: 'getTokenUsage',
    method: 'GET',
    url: '/v1/tokens/:ref/usage',
    access: ADMIN,
    params: wire.refParams,
    success: { status: 200, schema: wire.tokenUsage },
    errors: ['notFound'],
  }),
  listWebhooks: route({ operationId: 'listWebhooks', method: 'GET', url: '/v1/webhooks', access: ADMIN, success: { status: 200, schema: wire.webhookList } }),
  addWebhook: route({
    operationId: 'addWebhook',
    method: 'POST',
    url: '/v1/webhooks',
    access: ADMIN,
    body: wire.addWebhookBody,
    success: { status: 201, schema: wire.webhookCreated },
    errors: ['usage', 'conflict'],
  }),
  removeWebhook: route({
    operationId: 'removeWebhook',
    method: 'DELETE',
    url: '/v1/webhooks/:id',
    access: ADMIN,
    params: wire.webhookIdParams,
    success: { status: 200, schema: wire.oneWebhook },
    errors: ['notFound'],
  }),
  testWebhook: route({
    operationId: 'testWebhook',
    method: 'POST',
    url: '/v1/webhooks/:id/test',
    access: ADMIN,
    params: wire.webhookIdParams,
    success: { status: 202, schema: wire.webhookTestSent },
    errors: ['notFound'],
  }),
  webhookAttempts: route({
    operationId: 'listWebhookAttempts',
    method: 'GET',
    url: '/v1/webhooks/:id/attempts',
    access: ADMIN,
    params: wire.webhookIdParams,
    success: { status: 200, schema: wire.webhookAttempts },
    errors: ['notFound'],
  }),
  auditEvents: route({ operationId: 'listAuditEvents', method: 'GET', url: '/v1/audit/events', access: ADMIN, success: { status: 200, schema: wire.auditEvents } }),
  auditVerify: route({
    operationId: 'verifyAuditTrail',
    method: 'GET',
    url: '/v1/audit/verify',
    access: ADMIN,
    success: { status: 200, schema: wire.auditVerification },
  }),
} as const satisfies Record<string, ApiRoute>;

export type ApiRouteName = keyof typeof apiRoutes;

/**
 * Every status an operation can return, derived from what it declares:
 * - every request: 431 (headers over the limit, refused before routing), 500 (a bug in the service), 503 (the
 *   service is shutting down, or its storage is unavailable: locked by another process, disk full, unwritable);
 * - a credential (access other than public): 401, 429 (repeated failures from one address), and 403 when some
 *   role is not allowed (an OAuth endpoint answers that 401);
 * - a body: 400 (invalid JSON or schema), 413 (over the body limit), 415 (a content type it does not take);
 * - path parameters: 400 (bad encoding or schema), 414 (longer than the router takes);
 * - domain errors: usage 400, notFound 404, conflict and pending 409.
 */
export function statusesOf(r: ApiRoute): number[] {
  const statuses = new Set<number>([r.success.status, 431, 500, 503]);
  if (r.access !== 'public') {
    statuses.add(401).add(429);
    if (!r.oauth && ROLES.some((role) => !(r.access as readonly Role[]).includes(role))) statuses.add(403);
  }
  if (r.body) statuses.add(400).add(413).add(415);
  if (r.params) statuses.add(400).add(414);
  for (const e of r.errors ?? []) statuses.add(e === 'usage' ? 400 : e === 'notFound' ? 404 : 409);
  return [...statuses].sort((a, b) => a - b);
}

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 414 | 415 | 429 | 431 | 500 | 503;

/** A route's fastify schema: its params and body, and a response schema for every status it can return. */
export interface RouteSchema<R extends ApiRoute = ApiRoute> {
  params?: R['params'];
  body?: R['body'];
  response: { [status in R['success']['status']]: R['success']['schema'] } & Partial<Record<ErrorStatus, typeof errorRef | typeof oauthErrorRef>>;
}

export function routeSchemaOf<R extends ApiRoute>(r: R): RouteSchema<R> {
  const response: Record<number, unknown> = {};
  for (const status of statusesOf(r)) {
    if (status === r.success.status) {
      response[status] = r.success.contentType ? { content: { [r.success.contentType]: { schema: r.success.schema } } } : r.success.schema;
    } else {
      // 431 is refused by Node before any door: the service's own error body, on OAuth endpoints too.
      response[status] = r.oauth && status !== 431 ? oauthErrorRef : errorRef;
    }
  }
  return {
    ...(r.params ? { params: r.params } : {}),
    ...(r.body ? { body: r.body } : {}),
    response,
  } as RouteSchema<R>;
}
