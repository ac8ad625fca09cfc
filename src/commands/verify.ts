import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { TokenNotFoundError, UsageError } from '../core/errors.js';
import { toTokenView, type TokenRecord } from '../core/tokens.js';
import type { TokenBackend } from '../backends/token-backend.js';
import { renderJson } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { examples, globalsOf } from './shared.js';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function unknown(reason: string): never {
  throw new TokenNotFoundError(`unknown: ${reason}`);
}

/** API tokens: signature against the account's keys, an algorithm allow-list, typ, issuer; nbf gives pending. */
async function checkJwt(backend: TokenBackend, value: string): Promise<void> {
  const [{ decodeProtectedHeader, decodeJwt, jwtVerify, importJWK }, { API_TOKEN_TYP, isApiTokenTyp, isSigningAlg, issuerNamesAccount, SIGNING_ALGS }] = await Promise.all([
    import('jose'),
    import('../secrets/index.js'),
  ]);
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(value);
    claims = decodeJwt(value);
  } catch {
    throw new UsageError('this is not a well-formed JWT (mistyped or truncated?)');
  }
  if (!isSigningAlg(header.alg)) unknown(`algorithm '${String(header.alg).slice(0, 20)}' is not accepted (only ${SIGNING_ALGS.join(', ')})`);
  // Tokens issued before 0.2 say at+jwt; both are tokenctl's, checked the same way.
  if (!isApiTokenTyp(header.typ)) unknown(`the token type header is not '${API_TOKEN_TYP}'`);
  const keys = await backend.accountKeys();
  // After the answer: a service's clock is learned from it.
  const now = backend.clock.now();
  const jwk = keys.keys.find((k) => k.kid === header.kid);
  if (!jwk) unknown('it was not signed by a key of this account (unknown kid)');
  // The key decides the algorithm, never the token's header.
  if (header.alg !== jwk.alg) unknown(`algorithm '${header.alg}' is not the one of this account's key ${jwk.kid} (${jwk.alg})`);
  // nbf is checked separately (a token not yet active is pending, not forged): verify as of its activation.
  const nbf = typeof claims.nbf === 'number' ? claims.nbf * 1000 : 0;
  let verified = false;
  try {
    const { payload } = await jwtVerify(value, await importJWK(jwk, jwk.alg), {
      algorithms: [jwk.alg],
      // typ was checked above (two accepted values); jose takes one.
      subject: keys.accountId,
      requiredClaims: ['jti', 'iat', 'nbf', 'iss'],
      currentDate: new Date(Math.max(now.getTime(), nbf)),
    });
    // The account's urn, or its issuer URL (`<public URL>/accounts/<id>`, whatever URL the service had then).
    verified = issuerNamesAccount(payload.iss, keys.accountId);
  } catch {
    verified = false;
  }
  if (!verified) unknown("its signature or claims do not verify against this account's keys");
}

export function registerVerify(program: Command, deps: Deps): void {
  const cmd = program
    .command('verify')
    .description('read a token from stdin and say which token it is and its status, or that it is unknown')
    .action(async (_opts: unknown, self: Command) => {
      const globals = globalsOf(self);
      const raw = deps.io.stdinIsTTY ? await deps.prompter().secret('Paste the token') : await deps.io.readStdin();
      const value = raw.trim();
      if (value === '') throw new UsageError('no token on stdin; pipe it in: tokenctl verify < token.txt');
      const backend = await deps.backend(globals);
      if (value.startsWith('tctl_')) {
        const { checkOpaqueToken } = await import('../secrets/index.js');
        const check = checkOpaqueToken(value);
        if (!check.ok) {
          throw new UsageError(
            check.reason === 'checksum'
              ? 'checksum mismatch: this token was mistyped or altered (checked offline, nothing was looked up)'
              : 'malformed tokenctl token: wrong length or characters (mistyped or truncated?)',
          );
        }
      } else if (JWT_SHAPE.test(value)) {
        await checkJwt(backend, value);
      } else {
        throw new UsageError('this is not a tokenctl token (expected tctl_… or an API JWT)');
      }
      const token: TokenRecord | null = await backend.identify(value);
      if (!token) unknown('no token of this account has this value');
      const view = toTokenView(token, backend.clock.now());
      if (globals.json) deps.io.out(renderJson(view));
      else deps.io.out(`${view.id}\t${safeText(view.name)}\t${view.type}\t${view.status}${view.stale ? '\tstale' : ''}\n`);
    });
  examples(cmd, ['tokenctl verify < leaked.txt', "grep -o 'tctl_s2s_[A-Za-z0-9]*' app.log | head -1 | tokenctl verify --json"]);
}
