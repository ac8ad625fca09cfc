import { rm } from 'node:fs/promises';
import path from 'node:path';
import { JsonFileStorage } from '../../src/storage/json-file/json-file-storage.js';
import { newMasterKeyB64, tempHome } from '../helpers/env.js';
import { describeStorageContract } from './storage-contract.js';

describeStorageContract('JSON file', async () => {
  const home = tempHome();
  const env = { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off' };
  const dir = path.join(home, 'profiles', 'default');
  return {
    open: async () => new JsonFileStorage({ dir, env, warn: () => undefined }),
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
});
