import { FileBackend } from '../../src/backends/file/file-backend.js';
import { manualClock } from '../../src/core/clock.js';
import { describeBackendContract } from './backend-contract.js';
import { newMasterKeyB64, tempHome } from '../helpers/env.js';
import path from 'node:path';

describeBackendContract('file', async () => {
  const home = tempHome();
  const clock = manualClock('2026-03-01T10:00:00.000Z');
  const backend = new FileBackend({
    dir: path.join(home, 'profiles', 'default'),
    clock,
    env: { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off' },
    warn: () => undefined,
  });
  return {
    backend,
    clock,
    initAccount: async (opts) => {
      await backend.init({ accountName: 'acme', defaultToken: opts?.defaultToken ?? true });
    },
  };
});
