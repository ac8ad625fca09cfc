// Offline verification of API tokens with jose 6 (npm) against the account's JWKS: proves a token authentic and
// tells whether it is active yet (nbf), nothing more. A deleted token keeps verifying here, during its drain and after
// it (only introspection knows of deletions).
//
//   TOKENCTL_ISSUER=https://tokens.example.com/accounts/acc_...   (its JWKS is <issuer>/jwks.json)
//
// Reads one token per line on stdin and writes one JSON line per token: its claims, or why it was refused.
import { createInterface } from 'node:readline';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const issuer = process.env.TOKENCTL_ISSUER;
const keys = createRemoteJWKSet(new URL(`${issuer}/jwks.json`)); // cached; fetched again for an unknown kid

for await (const token of createInterface({ input: process.stdin })) {
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer, // pin the account: its JWKS has only its keys, but a token names its issuer too
      algorithms: ['EdDSA', 'ES256', 'RS256'], // whichever the account's key signs with (the key's alg decides)
      typ: 'tokenctl-api+jwt',
      requiredClaims: ['sub', 'jti', 'iat', 'nbf'],
    });
    console.log(JSON.stringify({ valid: true, sub: payload.sub, jti: payload.jti }));
  } catch (error) {
    console.log(JSON.stringify({ valid: false, code: error.code }));
  }
}
