import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { addressRefusal, checkedLookup, RefusedDestinationError, type DestinationPolicy } from './destination.js';

/**
 * One attempt to deliver a notification, signed as Standard Webhooks specifies (https://www.standardwebhooks.com):
 * `webhook-id` (the notification's id, the same on every attempt), `webhook-timestamp` (seconds, when the attempt is
 * made), `webhook-signature` (`v1,` and base64 of HMAC-SHA256 over `<id>.<timestamp>.<body>` under the secret's bytes).
 * Receivers verify them with the specification's libraries (the tests use the `standardwebhooks` package).
 */

const SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` and base64 of 32 random bytes (the specification takes 24 to 64). */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** The `webhook-signature` header of one attempt. */
export function webhookSignature(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

export interface Attempt {
  url: string;
  id: string;
  body: string;
  secret: string;
  /** Seconds since the epoch, by the real clock: receivers check it against theirs (a drill's clock would fail it). */
  timestampSeconds: number;
  timeoutMs: number;
  maxResponseBytes: number;
  policy: DestinationPolicy;
}

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  /** Why it failed, in words; never the URL (its query may hold a receiver's own secret) nor our secret. */
  error: string | null;
  ms: number;
}

const describe = (error: unknown, timeoutMs: number): string => {
  if (error instanceof RefusedDestinationError) return `refused: ${error.message}`;
  const e = error as NodeJS.ErrnoException & { name?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host does not resolve';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the host is unreachable';
    default:
      return e?.code?.startsWith('ERR_TLS') || e?.code?.includes('CERT') ? `TLS: ${e.code}` : `failed (${e?.code ?? e?.name ?? 'error'})`;
  }
};

/**
 * Sends one attempt: a POST with the body and the signature headers, bounded in time (connection included) and in what
 * is read of the answer; a redirect is never followed (it counts as a failure), and an address the policy refuses is
 * never connected to. A 2xx answer is a delivery.
 */
export function sendAttempt(a: Attempt): Promise<AttemptResult> {
  const started = performance.now();
  const done = (ok: boolean, status: number | null, error: string | null): AttemptResult => ({ ok, status, error, ms: performance.now() - started });
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(a.url);
    } catch {
      resolve(done(false, null, 'the URL is not valid'));
      return;
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    // An address in the URL itself is never looked up: it is checked here.
    if (isIP(host) !== 0) {
      const refusal = addressRefusal(host, a.policy);
      if (refusal) {
        resolve(done(false, null, `refused: ${refusal}`));
        return;
      }
    }
    const signal = AbortSignal.timeout(a.timeoutMs);
    const client = url.protocol === 'https:' ? https : http;
    let settled = false;
    const settle = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const req = client.request(
      url,
      {
        method: 'POST',
        agent: false,
        signal,
        lookup: checkedLookup(a.policy, url.protocol === 'http:'),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(a.body),
          'user-agent': 'tokenctl-webhooks',
          'webhook-id': a.id,
          'webhook-timestamp': String(a.timestampSeconds),
          'webhook-signature': webhookSignature(a.secret, a.id, a.timestampSeconds, a.body),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          // What a receiver answers is not needed: beyond the bound, stop reading (the status decided already).
          if (read > a.maxResponseBytes) res.destroy();
        });
        const finish = () => {
          if (status >= 200 && status < 300) settle(done(true, status, null));
          else if (status >= 300 && status < 400) settle(done(false, status, `redirect (HTTP ${status}) not followed: register the final URL`));
          else settle(done(false, status, `HTTP ${status}`));
        };
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', () => finish());
      },
    );
    req.on('error', (error) => settle(done(false, null, describe(error, a.timeoutMs))));
    req.end(a.body);
  });
}
