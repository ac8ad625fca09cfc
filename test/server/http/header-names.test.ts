import { describe, expect, it } from 'vitest';
import { isHeader } from '../../../src/server/http/header-names.js';

describe('header names', () => {
  it('are compared case-insensitively, whatever the spelling', () => {
    for (const name of ['authorization', 'Authorization', 'AUTHORIZATION', 'aUtHoRiZaTiOn']) expect(isHeader(name, 'authorization', 'Authorization'), name).toBe(true);
    // Another name of the same length, a prefix, a longer one.
    for (const name of ['authorizatioN_', 'authorizatiom', 'authoriz', 'authorization2', '']) expect(isHeader(name, 'authorization', 'Authorization'), name).toBe(false);
    expect(isHeader('X-FORWARDED-FOR', 'x-forwarded-for', 'X-Forwarded-For')).toBe(true);
    expect(isHeader('Host', 'host', 'Host')).toBe(true);
    expect(isHeader('Hosts', 'host', 'Host')).toBe(false);
  });
});
