import http from 'node:http';
import path from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openDataDir } from '../../../src/server/data-dir.js';
import { parsePublicUrl, publicUrlFrom } from '../../../src/server/public-url.js';
import { issuerFor } from '../../../src/secrets/jwt.js';
import { accountSigning, initServiceAccount, setSigningAlgorithm } from '../../../src/tokens/principals.js';
import { postgresAvailable, postgresMissing, postgresRequired, startCluster, type TestCluster } from '../../helpers/postgres.js';
import { call, startPostgresTestServer, startTestServer, type TestServer } from '../../helpers/server.js';
import { sqliteDriverEnv } from '../../helpers/sqlite.js';

/**
 * RFC 8414 discovery, each account as its own issuer, and the signing keys resource servers' libraries accept. The real
 * service on 127.0.0.1 (SQLite; the signing keys on PostgreSQL too).
 */
const MIN = 60_000;
let running: TestServer<unknown>[] = [];
afterEach(async () => {
  await Promise.all(running.map((s) => s.close()));
  running = [];
});
const started = <S extends TestServer<unknown>>(s: S): S => {
  running.push(s);
  return s;
};

let cluster: Promise<TestCluster> | undefined;
afterAll(async () => (await cluster)?.stop());

/** GET with exactly these headers (fetch would not send another Host). */
function get(base: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; cacheControl: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(url, base), { headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, cacheControl: res.headers['cache-control'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

const createToken = async (server: TestServer<unknown>, credential: string, type: string, name: string) =>
  (await call(server, 'POST', '/v1/tokens', { credential, json: { type, name } })).body as { token: { id: string }; value: string };
const introspect = async (server: TestServer<unknown>, credential: string, token: string) => (await call(server, 'POST', '/v1/introspect', { credential, form: { token } })).body;

describe("the service's public URL", () => {
  it('is an origin: https, or http for this machine only; normalised as clients normalise it', () => {
    expect(parsePublicUrl('https://Tokens.Example.com:443/')).toBe('https://tokens.example.com');
    expect(parsePublicUrl(' https://tokens.example.com:8443 ')).toBe('https://tokens.example.com:8443');
    expect(parsePublicUrl('http://127.0.0.1:8787')).toBe('http://127.0.0.1:8787');
    expect(parsePublicUrl('http://localhost:8787/')).toBe('http://localhost:8787');
    expect(parsePublicUrl('http://[::1]:8787')).toBe('http://[::1]:8787');
    const refused: [string, RegExp][] = [
      ['http://tokens.example.com', /must be https:\/\/ for tokens\.example\.com/],
      ['https://tokens.example.com/tokenctl', /origin only/],
      ['https://tokens.example.com/?x=1', /origin only/],
      ['https://tokens.example.com/#x', /origin only/],
      ['https://user:pw@tokens.example.com', /user name or password/],
      ['ftp://tokens.example.com', /https:\/\//],
      ['tokens.example.com', /must be a URL/],
    ];
    for (const [text, message] of refused) expect(() => parsePublicUrl(text), text).toThrow(message);
    // The option wins over the variable, which is used when set and not empty.
    expect(publicUrlFrom(undefined, {})).toBeNull();
    expect(publicUrlFrom(undefined, { TOKENCTL_PUBLIC_URL: '' })).toBeNull();
    expect(publicUrlFrom(undefined, { TOKENCTL_PUBLIC_URL: 'https://a.example' })).toBe('https://a.example');
    expect(publicUrlFrom('https://b.example', { TOKENCTL_PUBLIC_URL: 'https://a.example' })).toBe('https://b.example');
    expect(() => publicUrlFrom(undefined, { TOKENCTL_PUBLIC_URL: 'http://a.example' })).toThrow(/^TOKENCTL_PUBLIC_URL must be https/);
  });
});

describe('RFC 8414 metadata', () => {
  it("with a public URL: each account's issuer, its own JWKS, the introspection endpoint and the methods it takes; cacheable", async () => {
    const server = started(await startTestServer({ publicUrl: 'https://tokens.example.com' }));
    const { accountId, credential } = await server.initAccount({ name: 'acme' });
    const service = await server.addPrincipal('acme', 'service', 'gateway');
    // Whatever Host the request names: the configured URL.
    const account = await get(server.url, `/.well-known/oauth-authorization-server/accounts/${accountId}`, { host: 'evil.example' });
    expect(account.status).toBe(200);
    expect(account.body).toEqual({
      issuer: `https://tokens.example.com/accounts/${accountId}`,
      jwks_uri: `https://tokens.example.com/accounts/${accountId}/jwks.json`,
      introspection_endpoint: 'https://tokens.example.com/v1/introspect',
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      response_types_supported: [],
      grant_types_supported: [],
    });
    expect(account.cacheControl).toBe('public, max-age=300');
    const serviceWide = await get(server.url, '/.well-known/oauth-authorization-server');
    expect(serviceWide.body).toEqual({
      issuer: 'https://tokens.example.com',
      introspection_endpoint: 'https://tokens.example.com/v1/introspect',
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      response_types_supported: [],
      grant_types_supported: [],
    });
    // API tokens name the issuer of the metadata, and introspection answers it.
    const issuer = `https://tokens.example.com/accounts/${accountId}`;
    const created = await createToken(server, credential, 'api', 'by-url');
    const jwks = (await get(server.url, `/accounts/${accountId}/jwks.json`)).body as JSONWebKeySet;
    server.clock.advance(31 * MIN);
    const { payload } = await jwtVerify(created.value, createLocalJWKSet(jwks), { issuer, typ: 'tokenctl-api+jwt', currentDate: server.clock.now() });
    expect(payload).toMatchObject({ iss: issuer, sub: accountId, client_id: accountId, jti: created.token.id });
    expect(payload.exp).toBeUndefined();
    expect(payload.aud).toBeUndefined();
    expect(await introspect(server, service, created.value)).toMatchObject({ active: true, iss: issuer, client_id: accountId, sub: accountId });
    expect(await introspect(server, service, 'tctl_s2s_nothing')).toEqual({ active: false });
  });

  it('without one: built on the request (Host; X-Forwarded-Proto/-Host from a trusted proxy only), never cached', async () => {
    const server = started(await startTestServer({ trustProxy: ['127.0.0.1'] }));
    const { accountId } = await server.initAccount({ name: 'acme' });
    const direct = await get(server.url, `/.well-known/oauth-authorization-server/accounts/${accountId}`);
    expect(direct.body.issuer).toBe(`${server.url}/accounts/${accountId}`);
    expect(direct.body.introspection_endpoint).toBe(`${server.url}/v1/introspect`);
    expect(direct.cacheControl).toBe('no-store');
    const proxied = await get(server.url, `/.well-known/oauth-authorization-server/accounts/${accountId}`, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'Tokens.Example.com' });
    expect(proxied.body.issuer).toBe(`https://tokens.example.com/accounts/${accountId}`);
    expect(proxied.body.jwks_uri).toBe(`https://tokens.example.com/accounts/${accountId}/jwks.json`);
    // API tokens made without a public URL name their account by urn (what the metadata cannot promise).
    const { credential } = await server.initAccount({ name: 'beta' });
    const value = (await call(server, 'POST', '/v1/tokens/default/reveal', { credential, json: {} })).body.value as string;
    expect(JSON.parse(Buffer.from(value.split('.')[1]!, 'base64url').toString()).iss).toMatch(/^urn:tokenctl:account:acc_/);

    const untrusted = started(await startTestServer());
    const other = await untrusted.initAccount({ name: 'acme' });
    const ignored = await get(untrusted.url, `/.well-known/oauth-authorization-server/accounts/${other.accountId}`, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' });
    expect(ignored.body.issuer).toBe(`${untrusted.url}/accounts/${other.accountId}`);
    const badHost = await get(untrusted.url, '/.well-known/oauth-authorization-server', { host: 'a"b' });
    expect(badHost.status).toBe(400);
    expect(badHost.body.error.message).toMatch(/--public-url/);
  });

  it('answers 404 for an account it does not have, and finds one another process created a moment ago', async () => {
    const server = started(await startTestServer());
    expect((await get(server.url, '/.well-known/oauth-authorization-server/accounts/acc_nope')).status).toBe(404);
    expect((await get(server.url, '/accounts/acc_nope/jwks.json')).status).toBe(404);
    const other = await openDataDir(path.join(server.dataDir, 'data'), { TOKENCTL_SERVER_KEY: server.serverKey, ...sqliteDriverEnv }, { create: false });
    try {
      const r = await initServiceAccount(other, { name: 'fresh', defaultToken: true }, server.clock);
      // No wait: the very next request.
      expect((await get(server.url, `/.well-known/oauth-authorization-server/accounts/${r.account.id}`)).status).toBe(200);
      expect((await get(server.url, `/accounts/${r.account.id}/jwks.json`)).body.keys).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it("serves each account's keys at its jwks_uri, and only them: another account's token does not verify there", async () => {
    const server = started(await startTestServer());
    const acme = await server.initAccount({ name: 'acme' });
    const beta = await server.initAccount({ name: 'beta' });
    const reveal = async (credential: string) => (await call(server, 'POST', '/v1/tokens/default/reveal', { credential, json: {} })).body.value as string;
    const acmeKeys = (await get(server.url, `/accounts/${acme.accountId}/jwks.json`)).body as JSONWebKeySet;
    expect(acmeKeys.keys).toHaveLength(1);
    await expect(jwtVerify(await reveal(acme.credential), createLocalJWKSet(acmeKeys), { issuer: issuerFor(acme.accountId) })).resolves.toBeTruthy();
    // Without checking iss at all (as mod_oauth2's jwks_uri mode does not), beta's token fails against acme's keys.
    await expect(jwtVerify(await reveal(beta.credential), createLocalJWKSet(acmeKeys))).rejects.toThrow(/no applicable key/);
    // The service-wide set has both (and says so: pin iss with it).
    expect((await get(server.url, '/.well-known/jwks.json')).body.keys).toHaveLength(2);
  });
});

/** The signing keys, on each storage the service runs on. */
const storages: [string, () => Promise<TestServer<unknown>>][] = [['SQLite', () => startTestServer()]];
if (postgresAvailable) storages.push(['PostgreSQL', async () => startPostgresTestServer(await (cluster ??= startCluster()))]);

describe.each(storages)('signing keys an operator chooses (%s)', (_name, start) => {
  it('signs new API tokens with ES256, then RS256; every older token keeps verifying; the JWKS has every key', async () => {
    const server = started(await start());
    const { accountId, credential } = await server.initAccount({ name: 'acme' });
    const service = await server.addPrincipal('acme', 'service', 'gateway');
    const reveal = async (name: string) => (await call(server, 'POST', `/v1/tokens/${name}/reveal`, { credential, json: { allowPending: true } })).body.value as string;
    const storage = server.storage as Parameters<typeof setSigningAlgorithm>[0];
    const before = await reveal('default');
    expect(decodeProtectedHeader(before).alg).toBe('EdDSA');

    const es = await setSigningAlgorithm(storage, 'acme', 'ES256', server.clock);
    expect(es).toMatchObject({ changed: true, before: 'EdDSA', alg: 'ES256' });
    expect(es.keys.map((k) => k.alg)).toEqual(['EdDSA', 'ES256']);
    await server.app.accounts.caughtUp(accountId);
    const esToken = await createToken(server, credential, 'api', 'es');
    expect(decodeProtectedHeader(esToken.value)).toMatchObject({ alg: 'ES256', kid: es.kid, typ: 'tokenctl-api+jwt' });
    // The same algorithm again changes nothing.
    expect(await setSigningAlgorithm(storage, 'acme', 'ES256', server.clock)).toMatchObject({ changed: false, alg: 'ES256', kid: es.kid });

    server.clock.advance(31 * MIN);
    // Active: the EdDSA token made before the switch, and the ES256 one.
    expect(await introspect(server, service, before)).toMatchObject({ active: true, status: 'active' });
    expect(await introspect(server, service, esToken.value)).toMatchObject({ active: true, status: 'active' });

    const rs = await setSigningAlgorithm(storage, 'acme', 'RS256', server.clock);
    await server.app.accounts.caughtUp(accountId);
    await call(server, 'DELETE', '/v1/tokens/es', { credential, json: { confirmation: 'Delete token' } });
    const rsToken = await createToken(server, credential, 'api', 'rs');
    expect(decodeProtectedHeader(rsToken.value)).toMatchObject({ alg: 'RS256', kid: rs.kid });
    expect((await accountSigning(storage, 'acme')).keys.map((k) => k.alg)).toEqual(['EdDSA', 'ES256', 'RS256']);

    const jwks = (await get(server.url, `/accounts/${accountId}/jwks.json`)).body as JSONWebKeySet;
    expect(jwks.keys.map((k) => [k.kty, k.alg])).toEqual([
      ['OKP', 'EdDSA'],
      ['EC', 'ES256'],
      ['RSA', 'RS256'],
    ]);
    expect(JSON.stringify(jwks)).not.toMatch(/"(d|p|q|dp|dq|qi)"/); // never a private part
    const keys = (await call(server, 'GET', '/v1/account/keys', { credential })).body;
    expect(keys.keys.map((k: { alg: string }) => k.alg)).toEqual(['EdDSA', 'ES256', 'RS256']);

    expect(await introspect(server, service, esToken.value)).toMatchObject({ active: true, status: 'draining' });
    server.clock.advance(31 * MIN);
    // Introspection: active whichever key signed it; the deleted ES256 one drained. Offline, each still verifies:
    // a signature proves a token authentic, not live.
    expect(await introspect(server, service, before)).toMatchObject({ active: true, status: 'active' });
    expect(await introspect(server, service, esToken.value)).toEqual({ active: false });
    expect(await introspect(server, service, rsToken.value)).toMatchObject({ active: true, status: 'active' });
    for (const value of [before, esToken.value, rsToken.value]) {
      await expect(jwtVerify(value, createLocalJWKSet(jwks), { issuer: issuerFor(accountId), currentDate: server.clock.now() })).resolves.toBeTruthy();
    }
    // A tampered one does not verify, whatever its algorithm.
    const [h, p, sig] = rsToken.value.split('.') as [string, string, string];
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), jti: 'tok_other' })).toString('base64url')}.${sig}`;
    expect(await introspect(server, service, tampered)).toEqual({ active: false });
    // Recorded in the trail.
    const events = (await call(server, 'GET', '/v1/audit/events', { credential })).body.events as { action: string; detail: Record<string, string> }[];
    expect(events.filter((e) => e.action === 'account.signing-key').map((e) => [e.detail.previousAlg, e.detail.alg])).toEqual([
      ['EdDSA', 'ES256'],
      ['ES256', 'RS256'],
    ]);
  });

  it('makes an account with ES256 or RS256 from the start', async () => {
    const server = started(await start());
    for (const alg of ['ES256', 'RS256'] as const) {
      const { credential } = await server.initAccount({ name: `acct-${alg}`, signingAlg: alg });
      const value = (await call(server, 'POST', '/v1/tokens/default/reveal', { credential, json: {} })).body.value as string;
      expect(decodeProtectedHeader(value).alg).toBe(alg);
      expect((await call(server, 'GET', '/v1/account/keys', { credential })).body.keys.map((k: { alg: string }) => k.alg)).toEqual([alg]);
      expect(await introspect(server, credential, value)).toMatchObject({ active: true });
    }
  });
});

if (!postgresAvailable) {
  describe('signing keys on PostgreSQL', () => {
    it.skipIf(!postgresRequired)('needs a real PostgreSQL (TOKENCTL_REQUIRE_POSTGRES=1 makes a missing one a failure)', () => {
      throw new Error(postgresMissing);
    });
  });
}
