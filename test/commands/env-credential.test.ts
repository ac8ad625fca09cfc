import { afterEach, describe, expect, it } from 'vitest';
import { httpBackendFor } from '../../src/backends/http/select.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('TOKENCTL_SERVER + TOKENCTL_ADMIN_KEY (no saved login)', () => {
  it('a rejected key says what to fix, in one readable sentence, never the key', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount();
    const wrong = `${credential.slice(0, -4)}${credential.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const backend = httpBackendFor({ TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: wrong }, 'default')!;
    const error = await backend.list().then(
      () => null,
      (e: unknown) => e as Error & { kind: string },
    );
    expect(error?.kind).toBe('permission');
    expect(error!.message).not.toMatch(/log in again with: set/);
    expect(error!.message).not.toContain('\u0000');
    expect(error!.message).toMatch(/did not accept the credential; TOKENCTL_ADMIN_KEY \(from your environment, not a saved login\) must be an admin credential of this service: set it to a valid one$/);
    expect(error!.message).not.toContain(wrong);
    // The right key works through the same wrapper.
    const ok = httpBackendFor({ TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential }, 'default')!;
    expect((await ok.list()).map((t) => t.name)).toEqual(['default']);
  });
});
