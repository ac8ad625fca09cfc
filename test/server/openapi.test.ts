import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { parse } from 'yaml';
import { openApiPath } from '../../src/server/openapi.js';
import { call, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
afterEach(async () => server?.close());

it('api/openapi.yaml documents exactly the routes the service has, and the service serves it', async () => {
  server = await startTestServer();
  const doc = parse(readFileSync(openApiPath(), 'utf8')) as { openapi: string; paths: Record<string, Record<string, unknown>> };
  expect(doc.openapi).toBe('3.1.0');
  const documented = Object.entries(doc.paths)
    .flatMap(([p, ops]) => Object.keys(ops).filter((k) => k !== 'parameters').map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
  const served = server.app.apiRoutes.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`).sort();
  expect(documented).toEqual(served);
  const r = await call(server, 'GET', '/v1/openapi.yaml');
  expect(r.headers.get('content-type')).toMatch(/yaml/);
  expect(parse(r.text)).toEqual(doc);
});
