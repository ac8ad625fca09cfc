import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { reviewTokens } from '../../core/audit.js';
import { PermissionDeniedError, TokenLimitReachedError, UsageError } from '../../core/errors.js';
import type { AccountFeatures } from '../../core/features.js';
import { isUnfinished, replacementPath } from '../../core/rotation.js';
import { creatableTypes, deletionEffect, deletionEffectText, notCreatableReason, pendingAfterCreate, replacementPathText } from '../../core/decisions.js';
import { asSentence } from '../../core/format.js';
import { normalizeTokenName } from '../../core/names.js';
import { attemptResultText } from '../../core/deliveries.js';
import { normalizeWebhookDescription, parseEventTypes, TEST_NOTIFICATION_TYPE } from '../../core/notifications.js';
import { ADMIN } from '../../core/roles.js';
import { parseTokenType, POLICY, sortTokens, TYPE_LABELS, type TokenRecord, type TokenView } from '../../core/tokens.js';
import type { Authenticator } from '../auth/authenticator.js';
import { classifyError, errorBody, sendErrorAnswer } from '../http/plugins/errors.js';
import { webSessions } from './sessions.js';
import { acceptFormBodies, declarePlugin } from '../http/plugins/shared.js';
import { PAGE_MORE_STYLE, PAGE_SCRIPT, PAGE_STYLE } from './assets.js';
import type { SafeHtml } from './html.js';
import { usagePage } from './usage-views.js';
import { webhookLogPage, webhooksPage, webhooksRegion, type WebhooksPageInput } from './webhook-views.js';
import {
  activityPage,
  at,
  createForm,
  messagePage,
  noAccessPage,
  PAGE_ACTION,
  pageWords,
  rotationPage,
  signInPage,
  tokensPage,
  tokensRegion,
  type OpenState,
  type RotationPageInput,
  type TokensPageInput,
  type Viewer,
} from './views.js';

/** Which form or row of the page a request came from, so that a refusal is shown there, with what was typed. */
type PageAt =
  | { form: 'create'; field: 'name' | 'type'; name: string; type: string }
  | { form: 'rename'; id: string; name: string }
  | { form: 'delete'; id: string }
  | { form: 'row'; id: string }
  | { form: 'rotation'; id: string; step: NonNullable<RotationPageInput['errorAt']> }
  | { form: 'webhook-add'; field: 'url' | 'events' | 'description'; url: string; events: string[]; description: string }
  | { form: 'webhook'; id: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route of the Tokens page (for browsers), not of the API: not in api/openapi.yaml. */
    page?: boolean;
  }
  interface FastifyRequest {
    /** The Tokens page's form or row this request came from (for where its refusal is shown). */
    pageAt?: PageAt;
  }
}

/** The issue's policy, exactly: nothing but this service's own script, style and requests; no framing. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const PAGE_HEADERS: [string, string][] = [
  ['content-security-policy', PAGE_CSP],
  ['referrer-policy', 'no-referrer'],
  ['x-frame-options', 'DENY'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-origin'],
];

const SESSION_ENDED: Record<string, string> = {
  idle: 'Your session ended after 30 minutes without activity. Sign in again.',
  absolute: 'Your session ended after 12 hours. Sign in again.',
  'signed-out': 'You are signed out. Sign in again to manage tokens.',
};

/** A token or rotation id in a path. */
const ID = /^(tok|rot)_[0-9A-Za-z]{1,64}$/;
const TOKEN_ID = /^tok_[0-9A-Za-z]{1,64}$/;
const WEBHOOK_ID = /^wh_[0-9A-Za-z]{1,64}$/;
const MESSAGE_ID = /^msg_[0-9A-Za-z]{1,64}$/;
/** How long Send test waits for the test's first attempt before showing the log (an attempt is bounded to 10 s). */
const TEST_WAIT_MS = 12_000;

/** A form field as one string (a repeated or missing field is empty: nothing is guessed). */
function field(request: FastifyRequest, name: string): string {
  const body = request.body as Record<string, unknown> | undefined;
  const value = body && typeof body === 'object' ? body[name] : undefined;
  return typeof value === 'string' ? value : '';
}

/** A form field that may repeat (checkboxes), as its values; anything else is nothing. */
function fieldValues(request: FastifyRequest, name: string): string[] {
  const body = request.body as Record<string, unknown> | undefined;
  const value = body && typeof body === 'object' ? body[name] : undefined;
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

const wantsJson = (request: FastifyRequest) => /application\/json/.test(String(request.headers.accept ?? ''));

function send(reply: FastifyReply, page: SafeHtml, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(page.text);
}

function webhookIdParam(request: FastifyRequest): string {
  const id = (request.params as { id?: string }).id ?? '';
  if (!WEBHOOK_ID.test(id)) throw new UsageError('no such webhook endpoint');
  return id;
}

function idParam(request: FastifyRequest): string {
  const id = (request.params as { id?: string }).id ?? '';
  if (!ID.test(id)) throw new UsageError('no such token or replacement');
  return id;
}

/** Where the list goes back to after a change: with deleted tokens shown when the admin had them shown. */
const listUrl = (request: FastifyRequest, query: Record<string, string> = {}) => {
  const q = new URLSearchParams(query);
  if (field(request, '_deleted') === '1') q.set('deleted', '1');
  const text = q.toString();
  return text ? `/?${text}` : '/';
};

/** The notices of the list after a change: what it did, in the core's words where a rule is involved. */
const notices = {
  created: (t: TokenRecord, now: Date) => `Created ${t.name}. ${asSentence(`it is ${pendingAfterCreate(t, now)}`)}`,
  renamed: (t: TokenRecord, from: string | null) => `Renamed ${from && from !== t.name ? `${from} to ${t.name}` : `to ${t.name}`}. Its value did not change.`,
  deleted: (t: TokenRecord, now: Date) => `Deleted ${t.name}. ${deletionEffectText(deletionEffect(t, now), 'did')}`,
};

/**
 * The Tokens page (issue 13, redesigned in issue 20): server-rendered HTML over the same token use cases as the API
 * (`app.accounts.tokens`), in its own encapsulated scope with its sessions, headers and error pages. Only admins get
 * in; every state-changing request carries the session's CSRF token and this service's Origin, or changes nothing
 * (403). Values reach the browser only as JSON answers to POSTs (copy, create): never in a page, a URL or the
 * history. Every form works without JavaScript (a POST, then the page again); with it, the page's script sends the
 * same forms with `Accept: application/json` and gets the changed list back as HTML to swap in.
 */
export async function tokensPageRoutes(app: FastifyInstance, { authenticator }: { authenticator: Authenticator }): Promise<void> {
  acceptFormBodies(app);
  await app.register(webSessions, { storage: app.storage, clock: app.clock });
  const page = { config: { page: true } };

  app.addHook('onRequest', (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    for (const [name, value] of PAGE_HEADERS) reply.header(name, value);
    done();
  });

  /** The signed-in admin, and the features of their account (what the page offers to create depends on them). */
  const sessionAccount = async (request: FastifyRequest): Promise<{ viewer: Viewer; features: AccountFeatures }> => {
    const session = request.webSession!;
    const account = await app.accounts.account(session.principal);
    return { viewer: { name: session.principal.name, accountName: account.name, csrf: session.csrf }, features: account.features };
  };
  const viewerOf = async (request: FastifyRequest): Promise<Viewer> => (await sessionAccount(request)).viewer;
  const tokensOf = (request: FastifyRequest) => app.accounts.tokens(request.webSession!.principal);

  /** What the Tokens page shows now, for a full page or for the list the script swaps in. */
  const pageInput = async (request: FastifyRequest, extra: Partial<TokensPageInput> & { showDeleted: boolean }): Promise<TokensPageInput> => {
    const service = tokensOf(request);
    const [{ viewer, features }, records, rotations, usage] = await Promise.all([
      sessionAccount(request),
      service.list(),
      service.rotations(),
      // Every token's usage in one read (GET /v1/usage): the delete dialog's fact, the drain watch.
      app.usage.ofAccount(request.webSession!.principal.accountId),
    ]);
    return {
      viewer,
      now: app.clock.now(),
      tokens: sortTokens(records).map(app.tokenView),
      rotations: rotations.filter(isUnfinished),
      // OneLink is premium (CONTRACT.md): offered only to an account that has the feature (core/features.ts).
      features,
      usage: new Map(usage.map((u) => [u.tokenId, u])),
      ...extra,
    };
  };

  const renderTokens = async (request: FastifyRequest, reply: FastifyReply, extra: Partial<TokensPageInput> & { showDeleted: boolean; status?: number }) => {
    const { status, ...input } = extra;
    return send(reply, tokensPage(await pageInput(request, input)), status);
  };

  /**
   * A change made through the script: the list as it is now (and the create form, whose offer may have changed), with
   * the notice where the list starts, unless the script shows it beside the row (`inList: false`).
   */
  const changedList = async (request: FastifyRequest, notice: string, inList = true) => {
    const input = await pageInput(request, { showDeleted: field(request, '_deleted') === '1', notice: inList ? notice : undefined });
    return { notice, html: { region: tokensRegion(input).text, create: createForm(input).text } };
  };

  const renderRotation = async (request: FastifyRequest, reply: FastifyReply, id: string, extra: { error?: string; errorAt?: RotationPageInput['errorAt']; status?: number } = {}) => {
    const service = tokensOf(request);
    const [viewer, rotations, records] = await Promise.all([viewerOf(request), service.rotations(), service.list()]);
    const rotation = rotations.find((r) => r.id === id);
    if (!rotation) return send(reply, messagePage('No such replacement', 'This account has no such replacement.', viewer), 404);
    const view = (tokenId: string): TokenView | null => {
      const t = records.find((x) => x.id === tokenId);
      return t ? app.tokenView(t) : null;
    };
    const { status, ...rest } = extra;
    return send(reply, rotationPage({ viewer, now: app.clock.now(), rotation, old: view(rotation.oldTokenId), replacement: view(rotation.newTokenId), ...rest }), status);
  };

  const renderWebhooks = async (request: FastifyRequest, reply: FastifyReply, extra: Omit<Partial<WebhooksPageInput>, 'viewer' | 'now' | 'webhooks'> & { status?: number } = {}) => {
    const { status, ...rest } = extra;
    const [viewer, webhooks] = await Promise.all([viewerOf(request), app.webhooks.list(request.webSession!.principal)]);
    return send(reply, webhooksPage({ viewer, now: app.clock.now(), webhooks, ...rest }), status);
  };

  const signIn = (request: FastifyRequest, reply: FastifyReply, extra: { error?: string; message?: string; status?: number } = {}) => {
    const ended = request.webSessionEnded;
    const message = extra.message ?? (ended ? SESSION_ENDED[ended] : undefined);
    return send(reply, signInPage({ csrf: app.webSessions.signInToken(request, reply), error: extra.error, message }), extra.status);
  };

  /** A refused change, shown where it was asked: at the field or row (`request.pageAt`), with what was typed kept. */
  const openStateOf = (at: PageAt | undefined, message: string): { open?: OpenState; error?: string } => {
    if (!at) return { error: message };
    switch (at.form) {
      case 'create':
        return { open: { kind: 'create', name: at.name, type: at.type, error: message, field: at.field } };
      case 'rename':
        return { open: { kind: 'rename', id: at.id, name: at.name, error: message } };
      case 'delete':
        return { open: { kind: 'delete', id: at.id, error: message } };
      case 'row':
        return { open: { kind: 'row', id: at.id, error: message } };
      default:
        return { error: message };
    }
  };
  const errorField = (at: PageAt | undefined): string | undefined =>
    at?.form === 'create' || at?.form === 'webhook-add' ? at.field : at?.form === 'rename' ? 'name' : at?.form === 'delete' ? 'confirmation' : undefined;

  app.setErrorHandler(async (error: unknown, request, reply) => {
    const answer = classifyError(error, { bodyLimit: app.initialConfig.bodyLimit ?? 0, requests: wantsJson(request) ? 'json' : 'form' });
    if (wantsJson(request) && answer.status >= 500) return sendErrorAnswer(request, reply, error, answer);
    if (answer.log) request.log.error({ err: error }, answer.log);
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    const { status } = answer;
    const message = pageWords(answer.message);
    // The page's script shows the refusal itself, at the field it names.
    if (wantsJson(request)) return reply.code(status).send({ error: { kind: answer.kind, message, field: errorField(request.pageAt) } });
    if (!request.webSession || status >= 500) return send(reply, messagePage('Something went wrong', message), status);
    try {
      const at = request.pageAt;
      if (at?.form === 'rotation') return await renderRotation(request, reply, at.id, { error: message, errorAt: at.step, status });
      // The Webhooks page again: a refused endpoint with the refusal at its field and what was typed kept.
      if (at?.form === 'webhook-add') return await renderWebhooks(request, reply, { status, add: { url: at.url, events: at.events, description: at.description, error: message, field: at.field } });
      if (at?.form === 'webhook') return await renderWebhooks(request, reply, { status, error: message });
      // A refused change (a taken name, a full type, a pending replacement): the page again, saying why where it was asked.
      return await renderTokens(request, reply, { showDeleted: field(request, '_deleted') === '1', status, ...openStateOf(at, message) });
    } catch {
      return send(reply, messagePage('Something went wrong', message), status);
    }
  });

  /**
   * A state-changing request of a signed-in admin, from the page itself: otherwise 401 (no session) or 403 (no CSRF
   * token, or another origin) and nothing changes.
   */
  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.webSession) {
      if (wantsJson(request)) return reply.code(401).send(errorBody('permission', 'Your session ended. Sign in again.'));
      return signIn(request, reply, { status: 401, message: SESSION_ENDED['signed-out'] });
    }
    if (!app.webSessions.isGenuine(request, field(request, '_csrf'), 'session')) {
      const message = 'this request did not come from the Tokens page (its CSRF token or origin is missing or wrong); nothing was changed';
      if (wantsJson(request)) return reply.code(403).send(errorBody('permission', asSentence(message)));
      return send(reply, messagePage('Request refused', message), 403);
    }
    return undefined;
  };
  const guarded = { ...page, preHandler: guard };

  /** A form's Cancel without JavaScript: back to the list, nothing changed (the script closes the form itself). */
  const cancelled = (request: FastifyRequest, reply: FastifyReply, to = listUrl(request)) => (field(request, 'cancel') === '1' ? reply.redirect(to, 303) : null);

  // ---- static files -------------------------------------------------------------------------------------------
  for (const asset of [PAGE_SCRIPT, PAGE_STYLE, PAGE_MORE_STYLE]) {
    app.get(asset.path, page, async (_request, reply) =>
      // Named by content, so cacheable for good; they hold nothing secret.
      reply.header('cache-control', 'public, max-age=31536000, immutable').type(asset.contentType).send(asset.body),
    );
  }
  app.get('/favicon.ico', page, async (_request, reply) => reply.header('cache-control', 'public, max-age=86400').code(204).send());

  // ---- signing in and out -------------------------------------------------------------------------------------
  app.get<{ Querystring: Record<string, string | undefined> }>('/', page, async (request, reply) => {
    if (!request.webSession) return signIn(request, reply);
    const q = request.query;
    const now = app.clock.now();
    const records = q.token || q.rename || q.delete ? await tokensOf(request).list() : [];
    const token = (id: string | undefined, isLive: boolean) =>
      typeof id === 'string' && TOKEN_ID.test(id) ? records.find((t) => t.id === id && (t.deletedAt === null) === isLive) : undefined;
    // What the last change did (after a form without JavaScript), as the core words it.
    let notice: string | undefined;
    if (q.notice === 'created' && token(q.token, true)) notice = `${notices.created(token(q.token, true)!, now)} Its value is handed only to the page's script: copy it from its row with JavaScript on.`;
    if (q.notice === 'renamed' && token(q.token, true)) notice = notices.renamed(token(q.token, true)!, null);
    if (q.notice === 'deleted' && token(q.token, false)) notice = notices.deleted(token(q.token, false)!, now);
    // A form opened without JavaScript: + New token, a row's rename or delete.
    let open: OpenState | undefined;
    if (q.new === '1') open = { kind: 'create' };
    else if (token(q.rename, true)) open = { kind: 'rename', id: q.rename! };
    else if (token(q.delete, true)) open = { kind: 'delete', id: q.delete! };
    return renderTokens(request, reply, { notice, open, showDeleted: q.deleted === '1' });
  });

  app.post('/sign-in', page, async (request, reply) => {
    if (!app.webSessions.isGenuine(request, field(request, '_csrf'), 'sign-in')) {
      return signIn(request, reply, { status: 403, error: 'This sign-in did not come from this page (reload it and try again); nothing was changed.' });
    }
    // The service's one authentication door, as the API's: the same limit on failures per address, the same roles.
    const answer = await authenticator.check(field(request, 'credential'), request.ip, ADMIN);
    if (!answer.ok) {
      const { refusal } = answer;
      if (refusal.status === 429) {
        reply.header('retry-after', String(refusal.retryAfterSeconds));
        return signIn(request, reply, { status: 429, error: `Too many failed sign-ins from this address; try again in ${refusal.retryAfterSeconds} s.` });
      }
      if (refusal.status === 403 && refusal.principal) {
        request.principal = refusal.principal;
        return send(reply, noAccessPage(refusal.principal.role), 403);
      }
      return signIn(request, reply, { status: 401, error: 'That credential was not accepted. Check it and try again.' });
    }
    const principal = answer.principal;
    await app.webSessions.start(request, reply, principal);
    request.principal = principal;
    request.log.info({ principal: principal.id }, 'signed in to the Tokens page');
    return reply.redirect('/', 303);
  });

  app.post('/sign-out', guarded, async (request, reply) => {
    await app.webSessions.end(request, reply);
    return signIn(request, reply, { message: 'You are signed out.' });
  });

  // ---- tokens -------------------------------------------------------------------------------------------------
  app.post('/tokens', guarded, async (request, reply) => {
    if (cancelled(request, reply)) return reply;
    const where: PageAt & { form: 'create' } = { form: 'create', field: 'type', name: field(request, 'name'), type: field(request, 'type') };
    request.pageAt = where;
    const type = parseTokenType(where.type);
    const service = tokensOf(request);
    // What may be created is the core's decision; the page says why not in its words (no command).
    const refusal = async () => {
      const [records, { features }] = await Promise.all([service.list(), sessionAccount(request)]);
      const c = creatableTypes(records, features).find((x) => x.type === type)!;
      if (c.allowed) return null;
      // The same statuses as the use case's refusals: a premium feature 403, a full type 409.
      return c.reason === 'premium' ? new PermissionDeniedError(notCreatableReason(c)) : new TokenLimitReachedError(`${TYPE_LABELS[type]}: ${notCreatableReason(c)}`);
    };
    const refused = await refusal();
    if (refused) throw refused;
    where.field = 'name';
    const name = normalizeTokenName(where.name);
    let created;
    try {
      created = await service.create({ type, name });
    } catch (error) {
      // Another window took the last slot meanwhile: say so as the page does.
      if (error instanceof TokenLimitReachedError) {
        where.field = 'type';
        throw (await refusal()) ?? error;
      }
      throw error;
    }
    const { token, value } = created;
    request.log.info({ tokenId: token.id, type: token.type }, 'token created');
    if (!wantsJson(request)) return reply.redirect(listUrl(request, { notice: 'created', token: token.id }), 303);
    const now = app.clock.now();
    return reply.code(201).send({
      token: app.tokenView(token),
      value,
      pendingUntil: at(token.activatesAt),
      pendingNote: asSentence(`it is ${pendingAfterCreate(token, now)}`),
      ...(await changedList(request, notices.created(token, now))),
    });
  });

  app.post('/tokens/:id/copy', guarded, async (request, reply) => {
    const id = idParam(request);
    request.pageAt = { form: 'row', id };
    // A retrieval like `tokenctl get`: in the audit trail, and in the token's usage (who holds the value, from where),
    // recorded as the API's reveal records it (app.revealValue). The page has said first when it is pending.
    const { token, value } = await app.revealValue(request.webSession!.principal, id, { allowPending: true }, request.ip);
    request.log.info({ tokenId: token.id }, 'token value revealed');
    return reply.send({ token: app.tokenView(token), value });
  });

  app.post('/tokens/:id/rename', guarded, async (request, reply) => {
    if (cancelled(request, reply)) return reply;
    const id = idParam(request);
    request.pageAt = { form: 'rename', id, name: field(request, 'name') };
    const service = tokensOf(request);
    const before = (await service.list()).find((t) => t.id === id)?.name ?? null;
    const token = await service.rename(id, field(request, 'name'));
    request.log.info({ tokenId: token.id }, 'token renamed');
    if (!wantsJson(request)) return reply.redirect(listUrl(request, { notice: 'renamed', token: token.id }), 303);
    return reply.send({ token: app.tokenView(token), ...(await changedList(request, notices.renamed(token, before), false)) });
  });

  app.post('/tokens/:id/delete', guarded, async (request, reply) => {
    if (cancelled(request, reply)) return reply;
    const id = idParam(request);
    request.pageAt = { form: 'delete', id };
    // The phrase is checked again by the use case: a forged request without it deletes nothing.
    const token = await tokensOf(request).delete(id, field(request, 'confirmation'));
    request.log.info({ tokenId: token.id }, 'token deleted');
    if (!wantsJson(request)) return reply.redirect(listUrl(request, { notice: 'deleted', token: token.id }), 303);
    return reply.send({ token: app.tokenView(token), ...(await changedList(request, notices.deleted(token, app.clock.now()))) });
  });

  // ---- the guided replacement, on the rotation journal `tokenctl rotate` uses -----------------------------------
  app.post('/rotations', guarded, async (request, reply) => {
    const ref = field(request, 'ref');
    if (TOKEN_ID.test(ref)) request.pageAt = { form: 'row', id: ref };
    const service = tokensOf(request);
    const [records, rotations] = await Promise.all([service.list(), service.rotations()]);
    const old = records.find((t) => t.id === ref && t.deletedAt === null);
    if (old) {
      // Only what can work: a full type is said in words (which token to delete first), a replacement under way is continued.
      const path = replacementPath(records, rotations, old, app.clock.now());
      if (path.kind === 'continue') {
        const location = `/rotations/${path.rotation.id}`;
        return wantsJson(request) ? reply.send({ location }) : reply.redirect(location, 303);
      }
      if (path.kind === 'full') throw new TokenLimitReachedError(`cannot replace '${old.name}' now: ${replacementPathText(path, old, app.clock.now())}`);
    }
    const { rotation } = await service.startRotation(ref);
    request.log.info({ rotation: rotation.id }, 'rotation started');
    const location = `/rotations/${rotation.id}`;
    return wantsJson(request) ? reply.send({ location }) : reply.redirect(location, 303);
  });

  app.get('/rotations/:id', page, async (request, reply) => {
    if (!request.webSession) return reply.redirect('/', 303);
    return renderRotation(request, reply, idParam(request));
  });

  app.post('/rotations/:id/deliver', guarded, async (request, reply) => {
    const id = idParam(request);
    request.pageAt = { form: 'rotation', id, step: 'deliver' };
    // The page has no "exec": the value was handed to the admin, as `tokenctl rotate` prints it.
    await tokensOf(request).markRotationDelivered(id, 'stdout');
    return reply.redirect(`/rotations/${id}`, 303);
  });

  app.post('/rotations/:id/complete', guarded, async (request, reply) => {
    const id = idParam(request);
    request.pageAt = { form: 'rotation', id, step: 'complete' };
    await tokensOf(request).completeRotation(id, field(request, 'confirmation'));
    request.log.info({ rotation: id }, 'rotation completed');
    return reply.redirect(`/rotations/${id}`, 303);
  });

  app.post('/rotations/:id/abandon', guarded, async (request, reply) => {
    const id = idParam(request);
    request.pageAt = { form: 'rotation', id, step: 'abandon' };
    await tokensOf(request).abandonRotation(id, 'stopped from the Tokens page');
    return reply.redirect(`/rotations/${id}`, 303);
  });

  // ---- a token's usage (read only): who presents it, calls per day, retrievals -------------------------------------
  app.get('/tokens/:id/usage', page, async (request, reply) => {
    if (!request.webSession) return reply.redirect('/', 303);
    const id = idParam(request);
    const [viewer, records] = await Promise.all([viewerOf(request), tokensOf(request).list()]);
    // Deleted tokens too: whether one is still presented while it drains is what one asks after a rotation.
    const token = records.find((t) => t.id === id);
    if (!token) return send(reply, messagePage('No such token', 'This account has no such token.', viewer), 404);
    const usage = await app.usage.ofToken(request.webSession.principal.accountId, token.id);
    return send(reply, usagePage({ viewer, now: app.clock.now(), token: app.tokenView(token), usage }));
  });

  // ---- webhooks: the account's endpoints for signed notifications ---------------------------------------------------
  app.get<{ Querystring: Record<string, string | undefined> }>('/webhooks', page, async (request, reply) => {
    if (!request.webSession) return reply.redirect('/', 303);
    const q = request.query;
    const id = (x: string | undefined) => (typeof x === 'string' && WEBHOOK_ID.test(x) ? x : undefined);
    const notice = q.notice === 'removed' && id(q.endpoint) ? `Removed endpoint ${q.endpoint}: notifications no longer go to it.` : undefined;
    return renderWebhooks(request, reply, { notice, remove: id(q.remove) });
  });

  app.post('/webhooks', guarded, async (request, reply) => {
    const where: PageAt & { form: 'webhook-add' } = { form: 'webhook-add', field: 'events', url: field(request, 'url'), events: fieldValues(request, 'events'), description: field(request, 'description') };
    request.pageAt = where;
    // Checked in the order of their fields' refusals (core's rules); the URL's by the use case.
    const events = parseEventTypes(where.events);
    where.field = 'description';
    const description = normalizeWebhookDescription(where.description);
    where.field = 'url';
    const { webhook, secret } = await app.webhooks.add(request.webSession!.principal, { url: where.url, events, description });
    request.log.info({ webhook: webhook.id }, 'webhook endpoint added');
    // Without JavaScript, the answer to this POST is the only place the secret can be shown (never a URL, never again).
    if (!wantsJson(request)) return renderWebhooks(request, reply, { status: 201, created: { webhook, secret } });
    const [viewer, webhooks] = await Promise.all([viewerOf(request), app.webhooks.list(request.webSession!.principal)]);
    return reply.code(201).send({ webhook, secret, notice: `Added ${webhook.url}.`, html: { region: webhooksRegion({ viewer, now: app.clock.now(), webhooks }).text } });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/webhooks/:id', page, async (request, reply) => {
    if (!request.webSession) return reply.redirect('/', 303);
    const id = webhookIdParam(request);
    const principal = request.webSession.principal;
    const [viewer, webhooks] = await Promise.all([viewerOf(request), app.webhooks.list(principal)]);
    const webhook = webhooks.find((w) => w.id === id);
    if (!webhook) return send(reply, messagePage('No such endpoint', 'This account has no such webhook endpoint.', viewer), 404);
    const attempts = await app.webhooks.attempts(principal, id);
    // What Send test did: its first attempt, as the delivery log says it.
    const tested = typeof request.query.tested === 'string' && MESSAGE_ID.test(request.query.tested) ? request.query.tested : null;
    const attempt = tested ? attempts.find((a) => a.messageId === tested) : undefined;
    const notice = tested
      ? attempt
        ? asSentence(`test notification ${tested} (${TEST_NOTIFICATION_TYPE}): ${attemptResultText(attempt)}`)
        : `Test notification ${tested} (${TEST_NOTIFICATION_TYPE}) sent; not attempted yet. Reload this page to see its attempt.`
      : undefined;
    return send(reply, webhookLogPage({ viewer, now: app.clock.now(), webhook, attempts, notice, noticeFailed: attempt ? !attempt.ok : false }));
  });

  app.post('/webhooks/:id/test', guarded, async (request, reply) => {
    const id = webhookIdParam(request);
    request.pageAt = { form: 'webhook', id };
    const principal = request.webSession!.principal;
    const { messageId } = await app.webhooks.test(principal, id);
    request.log.info({ webhook: id }, 'webhook test sent');
    // The service attempts at once; the log page shows that attempt (a bounded, real wait: the attempt is real I/O).
    for (let waited = 0; waited < TEST_WAIT_MS; waited += 200) {
      if ((await app.webhooks.attempts(principal, id, 20)).some((a) => a.messageId === messageId)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return reply.redirect(`/webhooks/${id}?tested=${messageId}`, 303);
  });

  app.post('/webhooks/:id/remove', guarded, async (request, reply) => {
    if (cancelled(request, reply, '/webhooks')) return reply;
    const id = webhookIdParam(request);
    request.pageAt = { form: 'webhook', id };
    const webhook = await app.webhooks.remove(request.webSession!.principal, id);
    request.log.info({ webhook: webhook.id }, 'webhook endpoint removed');
    return reply.redirect(`/webhooks?notice=removed&endpoint=${webhook.id}`, 303);
  });

  // ---- security review and activity (read only) ------------------------------------------------------------------
  app.get<{ Querystring: { token?: string } }>('/activity', page, async (request, reply) => {
    if (!request.webSession) return reply.redirect('/', 303);
    const service = tokensOf(request);
    const [viewer, records, rotations, events] = await Promise.all([viewerOf(request), service.list(), service.rotations(), service.auditEvents()]);
    // What to do is named by the page's buttons (PAGE_ACTION), not by commands.
    const review = reviewTokens(records, rotations, events, { asOf: app.clock.now(), maxAgeDays: POLICY.staleAfterDays, withinDays: 30, command: PAGE_ACTION });
    const filter = typeof request.query.token === 'string' && ID.test(request.query.token) ? request.query.token : null;
    return send(reply, activityPage({ viewer, review, events, tokens: sortTokens(records).map(app.tokenView), tokenFilter: filter }));
  });
}
declarePlugin(tokensPageRoutes, 'tokens page', { plugins: ['service', 'errors'], decorators: { fastify: ['accounts', 'storage', 'clock', 'tokenView', 'usage', 'webhooks', 'revealValue'] } });
