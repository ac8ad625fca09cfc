import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { StoreDataError } from '../core/errors.js';

/**
 * Encryption at rest: AES-256-GCM under a key derived from the master key. The associated data binds each
 * ciphertext to its place (account and token id), so swapping ciphertexts between tokens is detected too.
 * Format: "v1.<iv>.<ciphertext+tag>" in base64url.
 */
export interface Sealer {
  seal(plaintext: string, context: string): string;
  open(sealed: string, context: string): string;
  fingerprint(value: string): string;
  /** MAC for the audit trail's chain: editing a line needs the master key to go unnoticed. */
  mac(text: string): string;
  readonly keyCheck: string;
}

export const MASTER_KEY_BYTES = 32;

function derive(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `tokenctl ${purpose} v1`, 32));
}

export function createSealer(masterKey: Buffer): Sealer {
  if (masterKey.length !== MASTER_KEY_BYTES) throw new Error('master key must be 32 bytes');
  const encKey = derive(masterKey, 'store encryption');
  const fpKey = derive(masterKey, 'fingerprint');
  const checkKey = derive(masterKey, 'key check');
  const auditKey = derive(masterKey, 'audit trail');
  return {
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', encKey, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `v1.${iv.toString('base64url')}.${ct.toString('base64url')}`;
    },
    open(sealed, context) {
      const parts = sealed.split('.');
      if (parts.length !== 3 || parts[0] !== 'v1') throw new StoreDataError('an encrypted value in the store is malformed');
      const iv = Buffer.from(parts[1]!, 'base64url');
      const data = Buffer.from(parts[2]!, 'base64url');
      if (iv.length !== 12 || data.length < 17) throw new StoreDataError('an encrypted value in the store is malformed');
      try {
        const decipher = createDecipheriv('aes-256-gcm', encKey, iv);
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(data.subarray(data.length - 16));
        return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new StoreDataError(
          'an encrypted value in the store failed its integrity check (tampered or corrupt); nothing was printed. Restore the store from a backup',
          { cause },
        );
      }
    },
    fingerprint(value) {
      return createHmac('sha256', fpKey).update(value, 'utf8').digest('base64url');
    },
    mac(text) {
      return createHmac('sha256', auditKey).update(text, 'utf8').digest('base64url');
    },
    keyCheck: createHmac('sha256', checkKey).update('tokenctl key check').digest('base64url'),
  };
}

export function keyCheckMatches(sealer: Sealer, stored: string): boolean {
  const a = Buffer.from(sealer.keyCheck);
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function newMasterKey(): Buffer {
  return randomBytes(MASTER_KEY_BYTES);
}
