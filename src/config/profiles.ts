import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsStep } from '../fs/fs-errors.js';
import { tokenctlHome } from './paths.js';
import { CONFIG_FILE, readProfileConfig, type Env, type ServerProfile } from './profiles-read.js';

/**
 * Writes profiles with `conf` (atomic writes, mode 0600). Only login and `profile use` load this module; every
 * other command reads the file with profiles-read.ts.
 */
async function openConf(env: Env) {
  const home = tokenctlHome(env);
  await fsStep('create the directory', home, () => fs.mkdir(home, { recursive: true, mode: 0o700 }));
  const { default: Conf } = await import('conf');
  return new Conf<{ currentProfile?: string; profiles: Record<string, ServerProfile> }>({
    cwd: home,
    configName: path.basename(CONFIG_FILE, '.json'),
    configFileMode: 0o600,
    accessPropertiesByDotNotation: false,
    clearInvalidConfig: false,
    defaults: { profiles: {} },
  });
}

export async function saveServerProfile(env: Env, name: string, profile: ServerProfile): Promise<void> {
  readProfileConfig(env); // refuse to overwrite a file we cannot parse
  const conf = await openConf(env);
  await fsStep('write the profile configuration', conf.path, async () => {
    conf.set('profiles', { ...conf.get('profiles'), [name]: profile });
    if (process.platform !== 'win32') await fs.chmod(conf.path, 0o600);
  });
}

export async function setCurrentProfile(env: Env, name: string): Promise<void> {
  readProfileConfig(env);
  const conf = await openConf(env);
  await fsStep('write the profile configuration', conf.path, async () => {
    conf.set('currentProfile', name);
    if (process.platform !== 'win32') await fs.chmod(conf.path, 0o600);
  });
}

/** Forgets a saved service profile (and, when it was the selected one, the selection). False when there was none. */
export async function removeServerProfile(env: Env, name: string): Promise<{ removed: boolean; wasCurrent: boolean }> {
  const before = readProfileConfig(env);
  const wasCurrent = before.currentProfile === name;
  if (!before.profiles[name] && !wasCurrent) return { removed: false, wasCurrent };
  const conf = await openConf(env);
  await fsStep('write the profile configuration', conf.path, async () => {
    const { [name]: _gone, ...rest } = conf.get('profiles');
    conf.set('profiles', rest);
    if (wasCurrent) conf.delete('currentProfile');
    if (process.platform !== 'win32') await fs.chmod(conf.path, 0o600);
  });
  return { removed: before.profiles[name] !== undefined, wasCurrent };
}
