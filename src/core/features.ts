import { PermissionDeniedError, UsageError } from './errors.js';
import type { TokenType } from './tokens.js';
import { shellWord } from './format.js';

/**
 * Premium features of an account (the spec: "OneLink API (premium)"). On the token service an account has a
 * feature or not, as its operator decided (`tokenctl server account --enable onelink`); a local store is its
 * owner's and has them all. Pure rules: who has what is stored (StoredAccount.features), applied by the token
 * service when a token is created, including a rotation's replacement. Listing, reading and reviewing tokens are
 * never refused for a missing feature: an account that loses OneLink keeps seeing (and deleting) its tokens.
 */
export const FEATURES = ['onelink'] as const;
export type Feature = (typeof FEATURES)[number];

/**
 * An account's features: the list it has, or `undefined` for every feature (an account whose store does not
 * record features: the local store, its owner's).
 */
export type AccountFeatures = readonly Feature[] | undefined;

/** The feature a token type needs, or null for a type every account may create. */
export const FEATURE_OF_TYPE: Readonly<Record<TokenType, Feature | null>> = { api: null, onelink: 'onelink', s2s: null };

const LABEL: Record<Feature, string> = { onelink: 'OneLink API tokens' };

export function isFeature(value: string): value is Feature {
  return (FEATURES as readonly string[]).includes(value);
}

/** A feature named by a user (`--enable OneLink`), or a usage error listing the known ones. */
export function parseFeature(raw: string): Feature {
  const v = raw.trim().toLowerCase();
  if (isFeature(v)) return v;
  throw new UsageError(`unknown feature '${raw.slice(0, 20)}'; the features are: ${FEATURES.join(', ')}`);
}

export function hasFeature(features: AccountFeatures, feature: Feature): boolean {
  return features === undefined || features.includes(feature);
}

/** May this account create tokens of this type? */
export function mayCreateType(features: AccountFeatures, type: TokenType): boolean {
  const needed = FEATURE_OF_TYPE[type];
  return needed === null || hasFeature(features, needed);
}

/** Refuses (permission, exit 7 / HTTP 403) a token type whose premium feature the account lacks. */
export function assertMayCreateType(features: AccountFeatures, type: TokenType, account: { name: string }): void {
  const needed = FEATURE_OF_TYPE[type];
  if (needed === null || hasFeature(features, needed)) return;
  throw new PermissionDeniedError(
    `${LABEL[needed]} are a premium feature, and account '${account.name}' does not have it; ` +
      `the token service's operator can enable it with: tokenctl server account --data <dir> --account ${shellWord(account.name)} --enable ${needed}`,
  );
}

/** The features after enabling and disabling some, in FEATURES' order, each once. */
export function changeFeatures(current: AccountFeatures, change: { enable?: readonly Feature[]; disable?: readonly Feature[] }): Feature[] {
  const next = new Set<Feature>(current ?? FEATURES);
  for (const f of change.enable ?? []) next.add(f);
  for (const f of change.disable ?? []) next.delete(f);
  return FEATURES.filter((f) => next.has(f));
}

/** Parses features as stored (a JSON array); anything else is null (the caller names the data error). */
export function parseStoredFeatures(text: string): Feature[] | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && isFeature(x))) return null;
  return FEATURES.filter((f) => (v as string[]).includes(f));
}
