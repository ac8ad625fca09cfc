import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsStep } from '../fs/fs-errors.js';
import { readPrivateFile, writeFileAtomic } from '../fs/private-files.js';
import { BackendUnavailableError } from '../core/errors.js';
import { keychainMayExist, openKeychain, saveInKeychain, type Keychain } from '../secrets/keychain.js';
import { credentialFile, keychainAccountFor, type CredentialStore, type Env } from './profiles-read.js';

/**
 * A profile's admin credential: in the OS keychain where one answers, else in a 0600 file under TOKENCTL_HOME
 * (and the user is told where). Never in config.json, never on the command line.
 */
export interface CredentialContext {
  env: Env;
  warn(message: string): void;
  openKeychain?: (env: Env) => Promise<Keychain>;
}

export async function saveCredential(ctx: CredentialContext, profile: string, credential: string): Promise<{ store: CredentialStore; where: string }> {
  if (await saveInKeychain(ctx.env, keychainAccountFor(profile), credential, ctx.warn, ctx.openKeychain)) {
    await fs.rm(credentialFile(ctx.env, profile), { force: true });
    return { store: 'keychain', where: 'the OS keychain' };
  }
  const file = credentialFile(ctx.env, profile);
  await fsStep('create the directory', path.dirname(file), async () => {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    if (process.platform !== 'win32') await fs.chmod(path.dirname(file), 0o700);
  });
  await writeFileAtomic(file, credential + '\n');
  ctx.warn(
    `no OS keychain available: the credential was saved in ${file} (mode 0600). Anyone who can read that file can manage ` +
      'your tokens; on shared machines prefer an OS keychain, or TOKENCTL_SERVER with TOKENCTL_ADMIN_KEY from a secret store',
  );
  return { store: 'file', where: file };
}

export async function loadCredential(ctx: Omit<CredentialContext, 'warn'>, profile: string, store: CredentialStore): Promise<string | undefined> {
  if (store === 'keychain') {
    const fallback = 'unlock it, or set TOKENCTL_SERVER and TOKENCTL_ADMIN_KEY';
    if (!keychainMayExist(ctx.env)) {
      throw new BackendUnavailableError(
        `profile '${profile}' keeps its credential in the OS keychain, which is not reachable here (no D-Bus session, or TOKENCTL_KEYCHAIN=off); ${fallback}`,
      );
    }
    try {
      const keychain = await (ctx.openKeychain ?? openKeychain)(ctx.env);
      return (await keychain.get(keychainAccountFor(profile))) ?? undefined;
    } catch (cause) {
      throw new BackendUnavailableError(`cannot read the credential of profile '${profile}' from the OS keychain; ${fallback}`, { cause });
    }
  }
  const text = await readPrivateFile(credentialFile(ctx.env, profile), 'credential file');
  return text === null ? undefined : text.trim() || undefined;
}

/**
 * Removes a profile's saved credential from wherever it may be (the keychain entry and the fallback file), so that a
 * credential saved in either place is gone. Says where it was; an unreachable keychain that should hold it is an error.
 */
export async function removeCredential(ctx: Omit<CredentialContext, 'warn'>, profile: string, store: CredentialStore | undefined): Promise<string[]> {
  const removed: string[] = [];
  const file = credentialFile(ctx.env, profile);
  const hadFile = await fs.stat(file).then(() => true, () => false);
  if (hadFile) {
    await fsStep('remove the credential file', file, () => fs.rm(file, { force: true }));
    removed.push(file);
  }
  if (store === 'keychain' || (store === undefined && keychainMayExist(ctx.env))) {
    if (!keychainMayExist(ctx.env)) {
      throw new BackendUnavailableError(
        `profile '${profile}' keeps its credential in the OS keychain, which is not reachable here (no D-Bus session, or TOKENCTL_KEYCHAIN=off); nothing was removed from it. Run tokenctl logout where the keychain is unlocked`,
      );
    }
    try {
      const keychain = await (ctx.openKeychain ?? openKeychain)(ctx.env);
      if (await keychain.delete(keychainAccountFor(profile))) removed.push('the OS keychain');
    } catch (cause) {
      if (store === 'keychain') throw new BackendUnavailableError(`cannot remove the credential of profile '${profile}' from the OS keychain; unlock it and run tokenctl logout again`, { cause });
    }
  }
  return removed;
}
