import type { ErrorKind } from '../../core/errors.js';
import { roleRefusal, type Role } from '../../core/roles.js';
import type { Principal } from '../../tokens/principals.js';
import type { FailedAuthLimiter } from './limiter.js';

/**
 * The one door of authentication: every way into the service that needs a credential (the API's routes,
 * introspection, the Tokens page's sign-in) asks this, with the credential presented, the client's address and
 * the roles it allows; each door only renders the answer its own way (JSON, HTML). So the bearer syntax, the
 * failed-authentication limit (10 per address per minute, then 429) and the role check are decided once.
 */
export type AuthAnswer = { ok: true; principal: Principal } | { ok: false; refusal: AuthRefusal };

export interface AuthRefusal {
  /** 401: no, malformed or unknown credential; 403: a role not allowed here; 429: too many failures from the address. */
  status: 401 | 403 | 429;
  kind: ErrorKind;
  message: string;
  /** Seconds to wait (429). */
  retryAfterSeconds?: number;
  /** The principal, when it was known but its role is refused (403). */
  principal?: Principal;
}

/** One message for every failed authentication, whatever was wrong: nothing to learn from the difference. */
export const UNAUTHENTICATED_MESSAGE = 'authentication failed: missing, malformed or unknown credential';

/** A credential as it may be presented: printable ASCII, at most 256 characters. */
const CREDENTIAL = /^[\x21-\x7e]{1,256}$/;
const BEARER = /^Bearer ([\x21-\x7e]{1,256})$/i;

/**
 * What the door asks of storage: the principal a credential belongs to, from memory (synchronous); a promise only
 * when memory had to catch up with another process's change first.
 */
export interface CredentialLookup {
  authenticate(credential: string): Principal | null | Promise<Principal | null>;
}

export class Authenticator {
  constructor(
    private readonly lookup: CredentialLookup,
    readonly limiter: FailedAuthLimiter,
  ) {}

  /** The credential of an `Authorization: Bearer <credential>` header, or null. */
  static bearer(header: string | undefined): string | null {
    if (header === undefined) return null;
    return BEARER.exec(header)?.[1] ?? null;
  }

  /**
   * Checks a presented credential (null: none, or not in a form the door reads) from `address` against `roles`.
   * Answers at once when it can: a success, a blocked address, a refused role; a failure is counted first (for every
   * replica, within a second) and answered after, as a promise.
   */
  check(credential: string | null, address: string, roles: readonly Role[]): AuthAnswer | Promise<AuthAnswer> {
    const wait = this.limiter.retryAfterSeconds(address);
    if (wait > 0) return { ok: false, refusal: tooMany(wait) };
    const found = credential !== null && CREDENTIAL.test(credential) ? this.lookup.authenticate(credential) : null;
    return found instanceof Promise ? found.then((principal) => this.decide(principal, address, roles)) : this.decide(found, address, roles);
  }

  private decide(principal: Principal | null, address: string, roles: readonly Role[]): AuthAnswer | Promise<AuthAnswer> {
    if (!principal) {
      const unauthenticated: AuthAnswer = { ok: false, refusal: { status: 401, kind: 'permission', message: UNAUTHENTICATED_MESSAGE } };
      const counted = this.limiter.recordFailure(address);
      if (!counted) return unauthenticated;
      // Beyond the limit on all replicas together: answer 429 now (another replica's block may not be here yet).
      return counted.then((beyond) => (beyond ? { ok: false, refusal: tooMany(this.limiter.retryAfterSeconds(address) || 1) } : unauthenticated));
    }
    if (!roles.includes(principal.role)) return { ok: false, refusal: { status: 403, kind: 'permission', message: roleRefusal(principal.role, roles), principal } };
    return { ok: true, principal };
  }
}

function tooMany(wait: number): AuthRefusal {
  return { status: 429, kind: 'permission', message: `too many failed authentication attempts from this address; retry after ${wait} s`, retryAfterSeconds: wait };
}
