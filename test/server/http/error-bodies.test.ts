import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { BackendUnavailableError, StorageUnavailableError, StoreDataError } from '../../../src/core/errors.js';
import { buildServerApp } from '../../../src/server/app.js';
import { hashCredential } from '../../../src/secrets/credentials.js';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';
import { logLines } from '../../helpers/log-lines.js';

/**
 * Every error answer has the documented body {"error":{"kind","message"}}, also for what Node's HTTP parser or
 * fastify's router refuse before a route runs (sent here on raw sockets: fetch cannot send most of it), and never
 * echoes the request path. Storage faults answer 503, never 500, with one log line.
 */
let server: TestServer;
let admin: string;
const SECRET = 'tctl_s2s_SECRETinTHEpath';

beforeAll(async () => {
  server = await startTestServer();
  admin = (await server.initAccount({ name: 'acme' })).credential;
});
afterAll(() => server?.close());

/** Sends `text` as is and resolves with everything the server wrote before closing (or after 2 s). */
function raw(text: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    let data = '';
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.write(text));
    socket.setEncoding('latin1').on('data', (d) => (data += d));
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(data);
      if (!m) return reject(new Error(`not an HTTP answer: ${JSON.stringify(data.slice(0, 200))}`));
      resolve({ status: Number(m[1]), headers: m[2]!.toLowerCase(), body: m[3]! });
    });
  });
}

function expectErrorBody(body: string, kind: string): void {
  const parsed = JSON.parse(body);
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(Object.keys(parsed.error).sort()).toEqual(['kind', 'message']);
  expect(parsed.error.kind).toBe(kind);
  expect(typeof parsed.error.message).toBe('string');
  expect(body).not.toContain(SECRET);
}

describe('what is refused before a route runs', () => {
  const cases: [string, string | (() => string), number][] = [
    ['headers too large', `GET /v1/${SECRET} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['a malformed request line', `GARBAGE /${SECRET}\r\n\r\n`, 400],
    ['an unsupported method', `BREW /${SECRET} HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
    ['an unknown HTTP version', `GET /${SECRET} HTTP/9.9\r\nHost: x\r\n\r\n`, 400],
    ['an invalid Content-Length', `POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`, 400],
    ['broken chunked framing', () => `POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, 400],
    ['HTTP/1.1 without Host', `GET /${SECRET} HTTP/1.1\r\n\r\n`, 400],
    ['a URL that is not valid percent-encoding', `GET /v1/tokens/${SECRET}%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 400],
    ['a path parameter beyond the limit', `GET /v1/tokens/${SECRET}${'a'.repeat(3000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414],
    ['an unknown route', `GET /${SECRET} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 404],
    ['a method no route has', `PROPFIND /v1/tokens/${SECRET} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 404],
    ['a method a route does not have', `PUT /v1/tokens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, 404],
  ];
  for (const [what, request, status] of cases) {
    it(`answers ${what} with ${status} and the error body, without echoing the path`, async () => {
      const r = await raw(typeof request === 'string' ? request : request());
      expect(r.status).toBe(status);
      expect(r.headers).toContain('content-type: application/json; charset=utf-8');
      expect(r.headers).toContain('cache-control: no-store');
      expectErrorBody(r.body, status === 404 ? 'notFound' : 'usage');
    });
  }

  it('answers an unparseable body with 400 and the error body', async () => {
    const r = await call(server, 'POST', '/v1/identify', { credential: admin, raw: `{"value":"${SECRET}"` });
    expect(r.status).toBe(400);
    expectErrorBody(r.text, 'usage');
    const type = await call(server, 'POST', '/v1/identify', { credential: admin, raw: 'x', contentType: 'application/xml' });
    expect(type.status).toBe(415);
    expectErrorBody(type.text, 'usage');
  });

  it('takes JSON only on the API: JSON sent as text/plain, and a form body, are 415 and change nothing', async () => {
    const before = (await call(server, 'GET', '/v1/tokens', { credential: admin })).body.tokens.length;
    const plain = await call(server, 'POST', '/v1/tokens', { credential: admin, raw: JSON.stringify({ type: 's2s', name: 'as-text' }), contentType: 'text/plain' });
    expect(plain.status).toBe(415);
    expectErrorBody(plain.text, 'usage');
    const form = await call(server, 'POST', '/v1/tokens', { credential: admin, form: { type: 's2s', name: 'form-direct' } });
    expect(form.status).toBe(415);
    expectErrorBody(form.text, 'usage');
    const rename = await call(server, 'PATCH', '/v1/tokens/default', { credential: admin, form: { name: 'renamed' } });
    expect(rename.status).toBe(415);
    const after = (await call(server, 'GET', '/v1/tokens', { credential: admin })).body.tokens;
    expect(after).toHaveLength(before);
    expect(after.map((t: { name: string }) => t.name)).toContain('default');
    // Introspection keeps its form body (RFC 7662).
    const introspect = await call(server, 'POST', '/v1/introspect', { credential: admin, form: { token: 'tctl_s2s_unknown' } });
    expect(introspect.status).toBe(200);
  });

  it('answers a client too slow to send its headers with 408 and the error body', async () => {
    const slow = await startTestServer({ limits: { headersTimeoutMs: 200, requestTimeoutMs: 400, connectionsCheckingIntervalMs: 50 } });
    try {
      const r = await new Promise<string>((resolve) => {
        let data = '';
        const socket = net.connect(Number(new URL(slow.url).port), '127.0.0.1', () => socket.write(`GET /${SECRET} HTTP/1.1\r\nHost: x\r\n`));
        socket.setEncoding('latin1').on('data', (d) => (data += d));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(data));
      });
      expect(r).toMatch(/^HTTP\/1\.1 408 /);
      expectErrorBody(r.slice(r.indexOf('\r\n\r\n') + 4), 'usage');
    } finally {
      await slow.close();
    }
  });
});

describe('storage faults', () => {
  let app: FastifyInstance;
  let url: string;
  let logs: string[];
  let fault: unknown;

  beforeAll(async () => {
    logs = [];
    // The real storage and memory, but reading an account (listing tokens, a route) and finding one credential (the
    // authentication hook) fail as the test says.
    const failing = () => {
      if (fault) throw fault;
    };
    const storage = Object.create(server.storage) as typeof server.storage;
    storage.read = async (accountId, fn) => {
      failing();
      return server.storage.read(accountId, fn);
    };
    const memory = Object.create(server.memory) as typeof server.memory;
    const failingHash = hashCredential('tctl_key_fail');
    memory.principalByCredentialHash = (hash) => (hash.equals(failingHash) ? (failing(), undefined) : server.memory.principalByCredentialHash(hash));
    app = await buildServerApp({ storage, memory, clock: server.clock, logStream: logLines(logs).sink, usageFlushMs: 0 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(() => app?.close());

  const list = (credential = admin) => call({ url }, 'GET', '/v1/tokens', { credential });
  const errorLines = () => logs.map((l) => JSON.parse(l)).filter((l) => l.level >= 50);

  const cases: [string, () => unknown, string | null, RegExp][] = [
    ['a StorageUnavailableError, with its Retry-After', () => new StorageUnavailableError('the database is locked by another process', { retryAfterSeconds: 2 }), '2', /locked by another process/],
    ['another "unavailable" error, without Retry-After', () => new BackendUnavailableError('the disk is full'), null, /disk is full/],
    ['SQLite busy, escaped untranslated', () => Object.assign(new Error('database is locked'), { name: 'SqliteError', code: 'SQLITE_BUSY' }), '1', /locked/],
    ['SQLite full disk', () => Object.assign(new Error('database or disk is full'), { name: 'SqliteError', code: 'SQLITE_FULL' }), null, /disk is full/],
    ['a damaged database (data error)', () => new StoreDataError('cannot decrypt a value in /srv/data/tokenctl.db'), null, /cannot decrypt/],
  ];
  for (const [what, make, retryAfter, logged] of cases) {
    it(`answers ${what} with 503 and one log line`, async () => {
      fault = make();
      logs.length = 0;
      try {
        const r = await list();
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBe(retryAfter);
        expectErrorBody(r.text, 'unavailable');
        expect(r.text).not.toContain('/srv/data'); // paths stay in the log
        const lines = errorLines();
        expect(lines).toHaveLength(1);
        expect(lines[0].msg).toMatch(/^storage unavailable: /);
        expect(lines[0].msg).toMatch(logged);
        expect(lines[0].err.stack).toBe('');
      } finally {
        fault = undefined;
      }
    });
  }

  it('answers 503 when authentication itself meets the fault', async () => {
    fault = new StorageUnavailableError('the database is locked by another process', { retryAfterSeconds: 3 });
    try {
      const r = await list('tctl_key_fail');
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('3');
      expectErrorBody(r.text, 'unavailable');
    } finally {
      fault = undefined;
    }
  });

  it('still answers 500 for a bug, with the generic message', async () => {
    fault = new TypeError('undefined is not a function');
    try {
      const r = await list();
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ error: { kind: 'internal', message: 'the token service failed to handle this request; its operator can find why in its logs' } });
    } finally {
      fault = undefined;
    }
  });
});
