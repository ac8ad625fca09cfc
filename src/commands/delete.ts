import { Option, type Command } from 'commander';
import type { Deps } from '../deps.js';
import { CancelledError, UsageError } from '../core/errors.js';
import { formatInstant } from '../core/format.js';
import { deletionEffect, deletionEffectText } from '../core/decisions.js';
import { deletionWarning, isDeletePhrase, toTokenView, POLICY } from '../core/tokens.js';
import { retrievalLine, usageLine } from '../core/usage.js';
import { safeText } from '../ui/sanitize.js';
import { renderJson } from '../ui/render.js';
import { describeToken, examples, globalsOf, info, refuseYesOrForce, success, warn } from './shared.js';

export function registerDelete(program: Command, deps: Deps): void {
  const cmd = program
    .command('delete')
    .alias('rm')
    .description(`delete a token (asks you to type "${POLICY.deletePhrase}")`)
    .argument('<name|id>', 'the token')
    .addOption(new Option('-y, --yes').hideHelp())
    .addOption(new Option('-f, --force').hideHelp())
    .option('--confirm <phrase>', `confirm without a prompt by passing the exact phrase "${POLICY.deletePhrase}"`)
    .action(async (ref: string, opts: { confirm?: string; yes?: boolean; force?: boolean }, self: Command) => {
      const globals = globalsOf(self);
      refuseYesOrForce(opts, 'deleting a token');
      if (opts.confirm !== undefined && !isDeletePhrase(opts.confirm)) {
        throw new UsageError(`--confirm must be exactly "${POLICY.deletePhrase}"; nothing was deleted`);
      }
      if (opts.confirm === undefined && !deps.io.stdinIsTTY) {
        throw new UsageError(`deleting needs confirmation and there is no terminal to ask on; pass --confirm "${POLICY.deletePhrase}"`);
      }
      const backend = await deps.backend(globals);
      const token = await backend.find(ref);
      let phrase = opts.confirm;
      if (phrase === undefined) {
        const now = backend.clock.now();
        const v = toTokenView(token, now);
        info(deps, `About to delete ${describeToken(v)}: ${v.status}, created ${formatInstant(v.createdAt)}, value ${v.masked}`);
        // The one fact to know before typing the phrase: who still uses it ("Last used 2 minutes ago by edge-gw from
        // 10.0.4.7; 1,204 calls in the last 24 hours"), by the service's records; a local store cannot know.
        if (backend.tracksUsage) {
          const { usage } = await backend.usage(token.id);
          info(deps, `${safeText(usageLine(usage, now))}.`);
          const retrieved = retrievalLine(usage, now);
          if (retrieved) info(deps, `${safeText(retrieved)}.`);
        } else info(deps, 'Last used: unknown (a local store cannot see where tokens are used).');
        const warning = deletionWarning(await backend.list(), token, now);
        if (warning) warn(deps, warning);
        info(deps, deletionEffectText(deletionEffect(token, now), 'will'));
        // What the deletion will record (a drill's time in a real store) is said before the phrase is typed, not after.
        await backend.noticeBeforeChange();
        phrase = await deps.prompter().input(`Type "${POLICY.deletePhrase}" to delete it (anything else cancels)`, undefined, { expect: POLICY.deletePhrase });
        if (!isDeletePhrase(phrase)) throw new CancelledError('confirmation phrase did not match; nothing was deleted');
      }
      const deleted = await backend.delete(token.id, phrase);
      const view = toTokenView(deleted, backend.clock.now());
      if (globals.json) deps.io.out(renderJson(view));
      success(deps, `Deleted ${describeToken(view)}. ${deletionEffectText(deletionEffect(deleted, backend.clock.now()), 'did')}`);
    });
  examples(cmd, ['tokenctl delete old-ci', `tokenctl delete old-ci --confirm "${POLICY.deletePhrase}"   # scripts, no prompt`]);
}
