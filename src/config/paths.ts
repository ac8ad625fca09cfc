import { homedir } from 'node:os';
import path from 'node:path';
import { UsageError } from '../core/errors.js';

type Env = Record<string, string | undefined>;

/** All local state lives under one directory: TOKENCTL_HOME, else the OS's per-user config directory. */
export function tokenctlHome(env: Env, platform: NodeJS.Platform = process.platform): string {
  if (env.TOKENCTL_HOME) return path.resolve(env.TOKENCTL_HOME);
  const home = env.HOME || homedir();
  if (platform === 'win32') return path.join(env.APPDATA || path.join(home, 'AppData', 'Roaming'), 'tokenctl');
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'tokenctl');
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'tokenctl');
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw new UsageError(`invalid profile name '${name.replace(/[^\x20-\x7e]/g, '?')}'; use letters, digits, '.', '_' or '-' (at most 64)`);
  }
  return name;
}

/** The local account of a profile: <home>/profiles/<profile>. */
export function profileDir(home: string, profile: string): string {
  return path.join(home, 'profiles', validateProfileName(profile));
}
