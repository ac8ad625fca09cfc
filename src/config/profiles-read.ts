import { readFileSync } from 'node:fs';
import { fsErrorMessage } from '../fs/fs-errors.js';
import path from 'node:path';
import { StoreDataError } from '../core/errors.js';
import { tokenctlHome, validateProfileName } from './paths.js';

/**
 * The hot path's view of saved profiles: a plain read of <home>/config.json, so that every command does not
 * load `conf` (and ajv with it). Profiles are written with `conf` (src/config/profiles.ts) by login and
 * `profile use` only.
 */
export type Env = Record<string, string | undefined>;

export type CredentialStore = 'keychain' | 'file';

/** A profile that talks to a token service. Profiles without an entry use the local encrypted store. */
export interface ServerProfile {
  server: string;
  credentialStore: CredentialStore;
  account?: { id: string; name: string };
  principal?: { id: string; name: string; role: string };
  loggedInAt?: string;
}

export interface ProfileConfig {
  currentProfile?: string;
  profiles: Record<string, ServerProfile>;
}

export const CONFIG_FILE = 'config.json';

export function configPath(env: Env): string {
  return path.join(tokenctlHome(env), CONFIG_FILE);
}

export function readProfileConfig(env: Env): ProfileConfig {
  const file = configPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new StoreDataError(fsErrorMessage((error as NodeJS.ErrnoException).code ?? 'error', 'read the profile configuration', file));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StoreDataError(`the profile configuration ${file} is not valid JSON; fix it, or remove it and log in again`);
  }
  const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<ProfileConfig>;
  const profiles: Record<string, ServerProfile> = {};
  for (const [name, p] of Object.entries(typeof o.profiles === 'object' && o.profiles !== null ? o.profiles : {})) {
    if (typeof p === 'object' && p !== null && typeof p.server === 'string') {
      profiles[name] = { ...p, credentialStore: p.credentialStore === 'keychain' ? 'keychain' : 'file' };
    }
  }
  return { currentProfile: typeof o.currentProfile === 'string' ? o.currentProfile : undefined, profiles };
}

/**
 * The profile a command uses when --profile is not given: TOKENCTL_PROFILE, else `profile use`, else default.
 * `config`: how to get the saved configuration (a command that already read it passes it on).
 */
export function defaultProfileName(env: Env, config: () => ProfileConfig = () => readProfileConfig(env)): string {
  if (env.TOKENCTL_PROFILE) return env.TOKENCTL_PROFILE;
  const current = config().currentProfile;
  return current ? validateProfileName(current) : 'default';
}

/** Where a profile's credential lives when no keychain is available: <home>/credentials/<profile> (0600). */
export function credentialFile(env: Env, profile: string): string {
  return path.join(tokenctlHome(env), 'credentials', validateProfileName(profile));
}

export function keychainAccountFor(profile: string): string {
  return `server-credential/${profile}`;
}
