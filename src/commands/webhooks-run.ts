// What `tokenctl webhooks ...` does, loaded only when one of them runs (commands/webhooks.ts registers them).
import type { Deps, GlobalOptions } from '../deps.js';
import { BackendUnavailableError, UsageError } from '../core/errors.js';
import { parseEventTypes } from '../core/notification-types.js';
import { terminalColumns } from '../ui/io.js';
import { DEFAULT_TABLE_WIDTH, renderJson, renderTsv } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { info, success, warn } from './shared.js';

/** How long `webhooks test` waits for the first attempt's outcome. */
const TEST_WAIT_MS = 15_000;

function endpointId(text: string): string {
  const id = text.trim();
  if (!/^[\w-]{1,64}$/.test(id)) throw new UsageError(`'${safeText(id.slice(0, 40))}' is not a webhook id (wh_...); see them with: tokenctl webhooks list`);
  return id;
}

const width = (deps: Deps) => (deps.io.stdoutIsTTY ? (deps.io.columns ?? terminalColumns(undefined, deps.env) ?? DEFAULT_TABLE_WIDTH) : DEFAULT_TABLE_WIDTH);

export async function addWebhook(deps: Deps, globals: GlobalOptions, url: string, opts: { event?: string[]; description?: string }): Promise<void> {
  const events = parseEventTypes(opts.event ?? []);
  const backend = await deps.backend(globals);
  const { webhook, secret } = await backend.addWebhook({ url, events, description: opts.description });
  // The secret alone on stdout (`> whsec.txt`), as `create` prints a value; never again.
  if (globals.json) deps.io.out(renderJson({ webhook, secret }));
  else deps.io.out(`${secret}\n`);
  success(deps, `Added webhook ${webhook.id} for ${safeText(webhook.url)} (${webhook.events.length === 0 ? 'every event' : webhook.events.join(', ')})`);
  info(deps, 'Its signing secret is on stdout and is never shown again: give it to the receiver, which verifies every notification with it (any Standard Webhooks library).');
  info(deps, `Check the receiver with: tokenctl webhooks test ${webhook.id}`);
}

export async function listWebhooks(deps: Deps, globals: GlobalOptions): Promise<void> {
  const backend = await deps.backend(globals);
  const rows = await backend.webhooks();
  const now = backend.clock.now();
  if (globals.json) deps.io.out(renderJson(rows));
  else if (!deps.io.stdoutIsTTY) deps.io.out(renderTsv(rows.map((r) => ({ id: r.id, url: r.url, events: r.events.join(',') || 'all' })), ['id', 'url', 'events']));
  else {
    const { renderWebhooks } = await import('../ui/usage.js');
    deps.io.out(renderWebhooks(rows, now, width(deps), deps.io.outStyle));
  }
}

export async function removeWebhook(deps: Deps, globals: GlobalOptions, id: string): Promise<void> {
  const backend = await deps.backend(globals);
  const webhook = await backend.removeWebhook(endpointId(id));
  if (globals.json) deps.io.out(renderJson(webhook));
  success(deps, `Removed webhook ${webhook.id} (${safeText(webhook.url)}): it gets no more notifications`);
}

export async function testWebhook(deps: Deps, globals: GlobalOptions, raw: string): Promise<void> {
  const id = endpointId(raw);
  const backend = await deps.backend(globals);
  const { messageId } = await backend.testWebhook(id);
  info(deps, `Sent test notification ${messageId}; waiting for its first attempt...`);
  // The service attempts at once; its outcome is in the endpoint's delivery log. A real wait (the attempt is real I/O).
  for (let waited = 0; ; waited += 250) {
    const attempt = (await backend.webhookAttempts(id)).find((a) => a.messageId === messageId);
    if (attempt) {
      if (globals.json) deps.io.out(renderJson(attempt));
      if (attempt.ok) {
        success(deps, `Delivered to ${id}: HTTP ${attempt.status} in ${Math.round(attempt.ms)} ms`);
        return;
      }
      const retry = attempt.nextAttemptAt ? `; the service retries it (next at ${attempt.nextAttemptAt.slice(11, 16)} UTC)` : '';
      throw new BackendUnavailableError(`the receiver did not take test notification ${messageId}: ${safeText(attempt.error ?? `HTTP ${attempt.status}`)}${retry}. See the log with: tokenctl webhooks log ${id}`);
    }
    if (waited >= TEST_WAIT_MS) {
      warn(deps, `no attempt within ${TEST_WAIT_MS / 1000} s; see later with: tokenctl webhooks log ${id}`);
      throw new BackendUnavailableError(`test notification ${messageId} was not attempted within ${TEST_WAIT_MS / 1000} s; the service retries it`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function webhookLog(deps: Deps, globals: GlobalOptions, raw: string): Promise<void> {
  const backend = await deps.backend(globals);
  const attempts = await backend.webhookAttempts(endpointId(raw));
  if (globals.json) deps.io.out(renderJson(attempts));
  else if (!deps.io.stdoutIsTTY) deps.io.out(renderTsv(attempts, ['at', 'messageId', 'type', 'attempt', 'ok', 'status', 'error', 'nextAttemptAt']));
  else {
    const { renderAttempts } = await import('../ui/usage.js');
    deps.io.out(renderAttempts(attempts, width(deps), deps.io.outStyle));
  }
}
