import { UsageError } from './errors.js';

export const NAME_MAX_LENGTH = 64;

/**
 * C0, DEL, C1 controls, and the bidirectional embeddings/overrides/isolates and marks that can make a text
 * display as something it is not ("Trojan Source"). Names may not contain them; output escapes them.
 */
export const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

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
  const name = raw.trim().normalize('NFC');
  if (new RegExp(UNSAFE_CHARACTERS.source, 'u').test(name)) {
    throw new UsageError('token names may not contain control characters, escape sequences or bidirectional overrides');
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

/** True when `name` would pass normalizeTokenName unchanged (used to validate stored data). */
export function isValidStoredName(name: string): boolean {
  try {
    return normalizeTokenName(name) === name;
  } catch {
    return false;
  }
}

/** Names are unique within an account, ignoring case. */
export function nameKey(name: string): string {
  return name.normalize('NFC').toLocaleUpperCase('und').toLocaleLowerCase('und');
}
