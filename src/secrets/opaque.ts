import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { TokenType } from '../core/tokens.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Prefixes make a leaked token recognisable (for scanners and people) and tell the types apart. */
export const OPAQUE_PREFIXES = { onelink: 'tctl_ol_', s2s: 'tctl_s2s_' } as const satisfies Partial<Record<TokenType, string>>;
export type OpaqueType = keyof typeof OPAQUE_PREFIXES;

/** 28 base62 characters carry 166 random bits (the contract asks for at least 160). */
export const OPAQUE_BODY_LENGTH = 28;
/** A 32-bit CRC fits in 6 base62 characters (62^6 > 2^32). */
export const OPAQUE_CHECKSUM_LENGTH = 6;

/** Uniform base62 by rejection sampling: bytes >= 248 would bias the first characters. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function base62Fixed(n: number, width: number): string {
  let out = '';
  let v = n;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

function checksum(prefixAndBody: string): string {
  return base62Fixed(crc32(prefixAndBody), OPAQUE_CHECKSUM_LENGTH);
}

export function mintOpaqueToken(type: OpaqueType): string {
  const head = OPAQUE_PREFIXES[type] + randomBase62(OPAQUE_BODY_LENGTH);
  return head + checksum(head);
}

export type OpaqueCheck = { ok: true; type: OpaqueType } | { ok: false; reason: 'format' | 'checksum' };

/** Offline check of an opaque token: known prefix, right length and alphabet, valid checksum. */
export function checkOpaqueToken(value: string): OpaqueCheck {
  for (const [type, prefix] of Object.entries(OPAQUE_PREFIXES) as [OpaqueType, string][]) {
    if (!value.startsWith(prefix)) continue;
    const rest = value.slice(prefix.length);
    if (rest.length !== OPAQUE_BODY_LENGTH + OPAQUE_CHECKSUM_LENGTH || !/^[0-9A-Za-z]+$/.test(rest)) {
      return { ok: false, reason: 'format' };
    }
    const head = value.slice(0, prefix.length + OPAQUE_BODY_LENGTH);
    return checksum(head) === value.slice(head.length) ? { ok: true, type } : { ok: false, reason: 'checksum' };
  }
  return { ok: false, reason: 'format' };
}

/** At most the prefix and the last 4 characters, per the contract. */
export function maskValue(type: TokenType, value: string): string {
  const tail = value.slice(-4);
  return type === 'api' ? `eyJ…${tail}` : `${OPAQUE_PREFIXES[type]}…${tail}`;
}
