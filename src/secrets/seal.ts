import { createCipheriv, createDecipheriv, createHmac, hash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
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

/**
 * HMAC-SHA256 (RFC 2104) under a fixed key of at most 64 bytes, computed as two one-shot hashes over buffers
 * prepared once: the same bytes as createHmac, without the per-call context setup that makes createHmac cost
 * several microseconds more on a busy server (fingerprints are computed on every introspection).
 */
export function hmacSha256(key: Buffer): (message: string) => string {
  if (key.length > 64) throw new Error('hmacSha256: keys longer than the block size are not supported');
  const inner = Buffer.alloc(64 + 1024);
  const outer = Buffer.alloc(64 + 32);
  for (let i = 0; i < 64; i++) {
    const k = i < key.length ? key[i]! : 0;
    inner[i] = k ^ 0x36;
    outer[i] = k ^ 0x5c;
  }
  return (message) => {
    const written = inner.write(message, 64, 'utf8');
    // A message that did not fit (written short) is hashed from a buffer of its own.
    const data = written < Buffer.byteLength(message, 'utf8') ? Buffer.concat([inner.subarray(0, 64), Buffer.from(message, 'utf8')]) : inner.subarray(0, 64 + written);
    hash('sha256', data, 'buffer').copy(outer, 64);
    return hash('sha256', outer, 'base64url');
  };
}

export function createSealer(masterKey: Buffer): Sealer {
  if (masterKey.length !== MASTER_KEY_BYTES) throw new Error('master key must be 32 bytes');
  const encKey = derive(masterKey, 'store encryption');
  const fpKey = derive(masterKey, 'fingerprint');
  const checkKey = derive(masterKey, 'key check');
  const auditKey = derive(masterKey, 'audit trail');
  const fingerprint = hmacSha256(fpKey);
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
    fingerprint,
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
