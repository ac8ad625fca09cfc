import { describe, expect, it } from 'vitest';
import { isValidStoredName, nameKey, normalizeTokenName } from '../../src/core/names.js';

// Names that only look alike (issue 12): invisible and format characters, special spaces, U+FFFD.
describe('names that only look alike', () => {
  const refused = {
    'zero-width space': 'de\u200bfault',
    'zero-width non-joiner': 'de\u200cfault',
    'zero-width joiner': 'de\u200dfault',
    'word joiner': 'de\u2060fault',
    'BOM inside': 'de\ufefffault',
    'soft hyphen': 'de\u00adfault',
    'Mongolian vowel separator': 'de\u180efault',
    'invisible times': 'a\u2062b',
    'tag character': 'a\u{e0041}b',
    'variation selector': 'a\ufe0fb',
    'combining grapheme joiner': 'a\u034fb',
    'Hangul filler': 'a\u3164b',
    'no-break space': 'my\u00a0token',
    'ideographic space': 'my\u3000token',
    'line separator': 'a\u2028b',
    'U+FFFD (invalid UTF-8 in an argument)': 'de\ufffdfault',
    'lone surrogate': 'a\ud800b',
    'private use': 'a\ue000b',
    noncharacter: 'a\ufdd0b',
  };
  for (const [what, name] of Object.entries(refused)) {
    it(`refuses a ${what} (usage error)`, () => {
      expect(() => normalizeTokenName(name)).toThrow(expect.objectContaining({ kind: 'usage' }));
    });
  }

  it('keeps accepting ordinary names, plain spaces and visible non-Latin text', () => {
    for (const name of ['default', 'ci deploy', 'café', 'Über-Token_2', '日本語', 'ключ', '🔑 prod', 'a.b-c_d', 'x\u0600y']) {
      expect(normalizeTokenName(name)).toBe(name.normalize('NFC'));
    }
  });

  it('names what it found, and U+FFFD as invalid UTF-8', () => {
    expect(() => normalizeTokenName('de\u200dfault')).toThrow(/found U\+200D/);
    expect(() => normalizeTokenName('de\ufffdfault')).toThrow(/U\+FFFD.*not valid UTF-8/);
  });

  it('a store written before the rule stays readable: stored names are not refused for it', () => {
    expect(isValidStoredName('de\u200dfault')).toBe(true);
    expect(isValidStoredName('bad\u0007')).toBe(false);
    expect(nameKey('de\u200dfault')).not.toBe(nameKey('default'));
  });
});
