import { UsageError } from './errors.js';

export const NAME_MAX_LENGTH = 64;

/** The name rules in a few words, for a form's hint or an option's description: "1 to 64 characters, unique ignoring case". */
export const NAME_RULES_TEXT = `1 to ${NAME_MAX_LENGTH} characters, unique ignoring case`;

/**
 * C0, DEL, C1 controls, and the bidirectional embeddings/overrides/isolates and marks that can make a text
 * display as something it is not ("Trojan Source"). Names may not contain them; output escapes them.
 */
export const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Characters that show as nothing, or as a plain space, so that two different names look the same
 * (`de\u200dfault` beside `default`): every format character (Unicode category Cf: zero-width space, joiners,
 * word joiner, BOM, soft hyphen, invisible operators, tags...) except the prepended concatenation marks, which are
 * visible (Arabic number signs and the like); the other default-ignorable code points (variation selectors, the
 * combining grapheme joiner, Hangul fillers...); spaces other than U+0020 (no-break and typographic spaces, which
 * look like a plain one) and line/paragraph separators; U+FFFD, which Node puts where an argument had invalid UTF-8;
 * lone surrogates; noncharacters and private-use characters, which have no agreed appearance.
 */
export const INVISIBLE_CHARACTERS =
  /(?![\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u{110bd}\u{110cd}])[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Noncharacter_Code_Point}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufffd]/u;

/** Text shaped like a token value: an opaque tctl_ token (even mistyped) or a JWT. */
export const TOKEN_VALUE_SHAPE = /tctl_[a-z0-9]+_[0-9A-Za-z]{16,}|eyJ[\w-]{8,}\.[\w-]{8,}(\.[\w-]*)?/g;

/**
 * True for strings shaped like a token value. Such a string is never echoed in a message and never accepted
 * as a name: it would end up in shell history and logs.
 */
export function looksLikeTokenValue(text: string): boolean {
  return new RegExp(TOKEN_VALUE_SHAPE.source).test(text);
}

/** Validates and normalises a token name per the contract: trimmed, NFC, 1-64 characters, no controls. */
export function normalizeTokenName(raw: string): string {
  return checkName(raw, true);
}

function checkName(raw: string, refuseInvisible: boolean): string {
  const name = raw.trim().normalize('NFC');
  if (new RegExp(UNSAFE_CHARACTERS.source, 'u').test(name)) {
    throw new UsageError('token names may not contain control characters, escape sequences or bidirectional overrides');
  }
  if (refuseInvisible && INVISIBLE_CHARACTERS.test(name)) {
    const c = INVISIBLE_CHARACTERS.exec(name)![0];
    const cp = c.codePointAt(0)!;
    throw new UsageError(
      cp === 0xfffd
        ? 'token name contains U+FFFD, the replacement for bytes that are not valid UTF-8; type the name again in UTF-8'
        : `token names may not contain invisible or look-alike characters (found U+${cp.toString(16).toUpperCase().padStart(4, '0')}: zero-width, format, special space or similar); use visible characters and plain spaces`,
    );
  }
  if (looksLikeTokenValue(name)) {
    throw new UsageError('that name looks like a token value; never pass token values as arguments. Choose a plain name');
  }
  const length = [...name].length;
  if (length === 0) throw new UsageError('token name is empty; give a name of 1 to 64 characters');
  if (length > NAME_MAX_LENGTH) {
    throw new UsageError(`token name is ${length} characters long; use at most ${NAME_MAX_LENGTH}`);
  }
  return name;
}

/**
 * True when `name` would pass normalizeTokenName unchanged (used to validate stored data). Invisible characters
 * are refused for new names only: a store written before that rule stays readable (its token can be renamed).
 */
export function isValidStoredName(name: string): boolean {
  try {
    return checkName(name, false) === name;
  } catch {
    return false;
  }
}

/** Names are unique within an account, ignoring case. */
export function nameKey(name: string): string {
  return name.normalize('NFC').toLocaleUpperCase('und').toLocaleLowerCase('und');
}
