// Where notifications may go, and one attempt's bounds: the operator's allowed networks, addresses checked after the
// name is resolved (the connection goes to a checked address), no redirect, a bounded answer.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { addressRefusal, destinationPolicy, PUBLIC_ONLY } from '../../../src/server/notify/destination.js';
import { newWebhookSecret, sendAttempt, webhookSignature } from '../../../src/server/notify/sender.js';

async function server(handler: http.RequestListener): Promise<{ port: number; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const s = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { port: (s.address() as AddressInfo).port, hits: () => hits, close: () => new Promise((resolve) => (s.closeAllConnections(), s.close(() => resolve()))) };
}

const attempt = (url: string, policy = destinationPolicy(['loopback']), timeoutMs = 2_000) =>
  sendAttempt({ url, id: 'msg_1', body: '{"type":"webhook.test"}', secret: newWebhookSecret(), timestampSeconds: Math.floor(Date.now() / 1000), timeoutMs, maxResponseBytes: 64 * 1024, policy });

describe('destinations', () => {
  it('refuses what is not public unless the operator allows it; reserved addresses always', () => {
    const loopback = destinationPolicy(['loopback']);
    const mixed = destinationPolicy(['private', '100.64.0.0/10', 'fd00::/8', '169.254.10.0/24']);
    expect(addressRefusal('93.184.215.14', PUBLIC_ONLY)).toBeNull();
    expect(addressRefusal('2606:2800:21f:cb07:6820:80da:af6b:8b2c', PUBLIC_ONLY)).toBeNull();
    expect(addressRefusal('127.0.0.1', PUBLIC_ONLY)).toMatch(/loopback address; the service's operator has not allowed it \(serve --webhook-allow loopback\)/);
    expect(addressRefusal('127.0.0.1', loopback)).toBeNull();
    expect(addressRefusal('::1', loopback)).toBeNull();
    expect(addressRefusal('::ffff:127.0.0.1', PUBLIC_ONLY)).toMatch(/loopback/);
    expect(addressRefusal('10.1.2.3', loopback)).toMatch(/private address/);
    expect(addressRefusal('10.1.2.3', mixed)).toBeNull();
    expect(addressRefusal('fd12::1', mixed)).toBeNull();
    expect(addressRefusal('169.254.169.254', mixed)).toMatch(/link-local address/); // the metadata service: not in the allowed /24
    expect(addressRefusal('169.254.10.7', mixed)).toBeNull();
    expect(addressRefusal('0.0.0.0', destinationPolicy(['0.0.0.0/0']))).toMatch(/reserved address/);
    expect(addressRefusal('224.0.0.1', PUBLIC_ONLY)).toMatch(/reserved/);
    expect(() => destinationPolicy(['loopbak'])).toThrow(/--webhook-allow: 'loopbak' is not loopback, private, link-local, an address or a CIDR range/);
    expect(() => destinationPolicy(['10.0.0.0/33'])).toThrow(/CIDR/);
  });

  it('checks the addresses a name resolves to at every attempt: a refused one is never connected to', async () => {
    const receiver = await server((_req, res) => res.end('ok'));
    try {
      const byName = await attempt(`http://localhost:${receiver.port}/hook`, PUBLIC_ONLY);
      expect(byName).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/^refused: .*loopback address/) });
      const byAddress = await attempt(`http://127.0.0.1:${receiver.port}/hook`, PUBLIC_ONLY);
      expect(byAddress.error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
      expect(receiver.hits()).toBe(0);
      expect(await attempt(`http://localhost:${receiver.port}/hook`)).toMatchObject({ ok: true, status: 200 });
      expect(receiver.hits()).toBe(1);
    } finally {
      await receiver.close();
    }
  });

  it('reads a bounded part of the answer, follows no redirect, and gives up after its time', async () => {
    const huge = await server((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 120);
      let sent = 0;
      const more = () => {
        while (sent < 200 && res.write(chunk)) sent++;
        if (sent < 200) res.once('drain', more);
        else res.end();
      };
      more();
    });
    const target = await server((_req, res) => res.end('ok'));
    const redirect = await server((_req, res) => res.writeHead(307, { location: `http://127.0.0.1:${target.port}/` }).end());
    const silent = await server(() => undefined);
    try {
      const t0 = performance.now();
      expect(await attempt(`http://127.0.0.1:${huge.port}/`)).toMatchObject({ ok: true, status: 200 });
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(await attempt(`http://127.0.0.1:${redirect.port}/`)).toMatchObject({ ok: false, status: 307, error: 'redirect (HTTP 307) not followed: register the final URL' });
      expect(target.hits()).toBe(0);
      expect(await attempt(`http://127.0.0.1:${silent.port}/`, undefined, 300)).toMatchObject({ ok: false, status: null, error: 'no answer within 0.3 s' });
    } finally {
      await Promise.all([huge.close(), target.close(), redirect.close(), silent.close()]);
    }
  });

  it("signs as the Standard Webhooks reference implementation does", () => {
    const secret = newWebhookSecret();
    const at = new Date('2026-03-01T10:00:00Z');
    const body = '{"type":"token.created"}';
    expect(webhookSignature(secret, 'msg_1', at.getTime() / 1000, body)).toBe(new Webhook(secret).sign('msg_1', at, body));
  });
});
