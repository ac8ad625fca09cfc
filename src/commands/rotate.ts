import { Option, type Command } from 'commander';
import type { Deps } from '../deps.js';
import { BackendUnavailableError, CancelledError, TokenNotFoundError, TokenPendingError, UsageError } from '../core/errors.js';
import { formatDuration, formatInstant } from '../core/format.js';
import { findCompletedRotation, findUnfinishedRotation, RotationError, type RotationRecord } from '../core/rotation.js';
import { deletionEffect, deletionEffectText, rotationStep } from '../core/decisions.js';
import type { Clock } from '../core/clock.js';
import { isDeletePhrase, resolveToken, toTokenView, tokenStatus, POLICY, type TokenRecord } from '../core/tokens.js';
import { formatAgo } from '../core/format.js';
import { isInUse, parseWaitUnusedMinutes, unusedForAtLeast, unusedForMs, usageLine, USAGE, type TokenUsage } from '../core/usage.js';
import type { TokenBackend } from '../backends/token-backend.js';
import { childEnvironment } from '../secrets/child-env.js';
import { githubAddMaskCommand, isGitHubActions } from '../exec/ci.js';
import { renderJson } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { describeToken, examples, globalsOf, info, refuseYesOrForce, setInterruptNote, success, tokenctlCommand, warn } from './shared.js';

interface RotateOptions {
  name?: string;
  exec?: string;
  wait?: boolean;
  waitUnused?: string;
  resume?: boolean;
  confirm?: string;
  yes?: boolean;
  force?: boolean;
}

/**
 * Runs the --exec command through the shell with the value in its environment, never in its arguments; its
 * output goes to our stderr (stdout is for results), and signals sent to tokenctl are passed on to it.
 */
async function deliverByExec(deps: Deps, command: string, value: string, token: TokenRecord): Promise<number> {
  const { runChild } = await import('../exec/run.js');
  const shell = process.platform === 'win32' ? { command: 'cmd.exe', args: ['/d', '/s', '/c', command] } : { command: '/bin/sh', args: ['-c', command] };
  const outcome = await runChild({
    ...shell,
    env: childEnvironment(deps.env, { TOKENCTL_TOKEN: value, TOKENCTL_TOKEN_ID: token.id, TOKENCTL_TOKEN_NAME: token.name, TOKENCTL_TOKEN_TYPE: token.type }),
    stdoutToStderr: true,
    interactive: deps.io.stdinIsTTY,
  });
  return outcome.code;
}

async function waitUntilActive(deps: Deps, clock: Clock, token: TokenRecord): Promise<void> {
  const target = Date.parse(token.activatesAt);
  const tty = deps.io.stderrIsTTY;
  const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
  let frame = 0;
  let lastLine = -Infinity;
  for (;;) {
    const left = target - clock.now().getTime();
    if (left <= 0) break;
    const text = `waiting for '${safeText(token.name)}' to become active at ${formatInstant(token.activatesAt)}: ${formatDuration(left)} left`;
    if (tty) deps.io.err(`\r\u001b[2K${spinner[frame++ % spinner.length]} ${text}`);
    else if (lastLine - left >= 60_000 || lastLine === -Infinity) {
      deps.io.err(`${text}\n`);
      lastLine = left;
    }
    await deps.sleep(Math.min(tty ? 1_000 : 5_000, left));
  }
  if (tty) deps.io.err('\r\u001b[2K');
}

/** `--wait-unused` waits this long at most (the service's clock): then the rotation stops, kept, to be resumed. */
const WAIT_UNUSED_BOUND_MS = 24 * 60 * 60_000;

/**
 * `--wait-unused`: waits until the old token has not been presented for `ms`, by the service's clock and its records
 * (written every 5 s by each replica), polling its usage. Gives up after a day, keeping the rotation.
 */
async function waitUntilUnused(deps: Deps, backend: TokenBackend, old: TokenRecord, ms: number, giveUp: (usage: TokenUsage) => Error): Promise<TokenUsage> {
  const tty = deps.io.stderrIsTTY;
  const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
  let frame = 0;
  let lastLine = -Infinity;
  const started = backend.clock.now().getTime();
  for (;;) {
    const { usage } = await backend.usage(old.id);
    const now = backend.clock.now();
    if (unusedForAtLeast(usage, now, ms)) {
      if (tty) deps.io.err('\r\u001b[2K');
      return usage;
    }
    if (now.getTime() - started >= WAIT_UNUSED_BOUND_MS) {
      if (tty) deps.io.err('\r\u001b[2K');
      throw giveUp(usage);
    }
    const idle = unusedForMs(usage, now) ?? 0;
    const text = `waiting until '${safeText(old.name)}' has not been used for ${formatDuration(ms, 'words')}: ${safeText(usageLine(usage, now))}`;
    if (tty) deps.io.err(`\r\u001b[2K${spinner[frame++ % spinner.length]} ${text.length > 200 ? `${text.slice(0, 199)}…` : text}`);
    else if (now.getTime() - lastLine >= 60_000) {
      deps.io.err(`${text}\n`);
      lastLine = now.getTime();
    }
    // Usage is written every 5 s: asking more often shows nothing new.
    await deps.sleep(Math.max(1_000, Math.min(ms - idle, 5_000)));
  }
}

/** Finds the token and its unfinished rotation, if any, whether the reference names the old or the new token. */
async function locate(
  backend: TokenBackend,
  ref: string,
): Promise<{ token: TokenRecord | null; rotation: RotationRecord | null; completed: ReturnType<typeof findCompletedRotation>; error: unknown }> {
  const [tokens, rotations] = await Promise.all([backend.list(), backend.rotations()]);
  const completed = () => findCompletedRotation(rotations, tokens, ref);
  try {
    const token = resolveToken(tokens, ref);
    const rotation = findUnfinishedRotation(rotations, token.id);
    return { token, rotation, completed: rotation ? null : completed(), error: null };
  } catch (error) {
    return { token: null, rotation: null, completed: completed(), error };
  }
}

export function registerRotate(program: Command, deps: Deps): void {
  const cmd = program
    .command('rotate')
    .description('replace a token safely: create the new one, deliver it, wait until it is active, then delete the old one')
    .argument('<name|id>', 'the token to replace (or the replacement of an unfinished rotation)')
    .option('--name <new>', 'name of the replacement (default: <name>-<YYYYMMDD>)')
    .option('--exec <cmd>', 'deliver the new value to this shell command, in $TOKENCTL_TOKEN (never in its arguments)')
    .option('--wait', 'wait until the replacement is active, then finish')
    .option('--wait-unused <minutes>', `before deleting the old token, wait until it has not been used for this long (1 to ${USAGE.maxWaitUnusedMinutes}; needs the token service)`)
    .option('--resume', 'continue an unfinished rotation')
    .addOption(new Option('-y, --yes').hideHelp())
    .addOption(new Option('-f, --force').hideHelp())
    .option('--confirm <phrase>', `confirm deleting the old token without a prompt: "${POLICY.deletePhrase}"`)
    .action(async (ref: string, opts: RotateOptions, self: Command) => {
      const globals = globalsOf(self);
      refuseYesOrForce(opts, 'deleting the old token');
      if (opts.confirm !== undefined && !isDeletePhrase(opts.confirm)) {
        throw new UsageError(`--confirm must be exactly "${POLICY.deletePhrase}"; nothing was changed`);
      }
      const waitUnused = opts.waitUnused === undefined ? null : parseWaitUnusedMinutes(opts.waitUnused);
      if (opts.waitUnused !== undefined && waitUnused === null) {
        throw new UsageError(`--wait-unused takes a whole number of minutes from 1 to ${USAGE.maxWaitUnusedMinutes}, not '${opts.waitUnused.slice(0, 20)}'; nothing was changed`);
      }
      const backend = await deps.backend(globals);
      if (waitUnused !== null && !backend.tracksUsage) {
        throw new UsageError('--wait-unused needs the token service: a local store cannot see calls made with a token (only the service records them); nothing was changed');
      }
      const found = await locate(backend, ref);
      // "tokenctl rotate <old> --resume" again after the rotation finished: say so, and which token replaced it.
      const completed = found.completed;
      if (completed && (opts.resume || !found.token)) {
        const { rotation: r, old: oldToken, replacement } = completed;
        const replacementName = replacement?.name ?? r.newTokenId;
        const oldName = oldToken?.name ?? r.oldTokenId;
        const what = `rotation ${r.id} of '${safeText(oldName)}' is already complete: '${safeText(replacementName)}' replaced it on ${formatInstant(r.completedAt ?? r.startedAt)}`;
        if (!opts.resume) {
          throw new TokenNotFoundError(`${what}; to replace '${replacementName}' in turn, run: ${tokenctlCommand(deps, globals, ['rotate', replacementName])}`);
        }
        info(deps, `${what}; nothing left to do`);
        if (globals.json) {
          const now = backend.clock.now();
          deps.io.out(renderJson({ rotation: r, old: oldToken ? toTokenView(oldToken, now) : null, replacement: replacement ? toTokenView(replacement, now) : null }));
        }
        return;
      }
      if (!found.token) throw found.error;
      let rotation = found.rotation;
      let old: TokenRecord;
      let value: string | undefined;
      let jsonPrinted = false;
      // Whether this run changed anything (created the replacement, delivered its value).
      let progressed = false;
      const keepWaitUnused = waitUnused === null ? [] : ['--wait-unused', String(waitUnused)];
      const resumeWith = (...extra: string[]) => `${tokenctlCommand(deps, globals, ['rotate', old.name, '--resume', ...keepWaitUnused, ...extra])}`;
      const confirmFlag = ` --confirm "${POLICY.deletePhrase}"`;

      if (rotation) {
        const tokens = await backend.list();
        old = tokens.find((t) => t.id === rotation!.oldTokenId)!;
        const replacement = tokens.find((t) => t.id === rotation!.newTokenId);
        info(deps, `Resuming rotation ${rotation.id} of '${safeText(old.name)}' (${rotation.state}) → '${safeText(replacement?.name ?? rotation.newTokenId)}'`);
        if (opts.name !== undefined) warn(deps, `--name is ignored: the replacement of this rotation already exists`);
        const where = rotationStep(rotation, replacement, backend.clock.now());
        if (where.step === 'abandon') {
          await backend.abandonRotation(rotation.id, where.why);
          throw new RotationError('conflict', `${where.why}, so the rotation was abandoned; start a new one with: tokenctl rotate ${old.name}`);
        }
      } else {
        if (opts.resume) {
          throw new TokenNotFoundError(`token '${found.token.name}' has no unfinished rotation; start one with: tokenctl rotate ${found.token.name}`);
        }
        old = found.token;
        const started = await backend.startRotation(old.id, { newName: opts.name });
        rotation = started.rotation;
        value = started.replacement.value;
        progressed = true;
        success(deps, `Step 1/3: created the replacement ${describeToken(started.replacement.token)} (rotation ${rotation.id})`);
        deps.crashPoint('started');
      }

      // Step 2: deliver the new value, once; an interrupted delivery is repeated on resume.
      if (rotation.state === 'started') {
        const replacement = value === undefined ? await backend.reveal(rotation.newTokenId, { allowPending: true }) : null;
        value ??= replacement!.value;
        const newToken = replacement?.token ?? (await backend.find(rotation.newTokenId));
        // Under GitHub Actions the runner must know the value is secret before it can appear in any log
        // (printed here, or by the --exec command).
        if (isGitHubActions(deps.env)) deps.io.err(githubAddMaskCommand(value));
        if (opts.exec !== undefined) {
          info(deps, `Step 2/3: delivering the new value to: ${safeText(opts.exec)}`);
          const code = await deliverByExec(deps, opts.exec, value, newToken);
          if (code !== 0) {
            throw new BackendUnavailableError(
              `the --exec command exited with ${code}; the rotation stopped with both tokens kept. Fix it, then run: ${resumeWith()} --exec '…'`,
            );
          }
        } else {
          // Printed before it is recorded as delivered: a crash in between prints it again on resume (at least
          // once), never not at all. Under --json this run's one document is printed here, with the value.
          const delivered: RotationRecord = { ...rotation, state: 'delivered', delivery: 'stdout', deliveredAt: backend.clock.now().toISOString() };
          if (globals.json) {
            const now = backend.clock.now();
            deps.io.out(renderJson({ rotation: delivered, old: toTokenView(old, now), replacement: toTokenView(newToken, now), value }));
            jsonPrinted = true;
          } else {
            deps.io.out(`${value}\n`);
            info(deps, 'Step 2/3: the new value is on stdout: put it in place in the systems that use the old token.');
          }
        }
        rotation = await backend.markRotationDelivered(rotation.id, opts.exec !== undefined ? 'exec' : 'stdout');
        progressed = true;
        deps.crashPoint('delivered');
      }

      // Step 3: the old token is never deleted before the new one is active.
      let replacement = await backend.find(rotation.newTokenId);
      // --json: one document per run, the journal as it stands (printed at delivery when the value was).
      let oldUsage: TokenUsage | null = null;
      const report = (r: RotationRecord, oldNow: TokenRecord) => {
        if (!globals.json || jsonPrinted) return;
        const now = backend.clock.now();
        deps.io.out(renderJson({ rotation: r, old: toTokenView(oldNow, now), replacement: toTokenView(replacement, now), ...(oldUsage ? { oldUsage } : {}) }));
      };
      if (tokenStatus(replacement, backend.clock.now()) === 'pending') {
        const left = formatDuration(Date.parse(replacement.activatesAt) - backend.clock.now().getTime());
        const when = `'${safeText(replacement.name)}' becomes active at ${formatInstant(replacement.activatesAt)} (in ${left})`;
        if (!opts.wait) {
          // A run that did nothing must not look like one that finished: a script tells them apart by the exit code.
          if (!progressed) {
            throw new TokenPendingError(
              `the rotation of '${old.name}' cannot finish yet: ${when}, and the old token is never deleted before its replacement is active; ` +
                `nothing was changed. Finish then with: ${resumeWith()}${opts.confirm !== undefined ? confirmFlag : ''} (or wait now: add --wait)`,
            );
          }
          info(deps, `Step 3/3 later: ${when}. Then finish with: ${safeText(resumeWith())}`);
          report(rotation, old);
          return;
        }
        setInterruptNote(
          `the rotation is kept (both tokens stay live; ${when}); finish it with: ${resumeWith('--wait')}${opts.confirm !== undefined ? confirmFlag : ''}`,
        );
        try {
          await waitUntilActive(deps, backend.clock, replacement);
        } finally {
          setInterruptNote(undefined);
        }
        replacement = await backend.find(rotation.newTokenId);
      }

      // Before the old token is deleted: is it still used? (A service knows; a local store cannot.) With --wait-unused,
      // first wait until it has not been for that long.
      if (backend.tracksUsage) {
        if (waitUnused !== null) {
          setInterruptNote(`the rotation is kept (both tokens stay live); finish it with: ${resumeWith()}${opts.confirm !== undefined ? confirmFlag : ''}`);
          try {
            oldUsage = await waitUntilUnused(deps, backend, old, waitUnused * 60_000, (u) => {
              const now = backend.clock.now();
              return new TokenPendingError(
                `'${old.name}' is still in use after waiting ${formatDuration(WAIT_UNUSED_BOUND_MS)}: ${usageLine(u, now)}; ` +
                  `nothing was deleted, and the rotation is kept. Put '${replacement.name}' in place where it is used, then run: ${resumeWith()}${opts.confirm !== undefined ? confirmFlag : ''}`,
              );
            });
          } finally {
            setInterruptNote(undefined);
          }
        } else oldUsage = (await backend.usage(old.id)).usage;
        const now = backend.clock.now();
        const idle = unusedForMs(oldUsage, now);
        const facts = safeText(usageLine(oldUsage, now).replace(/^L/, 'l'));
        // After --wait-unused, it has not been used for as long as asked: not "in use" by the caller's own measure.
        if (waitUnused === null && isInUse(oldUsage, now)) {
          warn(
            deps,
            `'${safeText(old.name)}' is still in use (${facts}): what presents it fails once its drain ends, ${formatDuration(POLICY.drainMs)} after deletion; ` +
              `put '${safeText(replacement.name)}' in place there first${waitUnused === null ? ', or wait for it with --wait-unused <minutes>' : ''}`,
          );
        } else if (idle === null) info(deps, `'${safeText(old.name)}' was never used, by the service's records: nothing depends on it.`);
        else info(deps, `'${safeText(old.name)}' has not been used for ${formatAgo(idle).replace(/ ago$/, '')} (${facts}).`);
      }

      let phrase = opts.confirm;
      if (phrase === undefined) {
        if (!deps.io.stdinIsTTY) {
          throw new UsageError(
            `'${old.name}' can now be deleted, which needs confirmation and there is no terminal to ask on; run: ${resumeWith()}${confirmFlag}`,
          );
        }
        info(deps, `'${safeText(replacement.name)}' is active. Deleting ${describeToken(old)}: calls made with it keep working for ${formatDuration(POLICY.drainMs)}, then fail.`);
        // What the deletion will record (a drill's time in a real store) is said before the phrase is typed, not after.
        await backend.noticeBeforeChange();
        try {
          phrase = await deps.prompter().input(`Type "${POLICY.deletePhrase}" to delete '${safeText(old.name)}' (anything else stops here; resume later)`, undefined, {
            expect: POLICY.deletePhrase,
          });
        } catch (error) {
          // Ctrl-C at the prompt: the rotation is kept, not "nothing was changed".
          if (error instanceof CancelledError) throw new CancelledError(`cancelled; the rotation is kept and '${old.name}' was not deleted. Finish later with: ${resumeWith()}`);
          throw error;
        }
        if (!isDeletePhrase(phrase)) throw new CancelledError(`confirmation phrase did not match; '${old.name}' was kept. Finish later with: ${resumeWith()}`);
      }
      const done = await backend.completeRotation(rotation.id, phrase);
      deps.crashPoint('completed');
      success(deps, `Rotated: '${safeText(replacement.name)}' is active; '${safeText(done.old.name)}' is deleted. ${deletionEffectText(deletionEffect(done.old, backend.clock.now()), 'did')}`);
      report(done.rotation, done.old);
    });
  examples(cmd, [
    'tokenctl rotate ci-deploy                      # prints the new value; finish later with --resume',
    "tokenctl rotate ci-deploy --exec 'vault kv put secret/ci token=\"$TOKENCTL_TOKEN\"' --wait --confirm \"Delete token\"",
    'tokenctl rotate ci-deploy --resume --wait-unused 15 --confirm "Delete token"   # once nothing has used the old token for 15 minutes',
  ]);
}

