// The peer a user could run instead of tokenctl's introspection: panva's oidc-provider (node-oidc-provider 9), with
// its in-memory adapter, the client credentials grant and introspection enabled, for bench/introspect.mjs. It issues
// one access token to a client, prints "port <n>" and the token on stderr, then answers RFC 7662 introspection at
// /token/introspection for that client (client_secret_basic). Nothing else is configured.
import http from 'node:http';
import Provider from 'oidc-provider';

const CLIENT = { client_id: 'resource-server', client_secret: 'bench-client-secret-0123456789abcdef' };
const provider = new Provider('http://127.0.0.1', {
  clients: [{ ...CLIENT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' }],
  features: { clientCredentials: { enabled: true }, introspection: { enabled: true }, devInteractions: { enabled: false } },
});
// Its own warning about the in-memory adapter is for development setups: this is one.
provider.on('server_error', (_ctx, error) => process.stderr.write(`oidc-provider: ${error}\n`));

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 5_000;
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const basic = `Basic ${Buffer.from(`${CLIENT.client_id}:${CLIENT.client_secret}`).toString('base64')}`;
  const res = await fetch(`http://127.0.0.1:${port}/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const { access_token: token } = await res.json();
  process.stderr.write(`port ${port}\ntoken ${token}\nauthorization ${basic}\n`);
});
process.on('SIGTERM', () => process.exit(0));
