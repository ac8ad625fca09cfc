import {
  BackendUnavailableError,
  PermissionDeniedError,
  StoreDataError,
  TokenctlError,
  TokenNotFoundError,
  UsageError,
} from '../../core/errors.js';
import { resolveToken, type TokenRecord } from '../../core/tokens.js';
import type { AuditEvent } from '../../core/audit.js';
import { isFeature, type AccountFeatures } from '../../core/features.js';
import type { RotationRecord } from '../../core/rotation.js';
import { errorParts, parseWire, SERVICE_CLOCK_HEADER, wire, type Infer, type Wire, type WireTokenView } from '../../api/wire.js';
import { learnedClock } from '../../core/clock.js';
import type { TokenUsage } from '../../core/usage.js';
import type {
  AccountKeys,
  AddWebhookInput,
  AuditVerification,
  CreateInput,
  InitInput,
  InitResult,
  RevealedToken,
  RotationStart,
  TokenBackend,
  WebhookAttemptInfo,
  WebhookInfo,
} from '../token-backend.js';

export interface HttpBackendOptions {
  /** The service's base URL, e.g. http://127.0.0.1:8787 (validated by parseServerUrl). */
  baseUrl: string;
  /** The admin credential, fetched on first use (keychain, file or environment); undefined: not logged in. */
  credential: () => Promise<string | undefined>;
  /** How to log in again, for messages ("tokenctl login --server URL --profile staging"). */
  loginHint: string;
  /** What to do about a missing or refused credential when there is no login to repeat (TOKENCTL_ADMIN_KEY). */
  credentialFix?: string;
  timeoutMs?: number;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 15_000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** Validates a service URL. Plain http is only for loopback: a credential must not cross a network in clear. */
export function parseServerUrl(text: string, env: Record<string, string | undefined> = {}): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new UsageError(`'${text.slice(0, 100)}' is not a URL; use e.g. https://tokens.example.com or http://127.0.0.1:8787`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the server URL must start with https:// (or http:// on this machine)`);
  if (url.username || url.password) throw new UsageError('put no credentials in the server URL; tokenctl login asks for them');
  if (url.search || url.hash) throw new UsageError('the server URL takes no query string or fragment');
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
  if (url.protocol === 'http:' && !loopback && env.TOKENCTL_ALLOW_INSECURE_HTTP !== '1') {
    throw new UsageError(
      `refusing plain http to ${url.host}: the admin credential would cross the network unencrypted. Use https://, or set TOKENCTL_ALLOW_INSECURE_HTTP=1 on a network you trust`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/**
 * The backend for a token service (tokenctl serve, or any service implementing api/openapi.yaml). Every rule is
 * the server's (it runs the same core); this client maps HTTP answers back to the same typed errors, so every
 * command prints the same messages and exits with the same codes on both backends.
 */
export class HttpBackend implements TokenBackend {
  readonly location: string;
  readonly tracksUsage = true;
  /** The service's clock, learned from the `Tokenctl-Now` of its answers (statuses are the service's decisions). */
  readonly clock = learnedClock();
  private readonly timeoutMs: number;

  constructor(private readonly opts: HttpBackendOptions) {
    this.location = opts.baseUrl;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  }

  private unreadable(): StoreDataError {
    return new StoreDataError(`the token service at ${this.location} sent an answer this tokenctl does not understand; check the URL points at a tokenctl service`);
  }

  /** The body as the operation's response schema (src/api/wire.ts) defines it; anything else is not understood. */
  private parsed<S>(schema: S, body: unknown): Infer<S> {
    const value = parseWire(schema, body);
    if (value === undefined) throw this.unreadable();
    return value;
  }

  private async call<S>(schema: S, method: string, path: string, body?: unknown): Promise<Infer<S>> {
    return this.parsed(schema, await this.request(method, path, body));
  }

  /** What the client keeps of a token: the facts; statuses are derived again with the core. */
  private static record(t: WireTokenView): TokenRecord {
    return { id: t.id, name: t.name, type: t.type, createdAt: t.createdAt, activatesAt: t.activatesAt, deletedAt: t.deletedAt, lastUsedAt: t.lastUsedAt, masked: t.masked };
  }

  private static revealed(body: Wire<'tokenWithValue'>): RevealedToken {
    return { token: HttpBackend.record(body.token), value: body.value };
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const credential = await this.opts.credential();
    if (!credential) {
      throw new TokenNotFoundError(`not logged in to the token service at ${this.location}; ${this.credentialFix('log in with')}`);
    }
    const url = `${this.location}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${credential}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        // A redirect could carry the credential elsewhere: never follow one.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw this.unreachable(cause);
    }
    const serviceNow = response.headers.get(SERVICE_CLOCK_HEADER);
    const at = serviceNow === null ? Number.NaN : Date.parse(serviceNow);
    if (Number.isFinite(at)) this.clock.learn(new Date(at));
    let text: string;
    try {
      text = await this.readBounded(response);
    } catch (cause) {
      if (cause instanceof TokenctlError) throw cause;
      throw this.unreachable(cause);
    }
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (response.ok) {
      if (parsed === undefined) throw this.unreadable();
      return parsed;
    }
    throw this.errorFrom(response, parsed);
  }

  /** The body, up to MAX_RESPONSE_BYTES: a broken or hostile server cannot make the CLI exhaust its memory. */
  private async readBounded(response: Response): Promise<string> {
    if (!response.body) return '';
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const chunk = read.value;
      size += chunk.byteLength;
      if (size > MAX_RESPONSE_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw new StoreDataError(`the server at ${this.location} sent more than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB; check that the URL points at a tokenctl token service`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private unreachable(cause: unknown): BackendUnavailableError {
    const name = cause instanceof Error ? cause.name : '';
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new BackendUnavailableError(`the token service at ${this.location} did not answer within ${this.timeoutMs >= 1000 ? `${Math.round(this.timeoutMs / 1000)} s` : `${this.timeoutMs} ms`}; try again later`, { cause });
    }
    const code = (cause as { cause?: { code?: string } })?.cause?.code;
    return new BackendUnavailableError(
      `cannot reach the token service at ${this.location}${code ? ` (${code})` : ''}; check the URL and that the service is running (tokenctl serve)`,
      { cause },
    );
  }

  private errorFrom(response: Response, body: unknown): TokenctlError {
    const { kind, message } = errorParts(body);
    const serverMessage = message?.slice(0, 500);
    const status = response.status;
    if (status === 401) {
      return new PermissionDeniedError(`the token service at ${this.location} did not accept the credential; ${this.credentialFix('log in again with')}`);
    }
    if (status === 403) return new PermissionDeniedError(serverMessage ?? 'only admins may manage tokens');
    if (status === 429) {
      const wait = response.headers.get('retry-after');
      return new PermissionDeniedError(`too many failed authentication attempts at ${this.location}${wait ? `; retry after ${wait} s` : ''}`);
    }
    if (status >= 300 && status < 400) {
      return new BackendUnavailableError(`the token service at ${this.location} answered with a redirect (HTTP ${status}); use the final URL`);
    }
    if (status >= 500) {
      return new BackendUnavailableError(`the token service at ${this.location} failed (HTTP ${status})${serverMessage ? `: ${serverMessage}` : ''}`);
    }
    if (kind && serverMessage) return new TokenctlError(kind, serverMessage);
    if (status === 413) return new UsageError(`the request was too large for the token service at ${this.location}`);
    // Not our error shape: another server (or a proxy's page) answered, not a tokenctl service.
    return new StoreDataError(
      `the server at ${this.location} answered HTTP ${status} without a tokenctl error; check that the URL points at a tokenctl token service`,
    );
  }

  /**
   * The URL path of a token. A name of exactly "." or ".." cannot travel as a path segment (URLs resolve dot
   * segments, even percent-encoded), so such a name is resolved to its id first, with the same core rule.
   */
  private async tokenPath(ref: string, suffix = ''): Promise<string> {
    const wanted = ref.trim();
    const id = wanted === '.' || wanted === '..' ? resolveToken(await this.list(), wanted).id : ref;
    return `/v1/tokens/${encodeURIComponent(id)}${suffix}`;
  }

  private credentialFix(lead: string): string {
    return this.opts.credentialFix ?? `${lead}: ${this.opts.loginHint}`;
  }

  async init(_input: InitInput): Promise<InitResult> {
    throw new UsageError(
      `accounts on a token service are created on the server: tokenctl server init --data <dir> --account <name>; then ${this.credentialFix('log in with')}`,
    );
  }

  /** From whoami: the features the service says the account has (those this tokenctl knows); none said: every one. */
  /** TOKENCTL_NOW's warning for a service is given when the backend is chosen (src/deps.ts); nothing more here. */
  async noticeBeforeChange(): Promise<void> {}

  async features(): Promise<AccountFeatures> {
    const { features } = (await this.whoami()).account;
    return features === undefined ? undefined : features.filter(isFeature);
  }

  async list(): Promise<TokenRecord[]> {
    return (await this.call(wire.tokenList, 'GET', '/v1/tokens')).tokens.map(HttpBackend.record);
  }

  async find(ref: string): Promise<TokenRecord> {
    return HttpBackend.record((await this.call(wire.oneToken, 'GET', await this.tokenPath(ref))).token);
  }

  async create(input: CreateInput): Promise<RevealedToken> {
    return HttpBackend.revealed(await this.call(wire.tokenWithValue, 'POST', '/v1/tokens', { type: input.type, name: input.name }));
  }

  async reveal(ref: string, options: { allowPending?: boolean } = {}): Promise<RevealedToken> {
    return HttpBackend.revealed(await this.call(wire.tokenWithValue, 'POST', await this.tokenPath(ref, '/reveal'), { allowPending: options.allowPending === true }));
  }

  async rename(ref: string, newName: string): Promise<TokenRecord> {
    return HttpBackend.record((await this.call(wire.oneToken, 'PATCH', await this.tokenPath(ref), { name: newName })).token);
  }

  async delete(ref: string, confirmation: string): Promise<TokenRecord> {
    return HttpBackend.record((await this.call(wire.oneToken, 'DELETE', await this.tokenPath(ref), { confirmation })).token);
  }

  async identify(value: string): Promise<TokenRecord | null> {
    const { token } = await this.call(wire.identified, 'POST', '/v1/identify', { value });
    return token === null ? null : HttpBackend.record(token);
  }

  // ---- rotation journal, audit trail, keys ---------------------------------------------------------------

  private rotationPath(rotationId: string, step: 'deliver' | 'complete' | 'abandon'): string {
    return `/v1/rotations/${encodeURIComponent(rotationId)}/${step}`;
  }

  async rotations(): Promise<RotationRecord[]> {
    return (await this.call(wire.rotationList, 'GET', '/v1/rotations')).rotations;
  }

  async startRotation(ref: string, input: { newName?: string }): Promise<RotationStart> {
    const body = await this.call(wire.rotationStarted, 'POST', '/v1/rotations', { ref, ...(input.newName === undefined ? {} : { newName: input.newName }) });
    return { rotation: body.rotation, old: HttpBackend.record(body.old), replacement: HttpBackend.revealed(body.replacement) };
  }

  async markRotationDelivered(rotationId: string, delivery: 'stdout' | 'exec'): Promise<RotationRecord> {
    return (await this.call(wire.oneRotation, 'POST', this.rotationPath(rotationId, 'deliver'), { delivery })).rotation;
  }

  async completeRotation(rotationId: string, confirmation: string): Promise<{ rotation: RotationRecord; old: TokenRecord }> {
    const body = await this.call(wire.rotationCompleted, 'POST', this.rotationPath(rotationId, 'complete'), { confirmation });
    return { rotation: body.rotation, old: HttpBackend.record(body.old) };
  }

  async abandonRotation(rotationId: string, reason: string): Promise<RotationRecord> {
    return (await this.call(wire.oneRotation, 'POST', this.rotationPath(rotationId, 'abandon'), { reason })).rotation;
  }

  async auditEvents(): Promise<AuditEvent[]> {
    // The wire leaves `action` open (a newer service may record actions this client does not know); the audit
    // review only acts on the actions it knows.
    return (await this.call(wire.auditEvents, 'GET', '/v1/audit/events')).events as AuditEvent[];
  }

  async verifyAuditTrail(): Promise<AuditVerification> {
    return this.call(wire.auditVerification, 'GET', '/v1/audit/verify');
  }

  async accountKeys(): Promise<AccountKeys> {
    return this.call(wire.accountKeys, 'GET', '/v1/account/keys');
  }

  // ---- usage and notifications ----------------------------------------------------------------------------

  async usage(ref: string): Promise<{ token: TokenRecord; usage: TokenUsage }> {
    const body = await this.call(wire.tokenUsage, 'GET', await this.tokenPath(ref, '/usage'));
    return { token: HttpBackend.record(body.token), usage: body.usage };
  }

  async usageOverview(): Promise<TokenUsage[]> {
    return (await this.call(wire.usageOverview, 'GET', '/v1/usage')).tokens;
  }

  private webhookPath(id: string, suffix = ''): string {
    return `/v1/webhooks/${encodeURIComponent(id.trim())}${suffix}`;
  }

  async webhooks(): Promise<WebhookInfo[]> {
    return (await this.call(wire.webhookList, 'GET', '/v1/webhooks')).webhooks;
  }

  async addWebhook(input: AddWebhookInput): Promise<{ webhook: WebhookInfo; secret: string }> {
    return this.call(wire.webhookCreated, 'POST', '/v1/webhooks', { url: input.url, events: input.events, ...(input.description === undefined ? {} : { description: input.description }) });
  }

  async removeWebhook(id: string): Promise<WebhookInfo> {
    return (await this.call(wire.oneWebhook, 'DELETE', this.webhookPath(id))).webhook;
  }

  async testWebhook(id: string): Promise<{ messageId: string }> {
    return this.call(wire.webhookTestSent, 'POST', this.webhookPath(id, '/test'));
  }

  async webhookAttempts(id: string): Promise<WebhookAttemptInfo[]> {
    return (await this.call(wire.webhookAttempts, 'GET', this.webhookPath(id, '/attempts'))).attempts;
  }

  /** Who the credential belongs to (login checks it with this). */
  async whoami(): Promise<Wire<'whoami'>> {
    return this.call(wire.whoami, 'GET', '/v1/whoami');
  }
}
