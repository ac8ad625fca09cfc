import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBase62 } from '../secrets/opaque.js';

/** Principals' roles: admins manage tokens, services introspect, users and partners see nothing (the spec). */
export const ROLES = ['admin', 'user', 'partner', 'service'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * A principal's credential: a recognisable prefix (so a leaked one is found by scanners and redacted from
 * messages like token values) and 40 base62 characters (238 random bits).
 */
export const CREDENTIAL_PREFIX = 'tctl_key_';
const CREDENTIAL_PATTERN = /^tctl_key_[0-9A-Za-z]{40}$/;

export function mintCredential(): string {
  return CREDENTIAL_PREFIX + randomBase62(40);
}

export function isCredentialShaped(value: string): boolean {
  return CREDENTIAL_PATTERN.test(value);
}

/**
 * Stored form of a credential. A plain SHA-256 is enough here: the credential is 238 random bits, so there is
 * nothing to brute-force and no need for a slow password hash.
 */
export function hashCredential(credential: string): Buffer {
  return createHash('sha256').update(credential, 'utf8').digest();
}

export function credentialHashMatches(stored: Buffer, presented: Buffer): boolean {
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}
