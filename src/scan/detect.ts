import { isSigningAlg } from '../core/signing.js';
import { isApiTokenTyp } from '../secrets/jwt.js';
import { checkOpaqueToken, maskValue, OPAQUE_BODY_LENGTH, OPAQUE_CHECKSUM_LENGTH, OPAQUE_PREFIXES } from '../secrets/opaque.js';
import type { TokenType } from '../core/tokens.js';

/**
 * Finds tokenctl token values in text, offline. Opaque tokens count only with a known prefix AND a valid
 * checksum, so random strings never raise an alarm; API tokens count only when they are JWTs signed with one of
 * tokenctl's algorithms, typed as tokenctl's, and issued by a tokenctl account. Pure: no I/O.
 */
export interface Detection {
  type: TokenType;
  value: string;
  /** Offset in the text (UTF-16 code units). */
  index: number;
  line: number;
  /** 1-based, in UTF-16 code units (SARIF's default column kind). */
  column: number;
  masked: string;
}

const OPAQUE_TAIL = OPAQUE_BODY_LENGTH + OPAQUE_CHECKSUM_LENGTH;
const prefixes = Object.values(OPAQUE_PREFIXES) as string[];
const OPAQUE_CANDIDATE = new RegExp(`(?:${prefixes.join('|')})[0-9A-Za-z]{${OPAQUE_TAIL}}`, 'g');
// header.payload.signature, both JSON parts starting with '{"' (base64url "eyJ"); an Ed25519 or ES256 (P-256)
// signature is 64 bytes, 86 base64url characters; an RS256 one (RSA 2048) 256 bytes, 342 characters.
// The candidate takes every base64url character after the second dot; the header's alg says how many are the
// signature (a token is often followed by more such characters: quotes are optional, base62 noise is not).
const JWT_CANDIDATE = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{86,}/g;
const SIGNATURE_CHARS: Record<string, number> = { EdDSA: 86, ES256: 86, RS256: 342 };
// An account's urn, or its issuer URL (the service's public URL, /accounts/<id>).
const ISSUER = /^(?:urn:tokenctl:account:[^\s]+|https?:\/\/[^\s/]+\/accounts\/acc_[A-Za-z0-9]+)$/;

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** An API token by structure: EdDSA, ES256 or RS256, tokenctl's typ, a tokenctl issuer. The signature is not (cannot be) checked here. */
export function isApiTokenShape(jwt: string): boolean {
  const [h, p, s] = jwt.split('.');
  if (h === undefined || p === undefined || s === undefined || jwt.split('.').length !== 3) return false;
  const header = decodeJson(h);
  if (!header || !isSigningAlg(header.alg) || !isApiTokenTyp(header.typ)) return false;
  const payload = decodeJson(p);
  return payload !== null && typeof payload.iss === 'string' && ISSUER.test(payload.iss);
}

/** The API token a candidate starts with (its signature cut to its algorithm's length), or null. */
function apiTokenAt(candidate: string): string | null {
  const first = candidate.indexOf('.');
  const second = candidate.indexOf('.', first + 1);
  const header = decodeJson(candidate.slice(0, first));
  const length = header && typeof header.alg === 'string' ? SIGNATURE_CHARS[header.alg] : undefined;
  if (length === undefined || candidate.length - second - 1 < length) return null;
  const value = candidate.slice(0, second + 1 + length);
  return isApiTokenShape(value) ? value : null;
}

/** Line starts, for turning offsets into line:column. */
function lineIndex(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function position(starts: number[], index: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= index) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: index - starts[lo]! + 1 };
}

export function detectTokens(text: string): Detection[] {
  const found: Omit<Detection, 'line' | 'column'>[] = [];
  for (const m of text.matchAll(OPAQUE_CANDIDATE)) {
    const check = checkOpaqueToken(m[0]);
    if (check.ok) found.push({ type: check.type, value: m[0], index: m.index, masked: maskValue(check.type, m[0]) });
  }
  if (text.includes('eyJ')) {
    // On a rejected candidate, search again from the next character, not after it: stray "eyJ" text right
    // before a real token would otherwise swallow the token's start and hide it.
    const re = new RegExp(JWT_CANDIDATE.source, 'g');
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const value = apiTokenAt(m[0]);
      if (value !== null) {
        found.push({ type: 'api', value, index: m.index, masked: maskValue('api', value) });
        re.lastIndex = m.index + value.length;
      } else re.lastIndex = m.index + 1;
    }
  }
  if (found.length === 0) return [];
  const starts = lineIndex(text);
  return found.sort((a, b) => a.index - b.index).map((d) => ({ ...d, ...position(starts, d.index) }));
}
