import { hash } from 'node:crypto';
import type { ErrorKind } from '../../core/errors.js';
import { roleRefusal, type Role } from '../../core/roles.js';
import type { Principal } from '../../tokens/principals.js';
import type { FailedAuthLimiter } from './limiter.js';

/**
 * The one door of authentication: every way into the service that needs a credential (the API's routes,
 * introspection, the Tokens page's sign-in) asks this, with the credential presented (and, for OAuth client
 * authentication, the client id it came with), the client's address and the roles it allows; each door only renders
 * the answer its own way (JSON, OAuth errors, HTML). So the credential syntaxes (Bearer, Basic), the
 * failed-authentication limit and the role check are decided once.
 *
 * The limit counts guesses: a credential that was looked up and belongs to nobody. 10 different ones from one address
 * within a minute block the address for a minute (429 for everyone behind it). What is not a guess is not counted:
 * no credential at all (a gateway left on another client authentication method), one in no form the door reads, the
 * same wrong credential again (a client with a stale secret repeats itself: it learns nothing new), and a right secret
 * presented with another principal's client id. So a misconfigured gateway gets its own 401s and never locks out its
 * neighbours behind the same address, while guessing stays at 10 credentials a minute per address.
 */
export type AuthAnswer = { ok: true; principal: Principal } | { ok: false; refusal: AuthRefusal };

/** Why a request was refused, for the doors that word it (OAuth's error codes, challenges). */
export type AuthFailure = 'missing' | 'invalid' | 'role' | 'blocked';

export interface AuthRefusal {
  /** 401: no, malformed or unknown credential; 403: a role not allowed here; 429: too many failures from the address. */
  status: 401 | 403 | 429;
  kind: ErrorKind;
  message: string;
  /** missing: no credential in a form the door reads; invalid: unknown, or not the client id's; role; blocked (429). */
  reason: AuthFailure;
  /** Seconds to wait (429). */
  retryAfterSeconds?: number;
  /** The principal, when it was known but its role is refused (403). */
  principal?: Principal;
}

/** One message for every failed authentication, whatever was wrong: nothing to learn from the difference. */
export const UNAUTHENTICATED_MESSAGE = 'authentication failed: missing, malformed or unknown credential';

/** A character no credential has: credentials are printable ASCII. */
const NOT_CREDENTIAL = /[^\x21-\x7e]/;
/**
 * Whether a presented credential is in the form credentials have: printable ASCII, 1 to 256 characters. The
 * introspection door asks on every call: a search for one character outside the range runs fewer instructions than an
 * anchored pattern with a bounded repetition, and a loop over the characters in JavaScript more than either (V8 reads
 * the characters of a sliced string, as `bearer` returns, one call at a time).
 */
const isCredential = (s: string): boolean => s.length > 0 && s.length <= 256 && !NOT_CREDENTIAL.test(s);
/** `Bearer ` (case-insensitive, RFC 7235: an auth scheme is a token compared without case), as character codes. */
const BEARER_SCHEME = [0x62, 0x65, 0x61, 0x72, 0x65, 0x72];
const BASIC = /^Basic ([A-Za-z0-9+/]+={0,2})$/i;
/** A client id as presented: a principal's id, printable ASCII, bounded. */
const CLIENT_ID = /^[\x21-\x7e]{1,128}$/;

/** OAuth client credentials (RFC 6749 section 2.3.1) as read from a request. */
export interface ClientCredentials {
  clientId: string;
  secret: string;
}

/** A form-urlencoded component (RFC 6749 appendix B): `+` is a space, then percent-decoding; null when it does not decode. */
function formDecode(text: string): string | null {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/**
 * What the door asks of storage: the principal a credential belongs to, from memory (synchronous); a promise only
 * when memory had to catch up with another process's change first.
 */
export interface CredentialLookup {
  authenticate(credential: string): Principal | null | Promise<Principal | null>;
  /** Changes whenever a principal may have changed, as far as this process knows (its own changes, other replicas' as notified). */
  readonly generation: number;
}

/**
 * How long a success is remembered: by a connection (`Authenticator.remember`, `recall`), at most this long after the
 * door checked the credential; by the lookup's own memory (principals.ts), this long after it found it.
 */
export const REMEMBERED_MS = 5_000;

/** A successful authentication, to be recalled on the connection it was made on (see `Authenticator.recall`). */
export interface Remembered {
  readonly answer: AuthAnswer & { ok: true };
  /** The lookup's generation read before the credential was checked. */
  readonly generation: number;
  /** On the monotonic clock (performance.now(), ms): recalled before this only. */
  readonly until: number;
}

export class Authenticator {
  constructor(
    private readonly lookup: CredentialLookup,
    readonly limiter: FailedAuthLimiter,
  ) {}

  /**
   * What follows `Bearer ` in an Authorization header (the scheme in any case), or null when the header is not a
   * Bearer one. Whether that is a credential at all is `check`'s to decide, as for every other way one is presented.
   */
  static bearer(header: string | undefined): string | null {
    if (header === undefined || header.length < 7 || header.charCodeAt(6) !== 0x20) return null;
    // Setting bit 5 lowers an ASCII letter and turns no other character into one.
    for (let i = 0; i < 6; i++) if ((header.charCodeAt(i) | 0x20) !== BEARER_SCHEME[i]) return null;
    return header.slice(7);
  }

  /** Whether a header is a Basic one (whatever its content): the door then answers in Basic's terms. */
  static isBasic(header: string): boolean {
    return header.length > 6 && header.charCodeAt(5) === 32 && header.slice(0, 5).toLowerCase() === 'basic';
  }

  /**
   * The client id and secret of an `Authorization: Basic` header (client_secret_basic), or null when it is not one
   * the door reads. RFC 6749 section 2.3.1: the base64 of `id:secret`, each form-urlencoded first, so both are
   * decoded after the base64 (a client that does not encode sends the same bytes for ids and secrets like ours).
   */
  static basic(header: string | undefined): ClientCredentials | null {
    if (header === undefined) return null;
    const m = BASIC.exec(header);
    if (!m) return null;
    const plain = Buffer.from(m[1]!, 'base64').toString('latin1');
    const colon = plain.indexOf(':');
    if (colon <= 0) return null;
    const clientId = formDecode(plain.slice(0, colon));
    const secret = formDecode(plain.slice(colon + 1));
    return clientId !== null && secret !== null ? { clientId, secret } : null;
  }

  /**
   * Checks a presented credential (null: none, or not in a form the door reads) from `address` against `roles`; with
   * `clientId` (OAuth client authentication), the credential must also be that client's. Answers at once when it
   * can: a success, a blocked address, a refused role; a failure that counts is counted first (for every replica,
   * within a second) and answered after, as a promise.
   */
  check(credential: string | null, address: string, roles: readonly Role[], clientId?: string): AuthAnswer | Promise<AuthAnswer> {
    const wait = this.limiter.retryAfterSeconds(address);
    if (wait > 0) return { ok: false, refusal: tooMany(wait) };
    if (credential === null || !isCredential(credential) || (clientId !== undefined && !CLIENT_ID.test(clientId))) return MISSING;
    const found = this.lookup.authenticate(credential);
    return found instanceof Promise ? found.then((principal) => this.decide(principal, credential, address, roles, clientId)) : this.decide(found, credential, address, roles, clientId);
  }

  /** The lookup's generation now: read it before `check`, for `remember` (a change while the check waited is then seen). */
  get generation(): number {
    return this.lookup.generation;
  }

  /**
   * A success to remember on the connection it was made on: a door whose callers keep connections open (introspection:
   * a gateway sends the same Authorization header on every call of a keep-alive connection) keeps the last one per
   * connection, and answers the same header on that connection with `recall`, without finding the credential again.
   * `generation`: `this.generation` as read before the `check` that answered (not after: a check that waited for
   * memory to catch up may have seen a change land meanwhile, and its answer must not outlive that change).
   */
  remember(answer: AuthAnswer & { ok: true }, generation: number, nowMs: number = performance.now()): Remembered {
    return { answer, generation, until: nowMs + REMEMBERED_MS };
  }

  /**
   * A remembered success again, for the same credential presented on the same connection, as `check` would answer it
   * now: null when it may no longer hold (a principal changed since, or it is older than REMEMBERED_MS: then `check`
   * looks the credential up), a 429 when the address is blocked, null too when the role is not allowed here (`check`
   * words the refusal). Failures are never remembered: every guess is counted by `check`.
   */
  recall(remembered: Remembered, address: string, roles: readonly Role[], nowMs: number = performance.now()): AuthAnswer | null {
    if (remembered.generation !== this.lookup.generation || remembered.until <= nowMs) return null;
    const wait = this.limiter.retryAfterSeconds(address);
    if (wait > 0) return { ok: false, refusal: tooMany(wait) };
    return roles.includes(remembered.answer.principal.role) ? remembered.answer : null;
  }

  private decide(principal: Principal | null, credential: string, address: string, roles: readonly Role[], clientId: string | undefined): AuthAnswer | Promise<AuthAnswer> {
    if (!principal) {
      // A guess: counted once per distinct credential (by a truncated SHA-256 of it; the credential itself is not kept).
      const counted = this.limiter.recordFailure(address, hash('sha256', credential, 'base64').slice(0, 22));
      if (!counted) return INVALID;
      // Beyond the limit on all replicas together: answer 429 now (another replica's block may not be here yet).
      return counted.then((beyond) => (beyond ? { ok: false, refusal: tooMany(this.limiter.retryAfterSeconds(address) || 1) } : INVALID));
    }
    // The right secret with another client id: a misconfiguration, not a guess (whoever sent it has the secret).
    if (clientId !== undefined && clientId !== principal.id) return INVALID;
    if (!roles.includes(principal.role)) return { ok: false, refusal: { status: 403, kind: 'permission', reason: 'role', message: roleRefusal(principal.role, roles), principal } };
    return { ok: true, principal };
  }
}

const refusal401 = (reason: AuthFailure): AuthAnswer => Object.freeze({ ok: false, refusal: Object.freeze({ status: 401, kind: 'permission', reason, message: UNAUTHENTICATED_MESSAGE }) });
const MISSING = refusal401('missing');
const INVALID = refusal401('invalid');

function tooMany(wait: number): AuthRefusal {
  return { status: 429, kind: 'permission', reason: 'blocked', message: `too many failed authentication attempts from this address; retry after ${wait} s`, retryAfterSeconds: wait };
}
