import { attemptResultText, lastDeliveryText } from '../../core/deliveries.js';
import { asSentence, formatDuration, formatInstant } from '../../core/format.js';
import { NOTIFICATION_TYPES, NOTIFICATION_WHEN, NOTIFY, TEST_NOTIFICATION_TYPE } from '../../core/notifications.js';
import type { WebhookAttemptRecord } from '../../storage/service-port.js';
import type { WebhookView } from '../notify/webhooks.js';
import { html, type SafeHtml } from './html.js';
import { icon, layout, type Viewer } from './views.js';

/**
 * The Webhooks pages (issue 21): the account's endpoints for signed notifications (Standard Webhooks) with where their
 * deliveries stand, adding one (its `whsec_` secret shown once), sending a test, removing one, and an endpoint's
 * delivery log. The words of delivery states are core's (core/deliveries.ts), as `tokenctl webhooks` prints them.
 * Every form works without JavaScript; with it, adding answers JSON and the secret never enters the page's HTML.
 */

/** The add form as it was sent, when it comes back refused (the refusal at its field, what was typed kept). */
export interface AddState {
  url?: string;
  events?: readonly string[];
  description?: string;
  error?: string;
  field?: 'url' | 'events' | 'description';
}

export interface WebhooksPageInput {
  viewer: Viewer;
  now: Date;
  webhooks: WebhookView[];
  notice?: string;
  error?: string;
  add?: AddState;
  /** Just added without JavaScript: the secret, shown once in the answer to that POST. */
  created?: { webhook: WebhookView; secret: string };
  /** The endpoint whose removal is being confirmed without JavaScript (`/webhooks?remove=<id>`). */
  remove?: string;
}

/** How long a failed delivery is retried (NOTIFY's schedule). */
const RETRIED_FOR_MS = NOTIFY.retryDelaysMs.reduce((a, b) => a + b, 0);

const csrfField = (viewer: Viewer) => html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;

const eventsText = (w: WebhookView) => (w.events.length === 0 ? 'All events' : w.events.join(', '));

/** What an endpoint's row and its log page offer: its log, a test, its removal (confirmed in a dialog). */
function endpointActions(w: WebhookView, viewer: Viewer, withLog: boolean): SafeHtml {
  return html`<div class="actions">
${withLog ? html`<a class="button small" id="log-${w.id}" href="/webhooks/${w.id}">Delivery log<span class="vh"> of ${w.url}</span></a>` : ''}
<form method="post" action="/webhooks/${w.id}/test">${csrfField(viewer)}<button type="submit" class="small" id="test-${w.id}">Send test<span class="vh"> to ${w.url}</span></button></form>
<form method="get" action="/webhooks"><button type="submit" class="small danger" id="remove-${w.id}" name="remove" value="${w.id}" data-dialog="remove-dialog" data-action="/webhooks/${w.id}/remove" data-slot-url="${w.url}" aria-haspopup="dialog">Remove<span class="vh"> ${w.url}</span></button></form>
</div>`;
}

/** The removal's confirmation: one dialog, filled from the Remove button pressed (or by the server, without JavaScript). */
function removeDialog(viewer: Viewer, open: WebhookView | undefined): SafeHtml {
  return html`<dialog id="remove-dialog" class="small-dialog" aria-labelledby="remove-h" ${open ? html`open data-return-to="remove-${open.id}"` : ''}>
<form method="post" action="${open ? `/webhooks/${open.id}/remove` : '/webhooks/remove'}">
${csrfField(viewer)}
<h2 id="remove-h">Remove this endpoint?</h2>
<p><code class="url" data-slot="url">${open?.url ?? ''}</code></p>
<p>Notifications stop going to it at once. Its pending deliveries and its delivery log are removed with it; its secret no longer signs anything.</p>
<div class="actions">
<button type="submit" class="danger primary">Remove endpoint</button>
<button type="submit" name="cancel" value="1" formnovalidate>Cancel</button>
</div>
</form>
</dialog>`;
}

/** The list of endpoints (what the script swaps in after an endpoint is added). */
export function webhooksRegion(input: WebhooksPageInput): SafeHtml {
  const { webhooks, now, viewer } = input;
  return html`<div class="list-head"><h2 id="endpoints-h">Endpoints</h2><span class="count">${webhooks.length} of ${NOTIFY.maxEndpoints}</span></div>
${
  webhooks.length
    ? html`<table class="cards" id="endpoints">
<caption class="vh">Webhook endpoints of this account</caption>
<thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">Last delivery</th><th scope="col"><span class="vh">Actions</span></th></tr></thead>
<tbody>${webhooks.map(
        (w) =>
          html`<tr id="row-${w.id}"><th scope="row" data-label="Endpoint"><code class="url">${w.url}</code>${w.description ? html`<span class="desc">${w.description}</span>` : ''}</th><td data-label="Events">${eventsText(w)}</td><td data-label="Last delivery" class="delivery${w.deliveries.lastAttempt && !w.deliveries.lastAttempt.ok ? ' failed' : ''}">${asSentence(lastDeliveryText(w.deliveries, now))}</td><td class="c-actions">${endpointActions(w, viewer, true)}</td></tr>`,
      )}</tbody>
</table>`
    : html`<p id="no-endpoints">No endpoints yet: add one below.</p>`
}`;
}

/** The secret, once: in a monospaced box with its own Copy (filled by the script from the JSON answer, or by the server). */
function secretSection(created: WebhooksPageInput['created']): SafeHtml {
  return html`<section id="secret" class="secret" aria-labelledby="secret-h" ${created ? '' : html`hidden`}>
<h2 id="secret-h" tabindex="-1">Endpoint added: its signing secret</h2>
<p>For <code class="url" id="secret-url">${created?.webhook.url ?? ''}</code></p>
<label for="secret-value">Signing secret</label>
<textarea id="secret-value" class="value-box" readonly rows="2" autocomplete="off" spellcheck="false">${created?.secret ?? ''}</textarea>
<div class="actions">
<button type="button" class="primary" id="copy-secret" data-copy-created="secret">${icon('copy')}Copy secret</button>
<span class="bubble" id="feedback-secret" role="status"></span>
</div>
<ul class="notes">
<li>This is the only time the page shows it. Give it to the receiver: it verifies each notification's <code>webhook-signature</code> with it, as Standard Webhooks' libraries do.</li>
<li>Then send a test from the endpoint's row to check that the receiver accepts it.</li>
</ul>
<div class="actions end"><a class="button" href="/webhooks">Done</a></div>
</section>`;
}

function addForm(input: WebhooksPageInput): SafeHtml {
  const a = input.add ?? {};
  const full = input.webhooks.length >= NOTIFY.maxEndpoints;
  const error = (field: NonNullable<AddState['field']>) => (a.error && (a.field ?? 'url') === field ? a.error : '');
  const invalid = (field: NonNullable<AddState['field']>) => (error(field) ? html`aria-invalid="true"` : '');
  return html`<section aria-labelledby="add-h" class="add">
<h2 id="add-h">Add an endpoint</h2>
<form method="post" action="/webhooks" data-fetch="webhook" id="add-form">
${csrfField(input.viewer)}
<label for="wh-url">Endpoint URL</label>
<input id="wh-url" name="url" type="url" required maxlength="${NOTIFY.maxUrlLength}" autocomplete="off" spellcheck="false" placeholder="https://hooks.example.com/tokenctl" value="${a.url ?? ''}" aria-describedby="wh-url-error wh-url-help" ${invalid('url')}>
<p class="field-error" id="wh-url-error" data-error-for="url">${error('url')}</p>
<p class="hint" id="wh-url-help">An https:// URL that answers 2xx within ${NOTIFY.timeoutMs / 1000} s; a failed delivery is tried again for ${formatDuration(RETRIED_FOR_MS, 'words')}.</p>
<fieldset class="events" aria-describedby="wh-events-help wh-events-error">
<legend>Events</legend>
<p class="hint" id="wh-events-help">None chosen: every event.</p>
${NOTIFICATION_TYPES.map(
  (type) =>
    html`<label class="check"><input type="checkbox" name="events" value="${type}" ${a.events?.includes(type) ? html`checked` : ''}><span><code>${type}</code> <span class="hint">${NOTIFICATION_WHEN[type]}</span></span></label>`,
)}
<p class="field-error" id="wh-events-error" data-error-for="events">${error('events')}</p>
</fieldset>
<label for="wh-description">Description <span class="optional">(optional)</span></label>
<input id="wh-description" name="description" type="text" maxlength="200" autocomplete="off" value="${a.description ?? ''}" aria-describedby="wh-description-error" ${invalid('description')}>
<p class="field-error" id="wh-description-error" data-error-for="description">${error('description')}</p>
${full ? html`<p class="hint" id="wh-full">This account has ${NOTIFY.maxEndpoints} endpoints, the most it may have: remove one to add another.</p>` : ''}
<div class="actions"><button type="submit" class="primary" ${full ? html`disabled aria-describedby="wh-full"` : ''}>Add endpoint</button></div>
</form>
</section>`;
}

export function webhooksPage(input: WebhooksPageInput): SafeHtml {
  const body = html`<h1>Webhooks</h1>
<p class="lead">The service sends this account's token events to your endpoints as signed notifications (<a href="https://www.standardwebhooks.com" rel="noreferrer">Standard Webhooks</a>), which your receivers verify with the endpoint's secret.</p>
${input.notice ? html`<p class="notice" id="list-notice" role="status" tabindex="-1">${input.notice}</p>` : ''}
${input.error ? html`<p class="error" id="list-error" role="alert" tabindex="-1">${input.error}</p>` : ''}
${secretSection(input.created)}
<section id="webhooks-region" data-region aria-labelledby="endpoints-h">
${webhooksRegion(input)}
</section>
${addForm(input)}
${removeDialog(input.viewer, input.webhooks.find((w) => w.id === input.remove))}`;
  return layout({ title: 'Webhooks', viewer: input.viewer, current: 'webhooks', body, icons: true, more: true });
}

export interface WebhookLogPageInput {
  viewer: Viewer;
  now: Date;
  webhook: WebhookView;
  attempts: WebhookAttemptRecord[];
  notice?: string;
  /** The notice tells of a failed attempt (Send test's, refused by the receiver). */
  noticeFailed?: boolean;
}

export function webhookLogPage(input: WebhookLogPageInput): SafeHtml {
  const { webhook: w, attempts, now, viewer } = input;
  const body = html`<p class="crumbs"><a href="/webhooks">Webhooks</a> <span aria-hidden="true">›</span> Delivery log</p>
<h1>Delivery log</h1>
<p class="endpoint"><code class="url">${w.url}</code></p>
${w.description ? html`<p class="desc">${w.description}</p>` : ''}
<dl class="facts">
<div><dt>Events</dt><dd>${eventsText(w)}</dd></div>
<div><dt>Deliveries</dt><dd id="delivery-state">${asSentence(lastDeliveryText(w.deliveries, now))}</dd></div>
<div><dt>Added</dt><dd>${formatInstant(w.createdAt)} by ${w.createdBy}</dd></div>
</dl>
${input.notice ? html`<p class="${input.noticeFailed ? 'error' : 'notice'}" id="log-notice" role="status" tabindex="-1">${input.notice}</p>` : ''}
${endpointActions(w, viewer, false)}
<section aria-labelledby="attempts-h">
<h2 id="attempts-h">Attempts, newest first</h2>
${
  attempts.length
    ? html`<table class="cards" id="attempts">
<caption class="vh">Delivery attempts to this endpoint, newest first</caption>
<thead><tr><th scope="col">Time (UTC)</th><th scope="col">Event</th><th scope="col" class="num">Attempt</th><th scope="col">Result</th><th scope="col">Message</th></tr></thead>
<tbody>${attempts.map(
        (a) =>
          html`<tr class="${a.ok ? 'ok' : 'failed'}"><td data-label="Time">${formatInstant(a.at)}</td><td data-label="Event"><code>${a.type}</code></td><td data-label="Attempt" class="num">${a.attempt}</td><td data-label="Result" class="result">${attemptResultText(a)}</td><td data-label="Message"><code>${a.messageId}</code></td></tr>`,
      )}</tbody>
</table>`
    : html`<p id="no-attempts">No delivery attempts yet. Send a test: a <code>${TEST_NOTIFICATION_TYPE}</code> notification goes to this endpoint only.</p>`
}
</section>
${removeDialog(viewer, undefined)}`;
  return layout({ title: 'Delivery log', viewer, current: 'webhooks', body, more: true });
}
