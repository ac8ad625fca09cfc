import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { TokenctlError, TokenNotFoundError } from '../core/errors.js';
import { tokenctlHome, validateProfileName } from '../config/paths.js';
import { defaultProfileName, readProfileConfig } from '../config/profiles-read.js';
import { renderJson } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { examples, globalsOf, info, success } from './shared.js';

interface ProfileRow {
  name: string;
  current: boolean;
  backend: 'http' | 'file';
  location: string;
  account: string | null;
  principal: string | null;
}

/** Local profiles are the directories with a store under <home>/profiles. */
function localProfiles(home: string): string[] {
  const dir = path.join(home, 'profiles');
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'store.json')))
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function profileRows(deps: Deps): ProfileRow[] {
  const home = tokenctlHome(deps.env);
  const config = readProfileConfig(deps.env);
  const current = defaultProfileName(deps.env);
  const names = new Set([...Object.keys(config.profiles), ...localProfiles(home)]);
  return [...names].sort().map((name) => {
    const saved = config.profiles[name];
    return saved
      ? {
          name,
          current: name === current,
          backend: 'http' as const,
          location: saved.server,
          account: saved.account?.name ?? null,
          principal: saved.principal?.name ?? null,
        }
      : { name, current: name === current, backend: 'file' as const, location: path.join(home, 'profiles', name), account: null, principal: null };
  });
}

export function registerProfile(program: Command, deps: Deps): void {
  const profile = program.command('profile').description('list the saved profiles, choose the one commands use, or remove one');

  const list = profile
    .command('list')
    .alias('ls')
    .description('list profiles: local stores and token services you logged in to')
    .action((_opts: unknown, self: Command) => {
      const globals = globalsOf(self);
      const rows = profileRows(deps);
      if (globals.json) {
        deps.io.out(renderJson(rows));
      } else if (rows.length === 0) {
        info(deps, 'no profiles yet: create a local store with `tokenctl init`, or log in to a service with `tokenctl login --server <url>`');
      } else {
        for (const r of rows) {
          const who = r.backend === 'http' ? ` (account ${safeText(r.account ?? '?')}, as ${safeText(r.principal ?? '?')})` : '';
          deps.io.out(`${r.current ? '*' : ' '} ${safeText(r.name)}\t${r.backend === 'http' ? 'server' : 'local'}\t${safeText(r.location)}${who}\n`);
        }
      }
      if (deps.env.TOKENCTL_SERVER) info(deps, `note: TOKENCTL_SERVER is set, so commands use ${safeText(deps.env.TOKENCTL_SERVER)} whatever the profile`);
    });
  examples(list, ['tokenctl profile list', 'tokenctl profile list --json']);

  const use = profile
    .command('use')
    .description('make a profile the one commands use when --profile is not given')
    .argument('<name>', 'the profile')
    .action(async (name: string) => {
      validateProfileName(name);
      if (!profileRows(deps).some((r) => r.name === name)) {
        throw new TokenNotFoundError(
          `no profile named '${name}'; log in to a service with: tokenctl login --server <url> --profile ${name}, or create a local store with: tokenctl --profile ${name} init`,
        );
      }
      const { setCurrentProfile } = await import('../config/profiles.js');
      await setCurrentProfile(deps.env, name);
      success(deps, `Commands now use profile '${name}'${deps.env.TOKENCTL_PROFILE ? ' (but TOKENCTL_PROFILE is set and wins in this shell)' : ''}`);
    });
  examples(use, ['tokenctl profile use staging', 'tokenctl profile use default   # back to the local store']);

  const remove = profile
    .command('remove')
    .alias('rm')
    .description("forget a token service profile: its server and its saved credential (a local store is never deleted)")
    .argument('<name>', 'the profile')
    .action(async (name: string, _opts: unknown, self: Command) => {
      const globals = globalsOf(self);
      validateProfileName(name);
      const home = tokenctlHome(deps.env);
      const config = readProfileConfig(deps.env);
      const saved = config.profiles[name];
      const store = path.join(home, 'profiles', name);
      const hasStore = existsSync(path.join(store, 'store.json'));
      if (!saved) {
        if (hasStore) {
          throw new TokenctlError(
            'conflict',
            `profile '${name}' is a local store in ${store}, which holds its account's tokens; tokenctl never deletes a store (their values would be lost for good). ` +
              `Delete tokens with tokenctl --profile ${name} delete <name>; if you really mean to destroy the whole account, remove that directory yourself`,
          );
        }
        if (config.currentProfile !== name) throw new TokenNotFoundError(`no profile named '${name}'; see them with: tokenctl profile list`);
      }
      const { removeCredential } = await import('../config/profiles-credentials.js');
      const { removeServerProfile } = await import('../config/profiles.js');
      const removed = saved ? await removeCredential({ env: deps.env }, name, saved.credentialStore) : [];
      const { wasCurrent } = await removeServerProfile(deps.env, name);
      if (globals.json) deps.io.out(renderJson({ profile: name, server: saved?.server ?? null, credentialRemovedFrom: removed, wasCurrent, localStoreKept: hasStore ? store : null }));
      success(
        deps,
        `Removed profile '${name}'${saved ? ` (${safeText(saved.server)}${removed.length > 0 ? `; its credential was removed from ${removed.join(' and ')}` : ''})` : ''}`,
      );
      if (hasStore) info(deps, `its local store in ${store} is kept: commands with --profile ${name} use it again`);
      if (wasCurrent) info(deps, `it was the selected profile; commands now use 'default'${deps.env.TOKENCTL_PROFILE ? ' (but TOKENCTL_PROFILE is set and wins in this shell)' : ''}`);
    });
  examples(remove, ['tokenctl profile remove staging', 'tokenctl profile remove old-service --json']);
}
