import { UsageError } from '../core/errors.js';
import { looksLikeTokenValue } from '../core/names.js';

/** One `--token <name|id>[=VAR]`. */
export interface TokenBinding {
  ref: string;
  /** Explicit variable name, else derived from the token's name once it is resolved. */
  variable?: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseTokenBinding(spec: string): TokenBinding {
  const eq = spec.lastIndexOf('=');
  if (eq === -1) return { ref: spec };
  const ref = spec.slice(0, eq);
  const variable = spec.slice(eq + 1);
  if (ref.trim() === '') throw new UsageError('--token needs a token name or id before "="; e.g. --token ci-deploy=API_TOKEN');
  if (looksLikeTokenValue(variable) || looksLikeTokenValue(ref)) {
    throw new UsageError('--token takes a token name or id, never a value (it would stay in shell history); e.g. --token ci-deploy=API_TOKEN');
  }
  if (!ENV_NAME.test(variable)) {
    throw new UsageError(`'${variable.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)}' is not a valid environment variable name; use letters, digits and _ (not starting with a digit)`);
  }
  return { ref, variable };
}

/**
 * tokenctl's own settings (and what rotate --exec passes): a token value must never land in one of them, where
 * the child's own tokenctl would take it for a home directory, a key or a server.
 */
export const RESERVED_VARIABLES: ReadonlySet<string> = new Set([
  'TOKENCTL_HOME',
  'TOKENCTL_PROFILE',
  'TOKENCTL_MASTER_KEY',
  'TOKENCTL_NOW',
  'TOKENCTL_SERVER',
  'TOKENCTL_ADMIN_KEY',
  'TOKENCTL_SERVER_KEY',
  'TOKENCTL_KEYCHAIN',
  'TOKENCTL_KEYCHAIN_TIMEOUT_MS',
  'TOKENCTL_DEBUG',
  'TOKENCTL_CRASH_AFTER',
  'TOKENCTL_REQUIRE_KEYCHAIN',
  'TOKENCTL_TOKEN',
  'TOKENCTL_TOKEN_ID',
  'TOKENCTL_TOKEN_NAME',
  'TOKENCTL_TOKEN_TYPE',
]);

/** TOKENCTL_<NAME>: the token's name upper-cased, every other character than A-Z and 0-9 made "_". */
export function defaultVariableFor(tokenName: string): string {
  return `TOKENCTL_${tokenName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
