import type { AuditEvent, AuditReport } from '../../core/audit.js';
import { replacementPath, type ReplacementPath, type RotationRecord } from '../../core/rotation.js';
import type { AccountFeatures } from '../../core/features.js';
import {
  ageText,
  creatableTypes,
  deletionEffect,
  deletionEffectText,
  lastUsedText,
  notCreatableReason,
  notUsableYet,
  replacementPathText,
  rotationStep,
  staleText,
  statusInWords,
  type RotationStep,
} from '../../core/decisions.js';
import { asSentence, formatDuration, formatInstant, type CommandLine } from '../../core/format.js';
import { NAME_MAX_LENGTH, NAME_RULES_TEXT } from '../../core/names.js';
import { deletionWarning, POLICY, TOKEN_TYPES, TYPE_INFO, type TokenType, type TokenView } from '../../core/tokens.js';
import { DRAINING_USE_MARK, drainingUseLine, neverUsed, retrievalLine, usageLine, usedWhileDraining, type TokenUsage } from '../../core/usage.js';
import { PAGE_MORE_STYLE, PAGE_SCRIPT, PAGE_STYLE } from './assets.js';
import { html, type HtmlValue, type SafeHtml } from './html.js';

/**
 * The Tokens page's views: plain functions from what the routes read to HTML, in partials (a row, its actions, the
 * dialogs, the advice) that the routes also send alone to the page's script after a change. Every decision and
 * every wording of a rule comes from core/ (decisions.ts, tokens.ts, format.ts); these only lay them out. Every
 * stored text goes through `html`'s escaping; a token value never does (values reach the browser only as JSON,
 * from a POST).
 */

/** "2026-11-29 14:05 UTC" */
export const at = formatInstant;
const inWords = (ms: number) => formatDuration(ms, 'words');

/** The spec's table of types, as the page names them (OneLink is premium). */
const typeLabel = (type: TokenType) => (TYPE_INFO[type].premium ? `${TYPE_INFO[type].label} (premium)` : TYPE_INFO[type].label);

/**
 * A refusal from the token use cases, as the page says it: a sentence, without the commands the CLI adds ("...; see
 * it with: tokenctl list"), since a browser has no terminal. The page avoids offering what would be refused (a full
 * type, a taken slot); this is for what happens anyway (another window, another admin).
 */
export function pageWords(message: string): string {
  const command = /\btokenctl [a-z]/;
  const parts = message.split(/(?<=[;.])\s+/);
  const kept = parts.filter((p) => !command.test(p));
  const text = (kept.length ? kept.join(' ') : message.replace(/[:(]?\s*\btokenctl [^;.)]*\)?/g, '')).trim().replace(/[;,:]$/, '');
  return asSentence(text);
}

/** How the page names an action the security review suggests: the button that does it, never a command. */
const pageAction: CommandLine = ([verb, name, flag]) =>
  verb === 'rotate' ? (flag === '--resume' ? `continue replacing '${name}'` : `replace '${name}'`) : verb === 'delete' ? `delete '${name}'` : `${verb} '${name}'`;
export const PAGE_ACTION = pageAction;

export interface Viewer {
  name: string;
  accountName: string;
  csrf: string;
}

interface LayoutInput {
  title: string;
  viewer?: Viewer;
  current?: 'tokens' | 'activity' | 'webhooks';
  body: HtmlValue;
  /** The icons of the token rows (an SVG sprite), on the pages that show them. */
  icons?: boolean;
  /** The second stylesheet (usage and webhooks pages): what the Tokens page itself does not need, not sent with it. */
  more?: boolean;
}

const ICONS = html`<svg class="sprite" aria-hidden="true" focusable="false" width="0" height="0">
<symbol id="i-copy" viewBox="0 0 24 24"><rect x="9" y="9" width="11" height="11" rx="2"/><path d="M5 15V6a2 2 0 0 1 2-2h9"/></symbol>
<symbol id="i-edit" viewBox="0 0 24 24"><path d="M4 20h4L19 9l-4-4L4 16z"/><path d="M13.5 6.5l4 4"/></symbol>
<symbol id="i-delete" viewBox="0 0 24 24"><path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3"/></symbol>
<symbol id="i-replace" viewBox="0 0 24 24"><path d="M20 12a8 8 0 0 1-14.3 4.9M4 12a8 8 0 0 1 14.3-4.9"/><path d="M18.5 3v4.5H14M5.5 21v-4.5H10"/></symbol>
<symbol id="i-continue" viewBox="0 0 24 24"><path d="M4 12h15M13 6l6 6-6 6"/></symbol>
</svg>`;

export const icon = (name: string) => html`<svg aria-hidden="true"><use href="#i-${name}"/></svg>`;

export function layout({ title, viewer, current, body, icons, more }: LayoutInput): SafeHtml {
  const nav = viewer
    ? html`<nav aria-label="Pages"><ul>
<li><a href="/" ${current === 'tokens' ? html`aria-current="page"` : ''}>Tokens</a></li>
<li><a href="/activity" ${current === 'activity' ? html`aria-current="page"` : ''}>Security review and activity</a></li>
<li><a href="/webhooks" ${current === 'webhooks' ? html`aria-current="page"` : ''}>Webhooks</a></li>
</ul></nav>
<div class="who"><span class="who-name">${viewer.name} · account ${viewer.accountName}</span>
<form method="post" action="/sign-out"><input type="hidden" name="_csrf" value="${viewer.csrf}"><button type="submit" class="small">Sign out</button></form></div>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
${viewer ? html`<meta name="csrf-token" content="${viewer.csrf}">` : ''}
<title>${title} · tokenctl</title>
<link rel="stylesheet" href="${PAGE_STYLE.path}">
${more ? html`<link rel="stylesheet" href="${PAGE_MORE_STYLE.path}">` : ''}
<script src="${PAGE_SCRIPT.path}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to main content</a>
<header class="top"><span class="brand">tokenctl</span>${nav}</header>
<main id="main" tabindex="-1">
${body}
</main>
<div id="live-status" class="vh" role="status" aria-live="polite"></div>
${icons ? ICONS : ''}
</body>
</html>
`;
}

// ---- sign-in, no access, errors ---------------------------------------------------------------------------------

export function signInPage(input: { csrf: string; message?: string; error?: string }): SafeHtml {
  return layout({
    title: 'Sign in',
    body: html`<div class="narrow">
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
    body: html`<div class="narrow">
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
    body: html`<div class="narrow"><h1>${title}</h1><p class="error" role="alert">${pageWords(message)}</p><p><a href="/">Back to the Tokens page</a></p></div>`,
  });
}

// ---- the Tokens page --------------------------------------------------------------------------------------------

/**
 * What the page shows open, and with what the admin typed: a form opened without JavaScript (`/?new=1`,
 * `/?rename=<id>`, `/?delete=<id>`), or the one whose request was refused, with the refusal beside the field (`error`,
 * `field`). `row`: a refusal of a row's action (Replace, Copy), shown beside that row.
 */
export type OpenState =
  | { kind: 'create'; name?: string; type?: string; error?: string; field?: 'name' | 'type' }
  | { kind: 'rename'; id: string; name?: string; error?: string }
  | { kind: 'delete'; id: string; error?: string }
  | { kind: 'row'; id: string; error: string };

export interface TokensPageInput {
  viewer: Viewer;
  now: Date;
  /** Every token of the account, deleted ones included, as views, in display order. */
  tokens: TokenView[];
  showDeleted: boolean;
  /** The unfinished rotations. */
  rotations: RotationRecord[];
  /** The account's premium features (StoredAccount.features; undefined: every feature): OneLink is premium. */
  features: AccountFeatures;
  /** Every token's usage the service recorded (GET /v1/usage), by token id; a token missing from it was never used. */
  usage: ReadonlyMap<string, TokenUsage>;
  /** A message about the list as a whole (created, renamed, deleted), shown where the list starts. */
  notice?: string;
  /** A refusal that belongs to no form or row. */
  error?: string;
  open?: OpenState;
}

/** The hidden fields of every form of the page: the CSRF token, and the list's "Show deleted" to come back to. */
const formFields = (input: TokensPageInput) =>
  html`<input type="hidden" name="_csrf" value="${input.viewer.csrf}">${input.showDeleted ? html`<input type="hidden" name="_deleted" value="1">` : ''}`;

const live = (t: TokenView) => t.deletedAt === null;

/** A token's usage as the service recorded it; none recorded: never used. */
const usageOf = (input: TokensPageInput, t: TokenView): TokenUsage => input.usage.get(t.id) ?? neverUsed(t.id);

export function statusCell(t: TokenView, now: Date): SafeHtml {
  const s = statusInWords(t, now);
  return html`<span class="badge ${s.status}" ${s.exact ? html`title="${s.exact}"` : ''}>${s.label}</span>${
    t.stale ? html` <span class="badge stale" title="${staleText(t, now)}">Stale</span>` : ''
  }${s.detail ? html` <span class="detail">${s.detail}</span>` : ''}`;
}

/** An icon button's name, said by screen readers and shown as its tooltip (the stylesheet shows aria-label). */
const named = (label: string) => html`aria-label="${label}"`;

/**
 * What a dialog shows about a token, as `data-slot-*` attributes of the button that opens it: the script copies each
 * into the dialog's `[data-slot]` of that name (and hides its `[data-slot-box]` when empty), so one dialog serves every
 * row. The server fills the same dialog with the same slots when it renders it open (without JavaScript).
 */
type Slots = Record<string, string>;
const slotAttrs = (slots: Slots) => Object.entries(slots).map(([k, v]) => html` data-slot-${k}="${v}"`);
const slot = (slots: Slots | null, name: string) => slots?.[name] ?? '';

/** "Last used 2 minutes ago by edge-gw from 10.0.4.7; 1,204 calls in the last 24 hours.", or "Never used.", and who last retrieved the value. */
export const usageFact = (u: TokenUsage, now: Date): string =>
  [usageLine(u, now), retrievalLine(u, now)]
    .filter((x): x is string => x !== null)
    .map((x) => `${x}.`)
    .join(' ');

/** The delete dialog's slots for a token: the spec's warnings as the core decides them for this token. */
export function deleteSlots(t: TokenView, input: TokensPageInput): Slots {
  const { now } = input;
  const warning = deletionWarning(input.tokens, t, now);
  return {
    name: t.name,
    warning: warning ? asSentence(warning) : '',
    advice: warning ? asSentence(replacementPathText(replacementPath(input.tokens, input.rotations, t, now), t, now)) : '',
    effect: deletionEffectText(deletionEffect(t, now), 'will'),
    // The one fact to know before typing the phrase (core/usage.ts), as `tokenctl delete` says it.
    usage: usageFact(usageOf(input, t), now),
  };
}

/** A row's icon buttons: copy, rename, replace (only where it can work), delete; and the bubble that answers them. */
function rowActions(t: TokenView, path: ReplacementPath, input: TokensPageInput): SafeHtml {
  const id = t.id;
  const keep = input.showDeleted ? html`<input type="hidden" name="deleted" value="1">` : '';
  const replace =
    path.kind === 'replace'
      ? html`<form method="post" action="/rotations" data-fetch="replace" data-error-into="feedback-${id}">${formFields(input)}<input type="hidden" name="ref" value="${id}"><button type="submit" class="icon" id="replace-${id}" ${named(`Replace ${t.name}`)}>${icon('replace')}</button></form>`
      : path.kind === 'continue'
        ? html`<a class="icon" id="replace-${id}" href="/rotations/${path.rotation.id}" ${named(`Continue replacing ${path.old.name}`)}>${icon('continue')}</a>`
        : html`<span class="icon-slot"></span>`;
  const pending = t.status === 'pending' ? html` data-pending="Not copied yet: ${t.name} is ${notUsableYet(t, input.now)}."` : '';
  const error = input.open?.kind === 'row' && input.open.id === id ? input.open.error : '';
  return html`<div class="actions">
<button type="button" class="icon" id="copy-${id}" data-copy="${id}"${pending} ${named(`Copy ${t.name}`)}>${icon('copy')}</button>
<form method="get" action="/">${keep}<button type="submit" class="icon" id="rename-${id}" name="rename" value="${id}" data-dialog="rename-dialog" data-action="/tokens/${id}/rename"${slotAttrs({ name: t.name })} aria-haspopup="dialog" ${named(`Rename ${t.name}`)}>${icon('edit')}</button></form>
${replace}
<form method="get" action="/">${keep}<button type="submit" class="icon danger" id="delete-${id}" name="delete" value="${id}" data-dialog="delete-dialog" data-action="/tokens/${id}/delete"${slotAttrs(deleteSlots(t, input))} aria-haspopup="dialog" ${named(`Delete ${t.name}`)}>${icon('delete')}</button></form>
<span class="bubble${error ? ' sticky error' : ''}" id="feedback-${id}" role="status">${error}</span>
</div>`;
}

/**
 * The drain watch on a deleted token's row: still presented while it drains (core/usage.ts), in drainingUseLine's words
 * (its tooltip and accessible name), linking to who presents it.
 */
function drainMark(t: TokenView, input: TokensPageInput): SafeHtml | '' {
  const line = drainingUseLine(t, usageOf(input, t), input.now);
  if (!line) return '';
  return html`<div class="actions"><a class="badge watch" id="watch-${t.id}" href="/tokens/${t.id}/usage" title="${line}"><span aria-hidden="true">${DRAINING_USE_MARK}</span><span class="vh">${t.name}: ${line}</span></a></div>`;
}

/** One token: one line at desktop widths (long names cut with "…", the whole name in its tooltip), a card on a phone. */
export function tokenRow(t: TokenView, input: TokensPageInput): SafeHtml {
  const { now } = input;
  const path = replacementPath(input.tokens, input.rotations, t, now);
  const cls = [t.stale ? 'stale' : '', live(t) ? '' : 'deleted'].filter(Boolean).join(' ');
  return html`<tr id="row-${t.id}" ${cls ? html`class="${cls}"` : ''}>
<th scope="row" class="c-name"><span class="name" title="${t.name}">${t.name}</span></th>
<td class="c-type">${TYPE_INFO[t.type].label}</td>
<td class="c-status">${statusCell(t, now)}</td>
<td class="c-created" data-label="Created"><span title="${at(t.createdAt)}">${ageText(t, now)}</span></td>
<td class="c-used" data-label="Last used"><a href="/tokens/${t.id}/usage" ${t.lastUsedAt ? html`title="${at(t.lastUsedAt)}"` : ''}>${lastUsedText(t, now)}<span class="vh">: usage of ${t.name}</span></a></td>
<td class="c-value"><code>${t.masked}</code></td>
<td class="c-actions">${live(t) ? rowActions(t, path, input) : drainMark(t, input)}</td>
</tr>`;
}

/**
 * The delete dialog: one for the page, filled from the Delete button pressed (its slots: what deleting that token
 * does, as the core decides it), or by the server for `/?delete=<id>` and for a refused deletion. The spec's
 * cautions, then the typed phrase.
 */
export function deleteDialog(input: TokensPageInput): SafeHtml {
  const open = input.open?.kind === 'delete' ? input.open : null;
  const t = open ? input.tokens.find((x) => x.id === open.id && live(x)) : undefined;
  const slots = t ? deleteSlots(t, input) : null;
  return html`<dialog id="delete-dialog" class="confirm" aria-labelledby="delete-h" ${t ? html`open data-return-to="delete-${t.id}"` : ''}>
<form method="post" action="${t ? `/tokens/${t.id}/delete` : '/tokens/delete'}" data-fetch="delete">
${formFields(input)}
<h2 id="delete-h">Delete <span data-slot="name">${slot(slots, 'name')}</span>?</h2>
<p class="warning" data-slot-box ${slot(slots, 'warning') ? '' : html`hidden`}><strong data-slot="warning">${slot(slots, 'warning')}</strong> <span data-slot="advice">${slot(slots, 'advice')}</span></p>
<ul class="cautions">
<li>Deleting a token could cause failure to systems depending on it.</li>
<li>It is removed from the Tokens page at once. <span data-slot="effect">${slot(slots, 'effect')}</span></li>
</ul>
<p class="fact" id="delete-usage" data-slot="usage">${slot(slots, 'usage')}</p>
<label for="delete-confirm">Type "${POLICY.deletePhrase}" to confirm</label>
<input id="delete-confirm" name="confirmation" type="text" autofocus autocomplete="off" spellcheck="false" aria-describedby="delete-usage delete-error" ${open?.error ? html`aria-invalid="true"` : ''} data-phrase="${POLICY.deletePhrase}" data-phrase-gate="delete-button">
<p class="field-error" id="delete-error" data-error-for="confirmation">${open?.error ?? ''}</p>
<div class="actions">
<button type="submit" id="delete-button" class="danger primary">Delete token</button>
<button type="submit" name="cancel" value="1" formnovalidate>Cancel</button>
</div>
</form>
</dialog>`;
}

/**
 * The rename dialog: one for the page, filled by the script from the Rename button pressed (or by the server for
 * `/?rename=<id>` and for a refused rename, with the typed name kept and the refusal at the field).
 */
export function renameDialog(input: TokensPageInput): SafeHtml {
  const open = input.open?.kind === 'rename' ? input.open : null;
  const t = open ? input.tokens.find((x) => x.id === open.id && live(x)) : undefined;
  return html`<dialog id="rename-dialog" class="small-dialog" aria-labelledby="rename-h" ${t ? html`open data-return-to="rename-${t.id}"` : ''}>
<form method="post" action="${t ? `/tokens/${t.id}/rename` : '/tokens/rename'}" data-fetch="rename">
${formFields(input)}
<h2 id="rename-h">Rename <span data-slot="name">${t?.name ?? ''}</span></h2>
<label for="rename-input">New name</label>
<input id="rename-input" name="name" type="text" value="${open?.name ?? t?.name ?? ''}" data-fill="name" required maxlength="${NAME_MAX_LENGTH}" autocomplete="off" spellcheck="false" autofocus aria-describedby="rename-error rename-help" ${open?.error ? html`aria-invalid="true"` : ''}>
<p class="field-error" id="rename-error" data-error-for="name">${open?.error ?? ''}</p>
<p class="hint" id="rename-help">Its value does not change. ${NAME_RULES_TEXT}.</p>
<div class="actions">
<button type="submit" class="primary">Save</button>
<button type="submit" name="cancel" value="1" formnovalidate>Cancel</button>
</div>
</form>
</dialog>`;
}

/** The create form: the types this account may create now (core's decision), and why the others are not offered. */
export function createForm(input: TokensPageInput): SafeHtml {
  const open = input.open?.kind === 'create' ? input.open : null;
  const types = creatableTypes(input.tokens, input.features);
  const offered = (type: TokenType) => types.some((c) => c.type === type && c.allowed);
  // Why a type is not offered, in the core's words (a premium feature: only the service's operator can enable it).
  const refused = types.flatMap((c) =>
    c.allowed
      ? []
      : c.reason === 'premium'
        ? [html`<li>${asSentence(`${notCreatableReason(c)}; the token service's operator can enable it`)}</li>`]
        : [html`<li>${TYPE_INFO[c.type].label}: ${notCreatableReason(c)}.</li>`],
  );
  const any = TOKEN_TYPES.some(offered);
  const chosen = open?.type && offered(open.type as TokenType) ? open.type : TOKEN_TYPES.find(offered);
  const error = (field: 'name' | 'type') => (open?.error && (open.field ?? 'name') === field ? open.error : '');
  return html`<form method="post" action="/tokens" data-fetch="create" id="create-form">
${formFields(input)}
<h2 id="create-h">New token</h2>
<label for="create-name">Token name</label>
<input id="create-name" name="name" type="text" required maxlength="${NAME_MAX_LENGTH}" autocomplete="off" spellcheck="false" autofocus value="${open?.name ?? ''}" aria-describedby="create-name-error create-name-help" ${error('name') ? html`aria-invalid="true"` : ''}>
<p class="field-error" id="create-name-error" data-error-for="name">${error('name')}</p>
<p class="hint" id="create-name-help">${NAME_RULES_TEXT}.</p>
<label for="create-type">Token type</label>
<select id="create-type" name="type" required aria-describedby="create-type-error create-type-help" ${error('type') ? html`aria-invalid="true"` : ''}>
${TOKEN_TYPES.map((type) => html`<option value="${type}" ${type === chosen ? html`selected` : ''} ${offered(type) ? '' : html`disabled`}>${typeLabel(type)}${offered(type) ? '' : ' (not available)'}</option>`)}
</select>
<p class="field-error" id="create-type-error" data-error-for="type">${error('type')}</p>
<ul id="create-type-help" class="hint">${refused.length ? refused : html`<li>At most ${POLICY.maxLivePerType} tokens of each type.</li>`}</ul>
<p class="note">A new token becomes available for use only after ${inWords(POLICY.pendingMs)}, until which it's pending. Make sure to implement it in your systems.</p>
<div class="actions">
<button type="submit" class="primary" ${any ? '' : html`disabled`}>Create token</button>
<button type="submit" name="cancel" value="1" formnovalidate>Cancel</button>
</div>
</form>`;
}

/** The create dialog: the form, then, once created, the value shown once with its own Copy button. */
function createDialog(input: TokensPageInput): SafeHtml {
  const open = input.open?.kind === 'create';
  return html`<dialog id="create-dialog" aria-labelledby="create-h" data-return-to="new-token" ${open ? html`open` : ''}>
<div id="create-step">${createForm(input)}</div>
<section id="created" hidden aria-labelledby="created-h">
<h2 id="created-h" tabindex="-1">Token <span id="created-name"></span> created</h2>
<label for="created-value">Token value</label>
<textarea id="created-value" class="value-box" readonly rows="3" autocomplete="off" spellcheck="false"></textarea>
<div class="actions">
<button type="button" class="primary" id="copy-created" data-copy-created>${icon('copy')}Copy value</button>
<span class="bubble" id="feedback-created" role="status"></span>
</div>
<ul class="notes">
<li id="created-pending"></li>
<li>This is the only time the page shows the value. Later, its row's Copy button puts it on the clipboard again; each retrieval is recorded in the audit trail.</li>
</ul>
<div class="actions end"><button type="button" data-close-dialog>Done</button></div>
</section>
</dialog>`;
}

/** What needs doing, said once: stale tokens and how to replace each (only what can work), unfinished replacements. */
function adviceSection(input: TokensPageInput): SafeHtml {
  const { now } = input;
  const nameOf = (id: string) => input.tokens.find((t) => t.id === id)?.name ?? id;
  const items: SafeHtml[] = [];
  // The drain watch first: a deleted token still presented fails its callers once its drain ends (core/usage.ts).
  for (const t of input.tokens) {
    if (live(t) || !usedWhileDraining(t, input.usage.get(t.id), now)) continue;
    items.push(
      html`<li class="watch"><strong class="name-wrap">${t.name}</strong> (deleted): ${drainingUseLine(t, usageOf(input, t), now)}. <a href="/tokens/${t.id}/usage">Who presents it<span class="vh">: usage of ${t.name}</span></a></li>`,
    );
  }
  for (const r of input.rotations) {
    const state = r.state === 'started' ? 'the new value is not put in place yet' : 'the new value is in place';
    items.push(
      html`<li>Replacing <strong class="name-wrap">${nameOf(r.oldTokenId)}</strong> with <strong class="name-wrap">${nameOf(r.newTokenId)}</strong>: ${state}. <a href="/rotations/${r.id}">Continue<span class="vh"> replacing ${nameOf(r.oldTokenId)}</span></a></li>`,
    );
  }
  for (const t of input.tokens.filter((x) => x.stale && live(x))) {
    const path = replacementPath(input.tokens, input.rotations, t, now);
    if (path.kind === 'continue') continue; // said above
    items.push(
      // Where Replace works, its button is the advice (the replacement page guides the rest); where it cannot, words.
      html`<li><strong class="name-wrap">${t.name}</strong> is ${staleText(t, now)}.${
        path.kind === 'replace'
          ? html` <form method="post" action="/rotations" class="inline-form">${formFields(input)}<input type="hidden" name="ref" value="${t.id}"><button type="submit" class="small">Replace ${t.name}</button></form>`
          : html` ${asSentence(replacementPathText(path, t, now))}`
      }</li>`,
    );
  }
  if (!items.length) return html``;
  return html`<section class="advice" aria-labelledby="advice-h"><h3 id="advice-h">Needs attention</h3><ul>${items}</ul></section>`;
}

/**
 * The list and everything that changes with it: its heading with + New token, the notice of the last change, what
 * needs attention, the rows and their delete dialogs. The script swaps it in after a change (the list behind the
 * created value is already current).
 */
export function tokensRegion(input: TokensPageInput): SafeHtml {
  const liveTokens = input.tokens.filter(live);
  const shown = input.showDeleted ? input.tokens : liveTokens;
  const deleted = input.tokens.length - liveTokens.length;
  return html`<div class="list-head">
<h2 id="tokens-h">Your tokens</h2>
<span class="count">${liveTokens.length} live${input.showDeleted && deleted ? html`, ${deleted} deleted` : ''}</span>
<form method="get" action="/" class="show-deleted">
<label class="switch"><input type="checkbox" role="switch" name="deleted" value="1" data-autosubmit ${input.showDeleted ? html`checked` : ''}> Show deleted</label>
<noscript><button type="submit" class="small">Apply</button></noscript>
</form>
<form method="get" action="/" class="new-token">${input.showDeleted ? html`<input type="hidden" name="deleted" value="1">` : ''}<button type="submit" class="primary" id="new-token" name="new" value="1" data-open-create aria-haspopup="dialog"><span aria-hidden="true">+ </span>New token</button></form>
</div>
${input.notice ? html`<p class="notice" id="list-notice" role="status" tabindex="-1">${input.notice}</p>` : ''}
${input.error ? html`<p class="error" id="list-error" role="alert" tabindex="-1">${input.error}</p>` : ''}
${adviceSection(input)}
<table class="tokens">
<caption class="vh">${input.showDeleted ? 'Live and deleted tokens' : 'Live tokens'}</caption>
<thead><tr><th scope="col" class="c-name">Name</th><th scope="col" class="c-type">Type</th><th scope="col" class="c-status">Status</th><th scope="col" class="c-created">Created</th><th scope="col" class="c-used">Last used</th><th scope="col" class="c-value">Value</th><th scope="col" class="c-actions"><span class="vh">Actions</span></th></tr></thead>
<tbody>
${shown.length ? shown.map((t) => tokenRow(t, input)) : html`<tr class="empty"><td colspan="7">No tokens yet: create one with New token.</td></tr>`}
</tbody>
</table>`;
}

export function tokensPage(input: TokensPageInput): SafeHtml {
  return layout({
    title: 'Tokens',
    viewer: input.viewer,
    current: 'tokens',
    icons: true,
    body: html`<h1>Tokens</h1>
<section class="important" aria-labelledby="important-h">
<h2 id="important-h" class="vh">Important</h2>
<p><strong>Important:</strong> keep your tokens safe, as they enable access to your data; don't publish them in public code repositories. It's recommended to replace tokens every ${POLICY.staleAfterDays} days.</p>
</section>
<noscript><p class="note">Copying a value needs JavaScript: values are never put in the page itself.</p></noscript>
<section id="tokens-region" data-region aria-labelledby="tokens-h" data-show-deleted="${input.showDeleted ? '1' : ''}">
${tokensRegion(input)}
</section>
${createDialog(input)}
${renameDialog(input)}
${deleteDialog(input)}
<section aria-labelledby="types-h" class="types">
<h2 id="types-h">Token types</h2>
<p>Admins can create a maximum of ${POLICY.maxLivePerType} tokens for each type.</p>
<table>
<thead><tr><th scope="col">Token type</th><th scope="col">Intended use</th></tr></thead>
<tbody>${TOKEN_TYPES.map((type) => html`<tr><td>${typeLabel(type)}</td><td>${TYPE_INFO[type].use}</td></tr>`)}</tbody>
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
  /** The step whose request was refused: the refusal is shown there. */
  errorAt?: 'deliver' | 'complete' | 'abandon';
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
  const errorAt = (where: RotationPageInput['errorAt'] | 'top') =>
    input.error && (input.errorAt ?? 'top') === where ? html`<p class="error" role="alert">${pageWords(input.error)}</p>` : '';
  const copy =
    n && n.deletedAt === null
      ? html`<button type="button" id="copy-${n.id}" data-copy="${n.id}" data-name="${n.name}" data-show-into="rotation-value">Copy<span class="vh"> ${n.name}</span></button><span class="bubble" id="feedback-${n.id}" role="status"></span>`
      : '';
  const value = html`<label for="rotation-value" class="vh">New token value</label>
<textarea id="rotation-value" class="value-box" readonly hidden rows="3" autocomplete="off" spellcheck="false"></textarea>`;
  const body = html`<div class="narrow wide">
<h1>Replace <span class="name-wrap">${oldName}</span></h1>
${errorAt('top')}
${r.state === 'completed' ? html`<p class="notice" role="status">Replacement complete: ${oldName} was deleted; calls made with it are rejected from ${old?.rejectedAt ? at(old.rejectedAt) : `within ${inWords(POLICY.drainMs)}`}. ${newName} is in use.</p>` : ''}
${r.state === 'abandoned' ? html`<p class="notice" role="status">This replacement was stopped (${r.note ?? 'no reason given'}); both tokens were kept as they were.</p>` : ''}
${where.step === 'abandon' ? html`<p class="error" role="alert">This replacement cannot finish: ${where.why}. Stop it (${oldName} is kept as it is), then start a new one.</p>` : ''}
<p>A token is replaced safely in this order: create the new token, put it in place, wait until it is no longer pending, then delete the old one. You can leave this page and come back: the replacement waits where it is.</p>
<ol class="steps">
<li class="${cls(1)}">${mark(1)}Create the new token: <strong class="name-wrap">${newName}</strong> (created ${n ? at(n.createdAt) : 'earlier'}).</li>
<li class="${cls(2)}">${mark(2)}Put the new token in place in your systems.
${errorAt('deliver')}
${
  step <= 4 && !finished && where.step !== 'abandon'
    ? html`<div class="actions">${copy}${
        where.step === 'deliver'
          ? html`<form method="post" action="/rotations/${r.id}/deliver">${csrf}<button type="submit" class="primary">I have put the new token in place</button></form>`
          : ''
      }</div>${copy ? value : ''}`
    : ''
}</li>
<li class="${cls(3)}">${mark(3)}Wait until it is active${n ? html` (${at(n.activatesAt)})` : ''}.
${step === 3 || (step === 2 && pendingMs > 0) ? html`<p>Active in <span class="countdown" ${step === 3 ? html`data-countdown-ms="${pendingMs}"` : ''}>${inWords(pendingMs)}</span>.</p>` : ''}</li>
<li class="${cls(4)}">${mark(4)}Delete the old token, <span class="name-wrap">${oldName}</span>.
${
  step === 4
    ? html`<form method="post" action="/rotations/${r.id}/complete">${csrf}
<p>${old ? deletionEffectText(deletionEffect(old, now), 'will') : ''}</p>
<label for="rotation-confirm">Type "${POLICY.deletePhrase}" to confirm</label>
<input id="rotation-confirm" name="confirmation" type="text" autocomplete="off" spellcheck="false" data-phrase="${POLICY.deletePhrase}" data-phrase-gate="rotation-delete">
${errorAt('complete')}
<p><button type="submit" id="rotation-delete" class="danger primary">Delete token</button></p>
</form>`
    : ''
}</li>
</ol>
${
  finished
    ? html`<p><a href="/">Back to the Tokens page</a></p>`
    : html`<form method="post" action="/rotations/${r.id}/abandon">${csrf}${errorAt('abandon')}<button type="submit">Stop this replacement</button> <span class="hint">(keeps both tokens)</span></form>
<p><a href="/">Back to the Tokens page</a></p>`
}
</div>`;
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
    ? html`<ul class="findings">${review.findings.map((f) => html`<li><strong>${f.severity}</strong>: <span class="name-wrap">${f.name}</span> (${typeLabel(f.type)}): ${f.kind}: ${f.message}. What to do: ${f.action}.</li>`)}</ul>`
    : html`<p>No findings.</p>`
}
</section>
<section aria-labelledby="trail-h">
<h2 id="trail-h">Audit trail</h2>
<form method="get" action="/activity" class="filter">
<label for="trail-token">Token</label>
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
