// Values for the benchmarks.
import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** A well-formed s2s value (prefix, base62 body, CRC-32 checksum) that the service never issued. */
export function unknownS2s() {
  const A = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const head = 'tctl_s2s_' + Array.from({ length: 28 }, () => A[randomInt(62)]).join('');
  let v = crc32(head);
  let sum = '';
  for (let i = 0; i < 6; i++) {
    sum = A[v % 62] + sum;
    v = Math.floor(v / 62);
  }
  return head + sum;
}
