import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { TokenNotFoundError } from '../core/errors.js';
import { validateProfileName } from '../config/paths.js';
import { readProfileConfig } from '../config/profiles-read.js';
import { renderJson } from '../ui/render.js';
import { examples, globalsOf, info, success, tokenctlCommand } from './shared.js';

/** What logging out does not do: the credential is still valid on the service until an operator removes it. */
const STILL_VALID =
  'The credential itself stays valid on the service until an operator removes it (tokenctl server remove-principal)';

export function registerLogout(program: Command, deps: Deps): void {
  const cmd = program
    .command('logout')
    .description("remove the profile's saved service credential (OS keychain or file); the profile keeps its server")
    .action(async (_opts: unknown, self: Command) => {
      const globals = globalsOf(self);
      const profile = validateProfileName(globals.profile);
      const saved = readProfileConfig(deps.env).profiles[profile];
      const { removeCredential } = await import('../config/profiles-credentials.js');
      // A profile without a saved server may still have a stray credential file; only a saved one can be in the keychain.
      const removed = await removeCredential({ env: deps.env }, profile, saved ? saved.credentialStore : 'file');
      const fromEnv = deps.env.TOKENCTL_ADMIN_KEY ? '; TOKENCTL_ADMIN_KEY comes from your environment, which tokenctl never saved: unset it' : '';
      if (!saved && removed.length === 0) {
        throw new TokenNotFoundError(`profile '${profile}' is not logged in to a token service, so there is no saved credential to remove${fromEnv}`);
      }
      if (globals.json) deps.io.out(renderJson({ profile, server: saved?.server ?? null, removedFrom: removed }));
      if (removed.length === 0) {
        info(deps, `profile '${profile}' has no saved credential for ${saved!.server}: already logged out${fromEnv}`);
        return;
      }
      success(deps, `Logged out${saved ? ` of ${saved.server}` : ''}: the credential of profile '${profile}' was removed from ${removed.join(' and ')}`);
      info(
        deps,
        `${STILL_VALID}. Log in again with: ${tokenctlCommand(deps, globals, ['login', '--server', saved?.server ?? '<url>'])}; forget the profile with: tokenctl profile remove ${profile}${fromEnv}`,
      );
    });
  examples(cmd, ['tokenctl logout', 'tokenctl logout --profile staging']);
}
