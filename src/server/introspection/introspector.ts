import { createPublicKey, verify as cryptoVerify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import { activeFromCreation, deletedWhilePending, POLICY, rejectedAtOf, type TokenRecord } from '../../core/tokens.js';
import { accountIssuer, isApiTokenTyp, issuerNamesAccount, type SigningAlg } from '../../secrets/jwt.js';
import { checkOpaqueToken } from '../../secrets/opaque.js';
import type { IntrospectionLookup } from './lookup.js';

/** RFC 7662 answer. An unknown, malformed, pending or revoked token gets exactly `{"active":false}`. */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      type: TokenRecord['type'];
      status: 'active' | 'draining';
      sub: string;
      iss: string;
      /** RFC 9068 / RFC 7662: the client the token was issued to, its account (sub = client_id, no resource owner). */
      client_id: string;
      jti: string;
      iat: number;
      nbf: number;
      exp?: number;
    };

export const INACTIVE = Object.freeze({ active: false }) as { active: false };

/** Longer than any value we mint by a wide margin; anything longer is not ours. */
const MAX_VALUE_LENGTH = 4096;

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/**
 * How long an answer that a token is active stays true, at least: deleting a token starts its drain (30 minutes, per
 * the spec), it does not stop it, so a resource server may keep an active answer that long without ever accepting a
 * token the service would refuse. Less a minute for what this service may not know yet (another replica's deletion
 * reaches it within a second; replicas' clocks may differ by a little). Sent as `Cache-Control: private, max-age`.
 */
export const ACTIVE_ANSWER_MAX_AGE_S = POLICY.drainMs / 1000 - 60;
const CACHE_MARGIN_MS = 60_000;
const ACTIVE_CACHE_CONTROL = `private, max-age=${ACTIVE_ANSWER_MAX_AGE_S}`;

/** The Cache-Control of a draining token's answer at `nowMs`: kept at most until its drain ends (`exp`), less the margin. */
export function drainingCacheControl(rejectedAtMs: number, nowMs: number): string {
  return `private, max-age=${Math.max(0, Math.floor((rejectedAtMs - CACHE_MARGIN_MS - nowMs) / 1000))}`;
}

/** A verification key: the key object, the algorithm its type signs with, and node:crypto's arguments for it. */
interface VerificationKey {
  accountId: string;
  alg: SigningAlg;
  key: KeyObject;
  /** node:crypto's digest argument (null for Ed25519, which has its own). */
  digest: 'sha256' | null;
  /** What node:crypto verifies with: ES256 signatures are r||s (IEEE P1363), as JWS has them, not DER. */
  verifyWith: VerifyKeyObjectInput | KeyObject;
  /** The signature's exact length in bytes. */
  signatureBytes: number;
}

/** Public keys by kid, from storage; reloaded once on an unknown kid (a new account may have been added). */
export class SigningKeyCache {
  private keys = new Map<string, VerificationKey>();
  private loadedAt = 0;
  private loadedGeneration = -1;

  constructor(private readonly lookup: Pick<IntrospectionLookup, 'signingKeys' | 'tokenGeneration'>) {}

  private reload(): void {
    const next = new Map<string, VerificationKey>();
    for (const k of this.lookup.signingKeys()) {
      const { kid: _kid, alg, use: _use, ...jwk } = k.publicJwk;
      const key = createPublicKey({ key: jwk, format: 'jwk' });
      const verifyWith = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
      const signatureBytes = alg === 'RS256' ? Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8) : 64;
      next.set(k.kid, { accountId: k.accountId, alg, key, digest: alg === 'EdDSA' ? null : 'sha256', verifyWith, signatureBytes });
    }
    this.keys = next;
    this.loadedAt = Date.now();
    this.loadedGeneration = this.lookup.tokenGeneration;
  }

  get(kid: string): VerificationKey | undefined {
    const hit = this.keys.get(kid);
    // Unknown kids are probed at most once a second, so garbage kids cannot turn into a query per request.
    // At once after a change this process knows of (a new account's key), else at most once a second.
    if (!hit && (this.lookup.tokenGeneration !== this.loadedGeneration || Date.now() - this.loadedAt > 1_000)) {
      this.reload();
      return this.keys.get(kid);
    }
    return hit;
  }
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function decodeJson(part: string): Record<string, unknown> | null {
  if (!B64URL.test(part)) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Verifies an API token (compact JWS) before the store is asked: typ tokenctl-api+jwt (or at+jwt, as tokens issued
 * before 0.2 say), no `crit`, a known kid, and exactly the algorithm of that kid's key (EdDSA, ES256 or RS256: the
 * key decides, never the header, so `none`, HS256 with the public key as secret, or another key type's algorithm
 * are refused before any signature is checked), a signature valid under that key, then an iss naming the key's
 * account (its urn or its issuer URL), its sub, a jti, and nbf not in the future. Done with node:crypto's one-shot
 * verify, synchronously: WebCrypto (which jose uses) costs several times more per call on the introspection hot
 * path. The exact value must then also be one the service issued.
 */
export function verifyApiToken(value: string, keys: SigningKeyCache, now: Date): { accountId: string; jti: string } | null {
  const claims = verifySignedClaims(value, keys);
  return claims && claimsValidAt(claims, now) ? { accountId: claims.accountId, jti: claims.jti } : null;
}

interface VerifiedClaims {
  accountId: string;
  jti: string;
  nbf: number;
  exp: number | null;
}

function claimsValidAt(c: VerifiedClaims, now: Date): boolean {
  return c.nbf * 1000 <= now.getTime() && (c.exp === null || c.exp * 1000 > now.getTime());
}

/** Everything but the time checks, which depend on when the token is presented. */
function verifySignedClaims(value: string, keys: SigningKeyCache): VerifiedClaims | null {
  const parts = value.split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJson(h);
  if (!header || typeof header.alg !== 'string' || !isApiTokenTyp(header.typ) || typeof header.kid !== 'string' || 'crit' in header) return null;
  const key = keys.get(header.kid);
  if (!key || header.alg !== key.alg || !B64URL.test(s)) return null;
  const signature = Buffer.from(s, 'base64url');
  if (signature.length !== key.signatureBytes) return null;
  let valid: boolean;
  try {
    valid = cryptoVerify(key.digest, Buffer.from(`${h}.${p}`, 'ascii'), key.verifyWith, signature);
  } catch {
    return null;
  }
  if (!valid) return null;
  const claims = decodeJson(p);
  if (!claims || !issuerNamesAccount(claims.iss, key.accountId) || claims.sub !== key.accountId || typeof claims.jti !== 'string') return null;
  if (typeof claims.iat !== 'number' || typeof claims.nbf !== 'number') return null;
  if (claims.exp !== undefined && typeof claims.exp !== 'number') return null;
  return { accountId: key.accountId, jti: claims.jti, nbf: claims.nbf, exp: typeof claims.exp === 'number' ? claims.exp : null };
}

/**
 * Signature checks of API tokens already verified, by keyed fingerprint of the exact value: resource servers
 * present the same token again and again, and an Ed25519 verification costs far more than the rest of an
 * introspection. A verified string stays verified (a kid's key never changes); time checks are the caller's.
 * Bounded: the oldest entry goes first.
 */
class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedClaims>();
  constructor(private readonly max = 10_000) {}

  claims(fingerprint: string, value: string, keys: SigningKeyCache): VerifiedClaims | null {
    let claims = this.entries.get(fingerprint);
    if (claims === undefined) {
      const verified = verifySignedClaims(value, keys);
      // Failures are not cached: an unknown kid may become known when an account is added.
      if (!verified) return null;
      if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(fingerprint, verified);
      claims = verified;
    }
    return claims;
  }
}

/** One introspection's answer: the RFC 7662 object, the same serialized, the token to record as used, and whether it drains. */
export interface IntrospectionAnswer {
  response: IntrospectionResponse;
  json: string;
  /** Its Content-Length (the bytes of `json`), counted once when the answer is built, not on every request. */
  contentLength: string;
  tokenId?: string;
  /**
   * How long the caller may keep the answer (Cache-Control): an active token's answer stays true for the drain at
   * least (ACTIVE_ANSWER_MAX_AGE_S); an inactive one is not kept (`no-store`: a pending token activates at its time,
   * and its answer is the same as an unknown value's). Null for a draining token: until its drain ends
   * (`drainingCacheControl(rejectedAtMs, now)`).
   */
  cacheControl: string | null;
  /** A draining token's end of drain (epoch ms). */
  rejectedAtMs?: number;
  /** A deleted token still accepted during its drain (the drain watch records it). */
  draining?: boolean;
}

/** The serialized body of an answer and its length in bytes. */
const body = (response: IntrospectionResponse) => {
  const json = JSON.stringify(response);
  return { json, contentLength: String(Buffer.byteLength(json)) };
};

const INACTIVE_ANSWER: IntrospectionAnswer = Object.freeze({ response: INACTIVE, ...body(INACTIVE), cacheControl: 'no-store' });

/** What a value resolves to, whoever asks and whenever: everything but the checks against the caller and the clock. */
interface Resolved {
  accountId: string;
  tokenId: string;
  /** An API token's own nbf/exp claims (ms); none for opaque tokens. */
  claimsNbfMs: number;
  claimsExpMs: number | null;
  activatesAtMs: number;
  /** When a deleted token stops draining; null while it is live. */
  rejectedAtMs: number | null;
  active: IntrospectionAnswer;
  /** The draining answer; null for a live token and for one deleted before it activated (never active). */
  draining: IntrospectionAnswer | null;
  /** The sweep count it was resolved at (it is used until the next sweep), and the store's change count. */
  epoch: number;
  generation: number;
}


/**
 * Introspection (RFC 7662): which token of the caller's account is this value, and may it be used now? Pending
 * tokens are inactive until they activate; deleted ones stay active while they drain (30 minutes, per the spec),
 * then are revoked. An unknown, malformed, pending or revoked token, or another account's, gets exactly
 * `{"active":false}`.
 *
 * Values presented again within a second are answered from memory, keyed by the value itself: no HMAC, no
 * checksum, no lookup, no serialization (the answers are built once per value). Values that resolve to nothing
 * (never issued, or not in the form of ours) are remembered as such the same way, in a table of their own, so that
 * garbage cannot push known values out. A value stays in memory at most about two seconds after it was resolved (the
 * service sweeps every second), and nothing read before this process learns of a change to tokens (its own, or
 * another replica's through the index) is used after it, so a deleted token's value does not linger and a new one is
 * never missed. Both tables are bounded. Answers from memory are faster than lookups: the bodies of unknown and
 * revoked tokens are identical, their timing is not (as with any cache).
 */
export class Introspector {
  private readonly keys: SigningKeyCache;
  private readonly verified = new VerifiedTokenCache();
  private readonly resolved = new Map<string, Resolved>();
  /** Values that resolved to nothing (never issued, or not ours), with the sweep and change counts they were read at. */
  private readonly unknown = new Map<string, { epoch: number; generation: number }>();
  /**
   * Sweeps so far (the service sweeps every second): a value is used until the next sweep, at most a second, measured
   * without reading a clock on every introspection. Another process's change on the same data shows within it.
   */
  private epoch = 0;

  constructor(
    private readonly lookup: IntrospectionLookup,
    private readonly max = 10_000,
    /** The service's public URL: answers name the account's issuer URL (null: its urn). */
    private readonly publicUrl: string | null = null,
  ) {
    this.keys = new SigningKeyCache(lookup);
  }

  /** How many values are remembered now. */
  get remembered(): number {
    return this.resolved.size;
  }

  /**
   * Forgets expired values and those read before this process's last change to tokens. Both sit at the front:
   * the table is in insertion order, and later entries expire later and have a newer or equal change count.
   */
  sweep(): void {
    const epoch = ++this.epoch;
    const generation = this.lookup.tokenGeneration;
    for (const [value, r] of this.resolved) {
      if (r.generation === generation && r.epoch === epoch) break;
      this.resolved.delete(value);
    }
    for (const [value, r] of this.unknown) {
      if (r.generation === generation && r.epoch === epoch) break;
      this.unknown.delete(value);
    }
  }

  /** `t`: the service's time, epoch ms. */
  introspect(value: string, callerAccountId: string, t: number): IntrospectionAnswer {
    if (value.length === 0 || value.length > MAX_VALUE_LENGTH) return INACTIVE_ANSWER;
    const epoch = this.epoch;
    let r = this.resolved.get(value);
    if (r !== undefined && (r.epoch !== epoch || r.generation !== this.lookup.tokenGeneration)) {
      this.resolved.delete(value);
      r = undefined;
    }
    if (r === undefined) {
      const miss = this.unknown.get(value);
      if (miss !== undefined && miss.epoch === epoch && miss.generation === this.lookup.tokenGeneration) return INACTIVE_ANSWER;
      const fresh = this.resolve(value, epoch);
      if (fresh === null) {
        // A value presented again and again that the service never issued (a misconfigured client, a probe) costs a
        // lookup in memory, not a keyed fingerprint each time. Kept as briefly and as bounded as known ones, and
        // forgotten at once when this process learns of any change to tokens: a value issued since is never missed.
        if (this.unknown.size >= this.max) this.unknown.delete(this.unknown.keys().next().value!);
        this.unknown.set(value, { epoch, generation: this.lookup.tokenGeneration });
        return INACTIVE_ANSWER;
      }
      if (this.resolved.size >= this.max) this.resolved.delete(this.resolved.keys().next().value!);
      this.resolved.set(value, fresh);
      r = fresh;
    }
    if (r.accountId !== callerAccountId) return INACTIVE_ANSWER;
    if (r.claimsNbfMs > t || (r.claimsExpMs !== null && r.claimsExpMs <= t)) return INACTIVE_ANSWER;
    if (t < r.activatesAtMs) return INACTIVE_ANSWER; // pending, deleted or not
    if (r.rejectedAtMs === null) return r.active;
    return t < r.rejectedAtMs && r.draining !== null ? r.draining : INACTIVE_ANSWER;
  }

  private resolve(value: string, epoch: number): Resolved | null {
    const generation = this.lookup.tokenGeneration;
    const fingerprint = this.lookup.fingerprint(value);
    let claims: VerifiedClaims | null = null;
    let expectedType: TokenRecord['type'] | undefined;
    if (value.startsWith('eyJ')) {
      claims = this.verified.claims(fingerprint, value, this.keys);
      if (!claims) return null;
    } else {
      // Prefix, length and checksum are checked offline: a mistyped value never reaches the database.
      const check = checkOpaqueToken(value);
      if (!check.ok) return null;
      expectedType = check.type;
    }
    const match = this.lookup.tokenByFingerprint(fingerprint);
    if (!match) return null;
    if (claims && (match.accountId !== claims.accountId || match.token.id !== claims.jti)) return null;
    if (expectedType !== undefined && match.token.type !== expectedType) return null;
    const token = match.token;
    const active = Object.freeze({
      active: true,
      type: token.type,
      status: 'active',
      sub: match.accountId,
      iss: accountIssuer(match.accountId, this.publicUrl),
      client_id: match.accountId,
      jti: token.id,
      iat: seconds(token.createdAt),
      nbf: seconds(token.activatesAt),
    } as const);
    const rejectedAt = rejectedAtOf(token);
    // Deletion lets a token that was in use keep working while it drains; one deleted before it ever activated
    // (created by mistake, or leaked while pending) never becomes active.
    const draining =
      rejectedAt === null || deletedWhilePending(token) ? null : Object.freeze({ ...active, status: 'draining', exp: seconds(rejectedAt) } as const);
    return {
      accountId: match.accountId,
      tokenId: token.id,
      // Usable at once means usable on every replica at once, whatever its clock (core/tokens.ts activeFromCreation):
      // its nbf is its iat, which another replica's clock may not have reached yet.
      claimsNbfMs: claims && !activeFromCreation(token) ? claims.nbf * 1000 : -Infinity,
      claimsExpMs: claims && claims.exp !== null ? claims.exp * 1000 : null,
      activatesAtMs: activeFromCreation(token) ? -Infinity : Date.parse(token.activatesAt),
      rejectedAtMs: rejectedAt === null ? null : Date.parse(rejectedAt),
      active: Object.freeze({ response: active, ...body(active), tokenId: token.id, cacheControl: ACTIVE_CACHE_CONTROL }),
      draining: draining && Object.freeze({ response: draining, ...body(draining), tokenId: token.id, cacheControl: null, rejectedAtMs: Date.parse(rejectedAt!), draining: true }),
      epoch,
      generation,
    };
  }
}
