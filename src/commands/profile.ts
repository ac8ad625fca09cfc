import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { TokenNotFoundError } from '../core/errors.js';
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
  const profile = program.command('profile').description('list the saved profiles, or choose the one commands use');

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
}
