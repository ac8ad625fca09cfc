import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiRoutes, statusesOf, type ApiRoute } from '../../../src/api/routes.js';
import { auditEventSchema, errorSchema, oauthErrorSchema, rotationSchema, tokenUsageSchema, tokenViewSchema, webhookSchema } from '../../../src/api/wire.js';
import { openApiPath } from '../../../src/server/http/openapi.js';
import { routeSchemas } from '../../../src/server/http/schemas.js';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';

interface Operation {
  operationId?: string;
  responses: Record<string, unknown>;
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> };
}

const doc = parse(readFileSync(openApiPath(), 'utf8')) as Doc;
const templated = (url: string) => url.replace(/:(\w+)/g, '{$1}');
const operations = Object.entries(doc.paths).flatMap(([p, ops]) =>
  Object.entries(ops)
    .filter(([k]) => k !== 'parameters')
    .map(([method, op]) => ({ key: `${method.toUpperCase()} ${p}`, op })),
);
const declared = Object.entries(apiRoutes) as [keyof typeof routeSchemas, ApiRoute][];

let server: TestServer;
let admin: string;
let partner: string;
beforeAll(async () => {
  server = await startTestServer();
  const account = await server.initAccount();
  admin = account.credential;
  partner = await server.addPrincipal('acme', 'partner', 'partner');
});
afterAll(async () => server?.close());

it('api/openapi.yaml documents exactly the routes the service has, and the service serves it', async () => {
  expect(doc.openapi).toBe('3.1.0');
  const documented = operations.map((o) => o.key).sort();
  const served = server.app.apiRoutes.map((r) => `${r.method} ${templated(r.url)}`).sort();
  expect(documented).toEqual(served);
  expect(declared.map(([, r]) => `${r.method} ${templated(r.url)}`).sort()).toEqual(served);
  const r = await call(server, 'GET', '/v1/openapi.yaml');
  expect(r.headers.get('content-type')).toMatch(/yaml/);
  expect(parse(r.text)).toEqual(doc);
});

it('passes the validation client generators rely on (swagger-parser)', async () => {
  await expect(SwaggerParser.validate(openApiPath())).resolves.toBeTruthy();
});

describe('every operation lists exactly the statuses its route schema declares', () => {
  it.each(declared)('%s', (name, route) => {
    const op = operations.find((o) => o.key === `${route.method} ${templated(route.url)}`)?.op;
    expect(op, `${route.method} ${route.url} in api/openapi.yaml`).toBeDefined();
    expect(op!.operationId).toBe(route.operationId);
    const schemaStatuses = Object.keys(routeSchemas[name].response).map(Number).sort((a, b) => a - b);
    expect(schemaStatuses).toEqual(statusesOf(route));
    expect(Object.keys(op!.responses).map(Number).sort((a, b) => a - b)).toEqual(schemaStatuses);
    // The error statuses answer the shared Error shape; an OAuth endpoint OAuth's (but for what Node refuses first).
    for (const status of schemaStatuses.filter((s) => s >= 400)) {
      expect((routeSchemas[name].response as Record<number, unknown>)[status]).toEqual({ $ref: route.oauth && status !== 431 ? 'OAuthError#' : 'Error#' });
    }
  });
});

/** A concrete URL of a route (any value for its path parameters). */
const urlOf = (route: ApiRoute, param = 'x') => route.url.replace(/:(\w+)/g, param);

describe('the statuses a route declares are the ones it answers', () => {
  it.each(declared)('%s', async (_name, route) => {
    const statuses = statusesOf(route);
    const url = urlOf(route);
    // Authentication and roles (checked before anything else about the request).
    const anonymous = await call(server, route.method, url);
    expect(anonymous.status === 401, `${route.method} ${url} without a credential: ${anonymous.status}`).toBe(statuses.includes(401));
    if (statuses.includes(401) && route.oauth) {
      // Nothing sent: invalid_client, with the challenges of the schemes that work.
      expect(anonymous.body).toEqual({ error: 'invalid_client', error_description: expect.any(String) });
      expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="tokenctl", charset="UTF-8", Bearer realm="tokenctl"');
    } else if (statuses.includes(401)) {
      expect(anonymous.body).toEqual({ error: { kind: 'permission', message: expect.any(String) } });
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="tokenctl"');
    }
    const asPartner = await call(server, route.method, url, { credential: partner });
    expect(asPartner.status === 403, `${route.method} ${url} as a partner: ${asPartner.status}`).toBe(statuses.includes(403));
    if (route.body) {
      // (fastify parses text/plain itself: the schema then refuses a string with 400, also a listed status)
      const wrongType = await call(server, route.method, url, { credential: admin, raw: '<a/>', contentType: 'application/xml' });
      expect(wrongType.status).toBe(415);
      const tooLarge = await call(server, route.method, url, { credential: admin, raw: JSON.stringify({ name: 'a'.repeat(17 * 1024) }), contentType: 'application/json' });
      expect(tooLarge.status).toBe(413);
      const notJson = await call(server, route.method, url, { credential: admin, raw: '{', contentType: 'application/json' });
      expect(notJson.status).toBe(400);
      for (const r of [wrongType, tooLarge, notJson]) {
        expect(r.body).toEqual(route.oauth ? { error: 'invalid_request', error_description: expect.any(String) } : { error: { kind: 'usage', message: expect.any(String) } });
      }
    }
    if (route.params) {
      const body = route.body ? { json: {} } : {};
      const tooLong = await call(server, route.method, urlOf(route, 'x'.repeat(3000)), { credential: admin, ...body });
      expect(tooLong.status).toBe(414);
      const badlyEncoded = await call(server, route.method, urlOf(route, '%zz'), { credential: admin, ...body });
      expect(badlyEncoded.status).toBe(400);
    }
  });

  it('429 after repeated failed authentications, on every route that takes a credential', async () => {
    const limited = await startTestServer({ authLimit: { maxFailures: 1, windowMs: 60_000, blockMs: 60_000 } });
    try {
      expect((await call(limited, 'GET', '/v1/tokens', { credential: 'tctl_key_wrong' })).status).toBe(401);
      for (const [, route] of declared) {
        const r = await call(limited, route.method, urlOf(route), { credential: 'tctl_key_wrong' });
        expect(r.status === 429, `${route.method} ${route.url}: ${r.status}`).toBe(statusesOf(route).includes(429));
        if (r.status === 429) expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      }
    } finally {
      await limited.close();
    }
  });

  it('431 for headers over the limit', async () => {
    const r = await call(server, 'GET', '/healthz', { authorization: `Bearer ${'x'.repeat(20_000)}` });
    expect(r.status).toBe(431);
  });
});

it('the named schemas of api/openapi.yaml have the fields of the wire schemas (src/api/wire.ts)', () => {
  const pairs = [
    ['Token', tokenViewSchema],
    ['Rotation', rotationSchema],
    ['AuditEvent', auditEventSchema],
    ['Error', errorSchema],
    ['OAuthError', oauthErrorSchema],
    ['TokenUsage', tokenUsageSchema],
    ['Webhook', webhookSchema],
  ] as const;
  for (const [name, schema] of pairs) {
    const documented = doc.components.schemas[name]!;
    expect(Object.keys(documented.properties ?? {}).sort(), name).toEqual(Object.keys(schema.properties).sort());
    expect([...(documented.required ?? [])].sort(), name).toEqual([...schema.required].sort());
  }
});
