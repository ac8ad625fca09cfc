import { hash, timingSafeEqual } from 'node:crypto';
import { randomBase62 } from './opaque.js';

export { ROLES, isRole, type Role } from '../core/roles.js';

/**
 * A principal's credential: a recognisable prefix (so a leaked one is found by scanners and redacted from
 * messages like token values) and 40 base62 characters (238 random bits).
 */
export const CREDENTIAL_PREFIX = 'tctl_key_';

export function mintCredential(): string {
  return CREDENTIAL_PREFIX + randomBase62(40);
}

/**
 * Stored form of a credential. A plain SHA-256 is enough here: the credential is 238 random bits, so there is
 * nothing to brute-force and no need for a slow password hash.
 */
export function hashCredential(credential: string): Buffer;
export function hashCredential(credential: string, encoding: 'base64'): string;
export function hashCredential(credential: string, encoding?: 'base64'): Buffer | string {
  return encoding ? hash('sha256', credential, encoding) : hash('sha256', credential, 'buffer');
}

export function credentialHashMatches(stored: Buffer, presented: Buffer): boolean {
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}
