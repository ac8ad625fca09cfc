import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { reviewTokens } from '../../core/audit.js';
import { UsageError } from '../../core/errors.js';
import type { AccountFeatures } from '../../core/features.js';
import { isUnfinished } from '../../core/rotation.js';
import { deletionEffect, deletionEffectText } from '../../core/decisions.js';
import { ADMIN } from '../../core/roles.js';
import { parseTokenType, POLICY, sortTokens, type TokenView } from '../../core/tokens.js';
import type { Authenticator } from '../auth/authenticator.js';
import { classifyError, errorBody, sendErrorAnswer } from '../http/plugins/errors.js';
import { webSessions } from './sessions.js';
import { acceptFormBodies, declarePlugin } from '../http/plugins/shared.js';
import { PAGE_SCRIPT, PAGE_STYLE } from './assets.js';
import type { SafeHtml } from './html.js';
import { activityPage, at, messagePage, noAccessPage, rotationPage, signInPage, tokensPage, type Viewer } from './views.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route of the Tokens page (for browsers), not of the API: not in api/openapi.yaml. */
    page?: boolean;
  }
}

/** The policy, exactly: nothing but this service's own script, style and requests; no framing. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const PAGE_HEADERS: [string, string][] = [
  ['content-security-policy', PAGE_CSP],
  ['referrer-policy', 'no-referrer'],
  ['x-frame-options', 'DENY'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-origin'],
];


const NOTICES: Record<string, string> = {
  created: 'Token created. It is pending for 30 minutes; put it in place in your systems meanwhile.',
  renamed: 'Token renamed. Its value did not change.',
};

const SESSION_ENDED: Record<string, string> = {
  idle: 'Your session ended after 30 minutes without activity. Sign in again.',
  absolute: 'Your session ended after 12 hours. Sign in again.',
  'signed-out': 'You are signed out. Sign in again to manage tokens.',
};

/** A token or rotation id in a path. */
const ID = /^(tok|rot)_[0-9A-Za-z]{1,64}$/;

/** A form field as one string (a repeated or missing field is empty: nothing is guessed). */
function field(request: FastifyRequest, name: string): string {
  const body = request.body as Record<string, unknown> | undefined;
  const value = body && typeof body === 'object' ? body[name] : undefined;
  return typeof value === 'string' ? value : '';
}

const wantsJson = (request: FastifyRequest) => /application\/json/.test(String(request.headers.accept ?? ''));

function send(reply: FastifyReply, page: SafeHtml, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(page.text);
}

function idParam(request: FastifyRequest): string {
  const id = (request.params as { id?: string }).id ?? '';
  if (!ID.test(id)) throw new UsageError('no such token or replacement');
  return id;
}

/**
 * The Tokens page (issue 13): server-rendered HTML over the same token use cases as the API (`app.accounts.tokens`), in
 * its own encapsulated scope with its sessions, headers and error pages. Only admins get in; every state-changing
 * request carries the session's CSRF token and this service's Origin, or changes nothing (403). Values reach the
 * browser only as JSON answers to POSTs (copy, create): never in a page, a URL or the history.
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

  const renderTokens = async (request: FastifyRequest, reply: FastifyReply, extra: { notice?: string; error?: string; status?: number; showDeleted?: boolean } = {}) => {
    const service = app.accounts.tokens(request.webSession!.principal);
    const [{ viewer, features }, records, rotations] = await Promise.all([sessionAccount(request), service.list(), service.rotations()]);
    const now = app.clock.now();
    const tokens = sortTokens(records).map(app.tokenView);
    const review = reviewTokens(records, rotations, null, { asOf: now, maxAgeDays: POLICY.staleAfterDays, withinDays: 30 });
    const html = tokensPage({
      viewer,
      now,
      tokens,
      showDeleted: extra.showDeleted ?? false,
      rotations: rotations.filter(isUnfinished),
      review,
      // OneLink is premium (CONTRACT.md): offered only to an account that has the feature (core/features.ts).
      features,
      notice: extra.notice,
      error: extra.error,
    });
    return send(reply, html, extra.status);
  };

  const renderRotation = async (request: FastifyRequest, reply: FastifyReply, id: string, extra: { error?: string; status?: number } = {}) => {
    const service = app.accounts.tokens(request.webSession!.principal);
    const [viewer, rotations, records] = await Promise.all([viewerOf(request), service.rotations(), service.list()]);
    const rotation = rotations.find((r) => r.id === id);
    if (!rotation) return send(reply, messagePage('No such replacement', 'This account has no such replacement.', viewer), 404);
    const view = (tokenId: string): TokenView | null => {
      const t = records.find((x) => x.id === tokenId);
      return t ? app.tokenView(t) : null;
    };
    return send(reply, rotationPage({ viewer, now: app.clock.now(), rotation, old: view(rotation.oldTokenId), replacement: view(rotation.newTokenId), error: extra.error }), extra.status);
  };

  const signIn = (request: FastifyRequest, reply: FastifyReply, extra: { error?: string; message?: string; status?: number } = {}) => {
    const ended = request.webSessionEnded;
    const message = extra.message ?? (ended ? SESSION_ENDED[ended] : undefined);
    return send(reply, signInPage({ csrf: app.webSessions.signInToken(request, reply), error: extra.error, message }), extra.status);
  };

  app.setErrorHandler(async (error: unknown, request, reply) => {
    const answer = classifyError(error, { bodyLimit: app.initialConfig.bodyLimit ?? 0, requests: wantsJson(request) ? 'json' : 'form' });
    if (wantsJson(request)) return sendErrorAnswer(request, reply, error, answer);
    if (answer.log) request.log.error({ err: error }, answer.log);
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    const { status, message } = answer;
    if (!request.webSession || status >= 500) return send(reply, messagePage('Something went wrong', message), status);
    try {
      // A refused change (a taken name, a full type, a pending replacement): the page again, saying why.
      const rotation = /^\/rotations\/(rot_[0-9A-Za-z]+)/.exec(request.url)?.[1];
      if (rotation) return await renderRotation(request, reply, rotation, { error: message, status });
      return await renderTokens(request, reply, { error: message, status });
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
      if (wantsJson(request)) return reply.code(401).send(errorBody('permission', 'your session ended; sign in again'));
      return signIn(request, reply, { status: 401, message: SESSION_ENDED['signed-out'] });
    }
    if (!app.webSessions.isGenuine(request, field(request, '_csrf'), 'session')) {
      const message = 'this request did not come from the Tokens page (its CSRF token or origin is missing or wrong); nothing was changed';
      if (wantsJson(request)) return reply.code(403).send(errorBody('permission', message));
      return send(reply, messagePage('Request refused', message), 403);
    }
    return undefined;
  };
  const guarded = { ...page, preHandler: guard };

  // ---- static files -------------------------------------------------------------------------------------------
  for (const asset of [PAGE_SCRIPT, PAGE_STYLE]) {
    app.get(asset.path, page, async (_request, reply) =>
      // Named by content, so cacheable for good; they hold nothing secret.
      reply.header('cache-control', 'public, max-age=31536000, immutable').type(asset.contentType).send(asset.body),
    );
  }
  app.get('/favicon.ico', page, async (_request, reply) => reply.header('cache-control', 'public, max-age=86400').code(204).send());

  // ---- signing in and out -------------------------------------------------------------------------------------
  app.get<{ Querystring: { deleted?: string; notice?: string; token?: string } }>('/', page, async (request, reply) => {
    if (!request.webSession) return signIn(request, reply);
    let notice = request.query.notice ? NOTICES[request.query.notice] : undefined;
    if (request.query.notice === 'deleted' && typeof request.query.token === 'string' && ID.test(request.query.token)) {
      // What the deletion did, as the core decides it (a pending token never becomes active; an active one drains).
      const deleted = (await app.accounts.tokens(request.webSession.principal).list()).find((t) => t.id === request.query.token && t.deletedAt !== null);
      if (deleted) notice = `Deleted ${deleted.name}. ${deletionEffectText(deletionEffect(deleted, app.clock.now()), 'did')}`;
    }
    return renderTokens(request, reply, { notice, showDeleted: request.query.deleted === '1' });
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
    const type = parseTokenType(field(request, 'type'));
    const { token, value } = await app.accounts.tokens(request.webSession!.principal).create({ type, name: field(request, 'name') });
    request.log.info({ tokenId: token.id, type: token.type }, 'token created');
    if (!wantsJson(request)) return reply.redirect('/?notice=created', 303);
    return reply.code(201).send({ token: app.tokenView(token), value, pendingUntil: at(token.activatesAt) });
  });

  app.post('/tokens/:id/copy', guarded, async (request, reply) => {
    // A retrieval like `tokenctl get`, recorded in the audit trail; the page has said first when it is pending.
    const { token, value } = await app.accounts.tokens(request.webSession!.principal).reveal(idParam(request), { allowPending: true });
    request.log.info({ tokenId: token.id }, 'token value revealed');
    return reply.send({ token: app.tokenView(token), value });
  });

  app.post('/tokens/:id/rename', guarded, async (request, reply) => {
    const token = await app.accounts.tokens(request.webSession!.principal).rename(idParam(request), field(request, 'name'));
    request.log.info({ tokenId: token.id }, 'token renamed');
    return reply.redirect('/?notice=renamed', 303);
  });

  app.post('/tokens/:id/delete', guarded, async (request, reply) => {
    // The phrase is checked again by the use case: a forged request without it deletes nothing.
    const token = await app.accounts.tokens(request.webSession!.principal).delete(idParam(request), field(request, 'confirmation'));
    request.log.info({ tokenId: token.id }, 'token deleted');
    return reply.redirect(`/?notice=deleted&token=${token.id}`, 303);
  });

  // ---- the guided replacement, on the rotation journal `tokenctl rotate` uses -----------------------------------
  app.post('/rotations', guarded, async (request, reply) => {
    const { rotation } = await app.accounts.tokens(request.webSession!.principal).startRotation(field(request, 'ref'));
    request.log.info({ rotation: rotation.id }, 'rotation started');
    return reply.redirect(`/rotations/${rotation.id}`, 303);
  });

  app.get('/rotations/:id', page, async (request, reply) => {
    if (!request.webSession) return reply.redirect('/', 303);
    return renderRotation(request, reply, idParam(request));
  });

  app.post('/rotations/:id/deliver', guarded, async (request, reply) => {
    const id = idParam(request);
    // The page has no "exec": the value was handed to the admin, as `tokenctl rotate` prints it.
    await app.accounts.tokens(request.webSession!.principal).markRotationDelivered(id, 'stdout');
    return reply.redirect(`/rotations/${id}`, 303);
  });

  app.post('/rotations/:id/complete', guarded, async (request, reply) => {
    const id = idParam(request);
    await app.accounts.tokens(request.webSession!.principal).completeRotation(id, field(request, 'confirmation'));
    request.log.info({ rotation: id }, 'rotation completed');
    return reply.redirect(`/rotations/${id}`, 303);
  });

  app.post('/rotations/:id/abandon', guarded, async (request, reply) => {
    const id = idParam(request);
    await app.accounts.tokens(request.webSession!.principal).abandonRotation(id, 'stopped from the Tokens page');
    return reply.redirect(`/rotations/${id}`, 303);
  });

  // ---- security review and activity (read only) ------------------------------------------------------------------
  app.get<{ Querystring: { token?: string } }>('/activity', page, async (request, reply) => {
    if (!request.webSession) return reply.redirect('/', 303);
    const service = app.accounts.tokens(request.webSession.principal);
    const [viewer, records, rotations, events] = await Promise.all([viewerOf(request), service.list(), service.rotations(), service.auditEvents()]);
    const review = reviewTokens(records, rotations, events, { asOf: app.clock.now(), maxAgeDays: POLICY.staleAfterDays, withinDays: 30 });
    const filter = typeof request.query.token === 'string' && ID.test(request.query.token) ? request.query.token : null;
    return send(reply, activityPage({ viewer, review, events, tokens: sortTokens(records).map(app.tokenView), tokenFilter: filter }));
  });
}
declarePlugin(tokensPageRoutes, 'tokens page', { plugins: ['service', 'errors'], decorators: { fastify: ['accounts', 'storage', 'clock', 'tokenView'] } });
