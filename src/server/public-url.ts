import { UsageError } from '../core/errors.js';

/** The variable that tells `serve` and `server init` the URL resource servers reach the service at. */
export const PUBLIC_URL_ENV = 'TOKENCTL_PUBLIC_URL';

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/**
 * The service's public URL (`--public-url`, TOKENCTL_PUBLIC_URL) as the origin issuers are built on: https (behind a
 * TLS-terminating proxy), or http for this machine only, as the CLI accepts. An origin only (no path, query or
 * credentials): an account's issuer is `<origin>/accounts/<id>` and its RFC 8414 metadata is at
 * `<origin>/.well-known/oauth-authorization-server/accounts/<id>`, which a path prefix would put outside the service.
 * Normalised as URL parsers have it (lower-case host, no default port, no trailing slash), so that the issuer in the
 * metadata is exactly the one a client derives from the URL it was given.
 */
export function parsePublicUrl(text: string, from = '--public-url'): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new UsageError(`${from} must be a URL such as https://tokens.example.com, not '${text.slice(0, 60)}'`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${from} must be an https:// URL (http:// only for this machine), not ${url.protocol}`);
  if (url.protocol === 'http:' && !LOOPBACK_HOST.test(url.hostname)) {
    throw new UsageError(`${from} must be https:// for ${url.hostname}: put a TLS-terminating proxy in front (plain http:// only for 127.0.0.1, localhost or [::1])`);
  }
  if (url.username !== '' || url.password !== '') throw new UsageError(`${from} must not contain a user name or password`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new UsageError(`${from} must be the service's origin only (scheme, host and port, such as https://tokens.example.com), without a path, query or fragment`);
  }
  return url.origin;
}

/** The public URL from the option, else from TOKENCTL_PUBLIC_URL, else null (issuers derived from each request). */
export function publicUrlFrom(option: string | undefined, env: Record<string, string | undefined>): string | null {
  if (option !== undefined) return parsePublicUrl(option);
  const fromEnv = env[PUBLIC_URL_ENV];
  return fromEnv !== undefined && fromEnv.trim() !== '' ? parsePublicUrl(fromEnv, PUBLIC_URL_ENV) : null;
}
