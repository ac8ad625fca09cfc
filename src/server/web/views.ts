import type { AuditEvent, AuditReport } from '../../core/audit.js';
import type { RotationRecord } from '../../core/rotation.js';
import type { AccountFeatures } from '../../core/features.js';
import { creatableTypes, deletedStateText, deletionEffect, deletionEffectText, rotationStep, type RotationStep } from '../../core/decisions.js';
import { formatDuration, formatInstant, formatTime } from '../../core/format.js';
import { deletionWarning, POLICY, TOKEN_TYPES, TYPE_INFO, type TokenType, type TokenView } from '../../core/tokens.js';
import { PAGE_SCRIPT, PAGE_STYLE } from './assets.js';
import { html, type HtmlValue, type SafeHtml } from './html.js';

/**
 * The Tokens page's views: plain functions from what the routes read to HTML. Every stored text goes through
 * `html`'s escaping; a token value never does (values reach the browser only as JSON, from a POST).
 */

/** "2026-11-29 14:05 UTC" */
export const at = formatInstant;
const timeOf = formatTime;
const inWords = (ms: number) => formatDuration(ms, 'words');

/** The spec's table of types, as the page names them (OneLink is premium). */
const typeLabel = (type: TokenType) => (TYPE_INFO[type].premium ? `${TYPE_INFO[type].label} (premium)` : TYPE_INFO[type].label);
const TYPES = TOKEN_TYPES;

export interface Viewer {
  name: string;
  accountName: string;
  csrf: string;
}

interface LayoutInput {
  title: string;
  viewer?: Viewer;
  current?: 'tokens' | 'activity';
  body: HtmlValue;
}

export function layout({ title, viewer, current, body }: LayoutInput): SafeHtml {
  const nav = viewer
    ? html`<nav aria-label="Tokens page"><ul>
<li><a href="/" ${current === 'tokens' ? html`aria-current="page"` : ''}>Tokens</a></li>
<li><a href="/activity" ${current === 'activity' ? html`aria-current="page"` : ''}>Security review and activity</a></li>
</ul></nav>
<div class="who"><span>${viewer.name} · account ${viewer.accountName}</span>
<form class="inline" method="post" action="/sign-out"><input type="hidden" name="_csrf" value="${viewer.csrf}"><button type="submit">Sign out</button></form></div>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${viewer ? html`<meta name="csrf-token" content="${viewer.csrf}">` : ''}
<title>${title} · tokenctl</title>
<link rel="stylesheet" href="${PAGE_STYLE.path}">
<script src="${PAGE_SCRIPT.path}" defer></script>
</head>
<body>
<header class="top"><span class="brand">tokenctl</span>${nav}</header>
<main id="main">
${body}
<p id="live-status" class="live" role="status" aria-live="polite"></p>
</main>
</body>
</html>
`;
}

// ---- sign-in, no access, errors ---------------------------------------------------------------------------------

export function signInPage(input: { csrf: string; message?: string; error?: string }): SafeHtml {
  return layout({
    title: 'Sign in',
    body: html`<div class="sign-in">
<h1>Sign in to the Tokens page</h1>
<p>Only admins can view and manage tokens. Sign in with an admin credential of this token service (the one
<code>tokenctl server init</code> or <code>tokenctl server add-principal --role admin</code> printed).</p>
${input.message ? html`<p class="notice" role="status">${input.message}</p>` : ''}
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="/sign-in">
<input type="hidden" name="_csrf" value="${input.csrf}">
<label for="credential">Admin credential</label>
<input id="credential" name="credential" type="password" autocomplete="current-password" required maxlength="256">
<p><button type="submit" class="primary">Sign in</button></p>
</form>
</div>`,
  });
}

export function noAccessPage(role: string): SafeHtml {
  const why =
    role === 'service'
      ? 'Service credentials are for introspecting tokens; they cannot sign in to the Tokens page.'
      : 'Account users and partners have no access to the Tokens page.';
  return layout({
    title: 'No access',
    body: html`<div class="sign-in">
<h1>No access to the Tokens page</h1>
<p class="error" role="alert">Only admins can view and manage tokens.</p>
<p>${why} Ask an admin of your account if you need a token.</p>
<p><a href="/">Sign in with another credential</a></p>
</div>`,
  });
}

export function messagePage(title: string, message: string, viewer?: Viewer): SafeHtml {
  return layout({
    title,
    viewer,
    body: html`<h1>${title}</h1><p class="error" role="alert">${message}</p><p><a href="/">Back to the Tokens page</a></p>`,
  });
}

// ---- the Tokens page --------------------------------------------------------------------------------------------

export interface TokensPageInput {
  viewer: Viewer;
  now: Date;
  /** Every token of the account, deleted ones included, as views, in display order. */
  tokens: TokenView[];
  showDeleted: boolean;
  rotations: RotationRecord[];
  review: AuditReport;
  /** The account's premium features (StoredAccount.features; undefined: every feature): OneLink is premium. */
  features: AccountFeatures;
  notice?: string;
  error?: string;
}

function statusCell(t: TokenView, now: Date): SafeHtml {
  const left = Date.parse(t.activatesAt) - now.getTime();
  if (t.status === 'pending') return html`<span class="badge pending">pending</span>, active in ${inWords(left)} (${timeOf(t.activatesAt)})`;
  // A deleted token: what its deletion did (one deleted while pending never became active, whatever "draining" says).
  if (t.status === 'draining' || t.status === 'revoked') return html`<span class="badge ${t.status}">${t.status}</span>: ${deletedStateText(t, now)}`;
  if (t.stale) {
    return html`<span class="badge active">active</span> <span class="badge stale">stale</span>
<p class="stale-help">${t.ageDays} days old: replace it (Replace ${t.name}): create a new token, put it in place, wait until it is active, then delete this one.</p>`;
  }
  return html`<span class="badge active">active</span>`;
}

const lastUsed = (t: TokenView) => (t.lastUsedAt ? at(t.lastUsedAt) : 'never');

function deleteDialog(t: TokenView, all: readonly TokenView[], viewer: Viewer, now: Date): SafeHtml {
  const warning = deletionWarning(all, t, now);
  return html`<dialog id="delete-${t.id}" aria-labelledby="delete-h-${t.id}">
<form method="post" action="/tokens/${t.id}/delete">
<input type="hidden" name="_csrf" value="${viewer.csrf}">
<h2 id="delete-h-${t.id}">Delete ${t.name}?</h2>
${warning ? html`<p class="warning"><strong>${warning.charAt(0).toUpperCase()}${warning.slice(1)}.</strong> Create a replacement first (Replace).</p>` : ''}
<ul>
<li>Deleting a token could cause failure to systems depending on it.</li>
<li>It is removed from the Tokens page at once. ${deletionEffectText(deletionEffect(t, now), 'will')}</li>
<li>Last used: ${t.lastUsedAt ? at(t.lastUsedAt) : 'never seen in use by this service'}.</li>
<li>To replace it, first create the new token, put it in place, and delete this one only once the new one is no longer pending.</li>
</ul>
<label for="confirm-${t.id}">Type "${POLICY.deletePhrase}" to confirm</label>
<input id="confirm-${t.id}" name="confirmation" type="text" autofocus autocomplete="off" spellcheck="false" data-phrase="${POLICY.deletePhrase}" data-phrase-gate="delete-button-${t.id}">
<div class="actions">
<button type="submit" id="delete-button-${t.id}" class="danger primary" disabled>Delete token</button>
<button type="button" data-close-dialog>Cancel</button>
</div>
</form>
</dialog>`;
}

function tokenRow(t: TokenView, input: TokensPageInput): SafeHtml {
  const { viewer, now } = input;
  const live = t.deletedAt === null;
  const rotation = input.rotations.find((r) => r.oldTokenId === t.id || r.newTokenId === t.id);
  const cls = [t.stale ? 'stale' : '', live ? '' : 'deleted'].filter(Boolean).join(' ');
  const actions = live
    ? html`<div class="actions">
<button type="button" data-copy="${t.id}" data-name="${t.name}" ${t.status === 'pending' ? html`data-pending-until="${at(t.activatesAt)}"` : ''}>Copy<span class="vh"> ${t.name}</span></button>
<button type="button" data-toggle="rename-${t.id}" aria-controls="rename-${t.id}" aria-expanded="false">Rename<span class="vh"> ${t.name}</span></button>
${
  rotation
    ? html`<a class="button" href="/rotations/${rotation.id}">Continue replacing<span class="vh"> ${t.name}</span></a>`
    : html`<form class="inline" method="post" action="/rotations"><input type="hidden" name="_csrf" value="${viewer.csrf}"><input type="hidden" name="ref" value="${t.id}"><button type="submit">Replace<span class="vh"> ${t.name}</span></button></form>`
}
<button type="button" class="danger" data-open-dialog="delete-${t.id}">Delete<span class="vh"> ${t.name}</span></button>
</div>`
    : '';
  const rename = live
    ? html`<form class="rename" id="rename-${t.id}" method="post" action="/tokens/${t.id}/rename" hidden>
<input type="hidden" name="_csrf" value="${viewer.csrf}">
<label for="rename-input-${t.id}">New name<span class="vh"> for ${t.name}</span></label>
<input id="rename-input-${t.id}" name="name" type="text" value="${t.name}" required maxlength="64" autocomplete="off">
<button type="submit" class="primary">Save</button>
</form>`
    : '';
  return html`<tr ${cls ? html`class="${cls}"` : ''}>
<td data-label="Name"><strong>${t.name}</strong>${rename}</td>
<td data-label="Type">${typeLabel(t.type)}</td>
<td data-label="Status">${statusCell(t, now)}</td>
<td data-label="Age">${t.ageDays} ${t.ageDays === 1 ? 'day' : 'days'}</td>
<td data-label="Created">${at(t.createdAt)}</td>
<td data-label="Last used">${lastUsed(t)}</td>
<td data-label="Value" class="masked">${t.masked}</td>
<td data-label="Actions">${actions}</td>
</tr>`;
}

function createSection(input: TokensPageInput): SafeHtml {
  // What can be created, and why not: the core's decision (core/decisions.ts), worded for the page.
  const types = creatableTypes(input.tokens, input.features);
  const offered = (type: TokenType) => types.some((c) => c.type === type && c.allowed);
  const help = types.flatMap((c) => {
    if (c.allowed) return [];
    if (c.reason === 'premium') {
      return [html`<li>${TYPE_INFO[c.type].label} is a premium feature that this account does not have; ask the token service's operator to enable it.</li>`];
    }
    return [html`<li>${typeLabel(c.type)}: both slots are in use (${c.holders.map((t) => `'${t.name}'`).join(' and ')}); delete one of them to create another.</li>`];
  });
  const any = TYPES.some(offered);
  const firstOffered = TYPES.find(offered);
  return html`<section aria-labelledby="new-token-h">
<h2 id="new-token-h">Create a token</h2>
<button type="button" class="primary" data-toggle="create-form" aria-controls="create-form" aria-expanded="false"><span aria-hidden="true">+ </span>New token</button>
<form id="create-form" class="panel" data-create method="post" action="/tokens" hidden>
<input type="hidden" name="_csrf" value="${input.viewer.csrf}">
<label for="create-name">Token name</label>
<input id="create-name" name="name" type="text" required maxlength="64" autocomplete="off">
<label for="create-type">Token type</label>
<select id="create-type" name="type" required aria-describedby="create-type-help">
${TYPES.map((type) => html`<option value="${type}" ${offered(type) ? (type === firstOffered ? html`selected` : '') : html`disabled`}>${typeLabel(type)}${offered(type) ? '' : ' (not available)'}</option>`)}
</select>
<ul id="create-type-help" class="field-help">${help.length ? help : html`<li>At most ${POLICY.maxLivePerType} tokens of each type.</li>`}</ul>
<p id="create-error" class="error" role="alert"></p>
<p class="actions"><button type="submit" class="primary" ${any ? '' : html`disabled`}>Create token</button>
<button type="button" data-toggle="create-form" aria-controls="create-form">Cancel</button></p>
</form>
<div id="created" class="panel" hidden>
<h3 id="created-heading" tabindex="-1">Token <span id="created-name"></span> created</h3>
<label for="created-value">New token value</label>
<input id="created-value" class="value value-box" type="text" readonly autocomplete="off" spellcheck="false">
<p class="actions"><button type="button" class="primary" data-copy-created>Copy</button> <a class="button" href="/">Done</a></p>
<ul>
<li>A new token becomes available for use only after 30 minutes: it is pending until <strong id="created-pending"></strong>.</li>
<li>Make sure to implement the new token in your systems. Copy it now; it is not shown again (Copy on its row retrieves it, and each retrieval is recorded).</li>
</ul>
</div>
</section>`;
}

export function tokensPage(input: TokensPageInput): SafeHtml {
  const live = input.tokens.filter((t) => t.deletedAt === null);
  const shown = input.showDeleted ? input.tokens : live;
  const unfinished = input.rotations;
  const nameOf = (id: string) => input.tokens.find((t) => t.id === id)?.name ?? id;
  return layout({
    title: 'Tokens',
    viewer: input.viewer,
    current: 'tokens',
    body: html`<h1>Tokens</h1>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<section class="important" aria-labelledby="important-h">
<h2 id="important-h">Important</h2>
<ul>
<li>Keep your tokens safe, as they enable access to your data. Don't publish tokens in public code repositories.</li>
<li>It's recommended to replace tokens every 180 days.</li>
</ul>
</section>
<section aria-labelledby="tokens-h">
<div class="toolbar">
<h2 id="tokens-h">Your tokens</h2>
<form method="get" action="/">
<label class="inline"><input type="checkbox" role="switch" name="deleted" value="1" data-autosubmit ${input.showDeleted ? html`checked` : ''}> Show deleted</label>
<noscript><button type="submit">Apply</button></noscript>
</form>
</div>
<table class="tokens">
<caption class="vh">${input.showDeleted ? 'Live and deleted tokens' : 'Live tokens'}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Age</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Value</th><th scope="col">Actions</th></tr></thead>
<tbody>
${shown.length ? shown.map((t) => tokenRow(t, input)) : html`<tr><td colspan="8">No tokens yet: create one with New token.</td></tr>`}
</tbody>
</table>
${live.map((t) => deleteDialog(t, input.tokens, input.viewer, input.now))}
</section>
${
  unfinished.length
    ? html`<section aria-labelledby="rotations-h"><h2 id="rotations-h">Unfinished replacements</h2><ul>
${unfinished.map((r) => html`<li>Replacing ${nameOf(r.oldTokenId)} with ${nameOf(r.newTokenId)} (${r.state === 'started' ? 'the new value is not put in place yet' : 'the new value is in place'}): <a href="/rotations/${r.id}">Continue replacing ${nameOf(r.oldTokenId)}</a></li>`)}
</ul></section>`
    : ''
}
${createSection(input)}
<section aria-labelledby="review-h">
<h2 id="review-h">Security review</h2>
<p>${input.review.verdict}. <a href="/activity">See the findings and the audit trail</a>.</p>
</section>
<section aria-labelledby="types-h">
<h2 id="types-h">Token types</h2>
<p>Admins can create a maximum of two tokens for each type.</p>
<table>
<thead><tr><th scope="col">Token type</th><th scope="col">Intended use</th></tr></thead>
<tbody>${TYPES.map((type) => html`<tr><td>${typeLabel(type)}</td><td>${TYPE_INFO[type].use}</td></tr>`)}</tbody>
</table>
</section>`,
  });
}

// ---- the guided replacement ------------------------------------------------------------------------------------

export interface RotationPageInput {
  viewer: Viewer;
  now: Date;
  rotation: RotationRecord;
  old: TokenView | null;
  replacement: TokenView | null;
  error?: string;
}

export function rotationPage(input: RotationPageInput): SafeHtml {
  const { rotation: r, old, replacement: n, viewer, now } = input;
  const oldName = old?.name ?? r.oldTokenId;
  const newName = n?.name ?? r.newTokenId;
  const pendingMs = n ? Date.parse(n.activatesAt) - now.getTime() : 0;
  // Where the rotation stands: the core's decision (core/decisions.ts), as `tokenctl rotate --resume` takes it.
  const where: RotationStep = rotationStep(r, n ?? undefined, now);
  const finished = where.step === 'finished';
  const step = { finished: 5, deliver: 2, wait: 3, delete: 4, abandon: 2 }[where.step];
  const cls = (k: number) => (k < step ? 'done' : k === step ? 'current' : '');
  const mark = (k: number) => (k < step ? html`<span class="vh">Done: </span>` : k === step ? html`<span class="vh">Current step: </span>` : '');
  const csrf = html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;
  const copy = n && n.deletedAt === null
    ? html`<p class="actions"><button type="button" data-copy="${n.id}" data-name="${n.name}" data-show-into="rotation-value">Copy<span class="vh"> ${n.name}</span></button></p>
<label for="rotation-value" class="vh">New token value</label>
<input id="rotation-value" class="value value-box" type="text" readonly hidden autocomplete="off" spellcheck="false">`
    : '';
  const body = html`<h1>Replace ${oldName}</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${r.state === 'completed' ? html`<p class="notice" role="status">Replacement complete: ${oldName} was deleted; calls made with it are rejected from ${old?.rejectedAt ? at(old.rejectedAt) : 'within 30 minutes'}. ${newName} is in use.</p>` : ''}
${r.state === 'abandoned' ? html`<p class="notice" role="status">This replacement was stopped (${r.note ?? 'no reason given'}); both tokens were kept as they were.</p>` : ''}
${where.step === 'abandon' ? html`<p class="error" role="alert">This replacement cannot finish: ${where.why}. Stop it (${oldName} is kept as it is), then start a new one.</p>` : ''}
<p>The spec's safe order: create the new token, put it in place, wait until it is no longer pending, then delete the old one.
The same replacement can be continued with <code>tokenctl rotate ${oldName} --resume</code>.</p>
<ol class="steps">
<li class="${cls(1)}">${mark(1)}Create the new token: <strong>${newName}</strong> (created ${n ? at(n.createdAt) : 'earlier'}).</li>
<li class="${cls(2)}">${mark(2)}Put the new token in place in your systems.
${step <= 4 && !finished && where.step !== 'abandon' ? copy : ''}
${
  where.step === 'deliver'
    ? html`<form method="post" action="/rotations/${r.id}/deliver">${csrf}<button type="submit" class="primary">I have put the new token in place</button></form>`
    : ''
}</li>
<li class="${cls(3)}">${mark(3)}Wait until it is active${n ? html` (${at(n.activatesAt)})` : ''}.
${step === 3 || (step === 2 && pendingMs > 0) ? html`<p>Active in <span class="countdown" ${step === 3 ? html`data-countdown-ms="${pendingMs}"` : ''}>${inWords(pendingMs)}</span>.</p>` : ''}</li>
<li class="${cls(4)}">${mark(4)}Delete the old token, ${oldName}.
${
  step === 4
    ? html`<form method="post" action="/rotations/${r.id}/complete">${csrf}
<p>Calls made with ${oldName} keep working for up to 30 minutes after it is deleted; after that they are rejected.</p>
<label for="rotation-confirm">Type "${POLICY.deletePhrase}" to confirm</label>
<input id="rotation-confirm" name="confirmation" type="text" autocomplete="off" spellcheck="false" data-phrase="${POLICY.deletePhrase}" data-phrase-gate="rotation-delete">
<p><button type="submit" id="rotation-delete" class="danger primary" disabled>Delete token</button></p>
</form>`
    : ''
}</li>
</ol>
${
  finished
    ? html`<p><a href="/">Back to the Tokens page</a></p>`
    : html`<form method="post" action="/rotations/${r.id}/abandon">${csrf}<button type="submit">Stop this replacement</button> <span class="field-help">(keeps both tokens)</span></form>`
}`;
  return layout({ title: `Replace ${oldName}`, viewer, current: 'tokens', body });
}

// ---- security review and activity ------------------------------------------------------------------------------

export interface ActivityPageInput {
  viewer: Viewer;
  review: AuditReport;
  events: AuditEvent[];
  tokens: TokenView[];
  tokenFilter: string | null;
}

const ACTION_WORDS: Record<string, string> = {
  'account.init': 'account created',
  'account.signing-key': 'new signing key',
  'token.create': 'created',
  'token.reveal': 'value retrieved',
  'token.rename': 'renamed',
  'token.delete': 'deleted',
  'rotation.start': 'replacement started',
  'rotation.deliver': 'replacement put in place',
  'rotation.complete': 'replacement completed',
  'rotation.abandon': 'replacement stopped',
};

export function activityPage(input: ActivityPageInput): SafeHtml {
  const { review, viewer } = input;
  const events = (input.tokenFilter ? input.events.filter((e) => e.token?.id === input.tokenFilter) : input.events).slice().reverse();
  const detail = (e: AuditEvent) =>
    e.detail
      ? Object.entries(e.detail)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')
      : '';
  const body = html`<h1>Security review and activity</h1>
<section aria-labelledby="findings-h">
<h2 id="findings-h">Security review</h2>
<p>${review.verdict} (as of ${at(review.asOf)}; stale at ${review.maxAgeDays} days, "soon" within ${review.withinDays} days).</p>
${
  review.findings.length
    ? html`<ul>${review.findings.map((f) => html`<li><strong>${f.severity}</strong>: ${f.name} (${typeLabel(f.type)}): ${f.kind}: ${f.message}. What to do: ${f.action}.</li>`)}</ul>`
    : html`<p>No findings.</p>`
}
</section>
<section aria-labelledby="trail-h">
<h2 id="trail-h">Audit trail</h2>
<form method="get" action="/activity" class="actions">
<label for="trail-token" class="inline">Token</label>
<select id="trail-token" name="token">
<option value="">All tokens</option>
${input.tokens.map((t) => html`<option value="${t.id}" ${t.id === input.tokenFilter ? html`selected` : ''}>${t.name}${t.deletedAt ? ' (deleted)' : ''}</option>`)}
</select>
<button type="submit">Filter</button>
</form>
<table class="trail">
<caption class="vh">Audit trail, newest first</caption>
<thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Token</th><th scope="col">Details</th></tr></thead>
<tbody>
${events.length ? events.map((e) => html`<tr><td data-label="#">${e.seq}</td><td data-label="When">${at(e.at)}</td><td data-label="Who">${e.actor}</td><td data-label="What">${ACTION_WORDS[e.action] ?? e.action}</td><td data-label="Token">${e.token ? e.token.name : ''}</td><td data-label="Details">${detail(e)}</td></tr>`) : html`<tr><td colspan="6">No events.</td></tr>`}
</tbody>
</table>
</section>`;
  return layout({ title: 'Security review and activity', viewer, current: 'activity', body });
}
