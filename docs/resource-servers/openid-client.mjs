// Introspection with openid-client 6 (npm), as a resource server runs it: discovery from the account's issuer
// (RFC 8414), then RFC 7662 introspection with the service principal's client id and credential.
//
//   TOKENCTL_ISSUER=https://tokens.example.com/accounts/acc_...   (the account's issuer; README "Resource servers")
//   TOKENCTL_CLIENT_ID=prn_...                                     (tokenctl server principals)
//   TOKENCTL_CLIENT_SECRET=tctl_key_...                            (the principal's credential; from a secret store)
//   TOKENCTL_CLIENT_AUTH=client_secret_basic                       (optional; openid-client's default is client_secret_post)
//
// Reads one presented token per line on stdin and writes one JSON answer per line on stdout.
import { createInterface } from 'node:readline';
import * as client from 'openid-client';

const issuer = new URL(process.env.TOKENCTL_ISSUER);
const secret = process.env.TOKENCTL_CLIENT_SECRET;
const config = await client.discovery(
  issuer, // the metadata's "issuer" must be exactly this URL
  process.env.TOKENCTL_CLIENT_ID,
  secret,
  process.env.TOKENCTL_CLIENT_AUTH === 'client_secret_basic' ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret),
  {
    algorithm: 'oauth2', // RFC 8414's /.well-known/oauth-authorization-server (the default looks for OpenID Connect's)
    ...(issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}), // plain http: this machine only
  },
);

for await (const token of createInterface({ input: process.stdin })) {
  try {
    const answer = await client.tokenIntrospection(config, token, { token_type_hint: 'access_token' });
    // answer.active is true for an active or draining token; a draining one has exp (when calls start being refused).
    console.log(JSON.stringify(answer));
  } catch (error) {
    // A refusal: ResponseBodyError (error, status) or WWWAuthenticateChallengeError (status, the challenge).
    console.log(JSON.stringify({ thrown: error.name, error: error.error, status: error.status, scheme: error.cause?.[0]?.scheme }));
  }
}
