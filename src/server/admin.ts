// What `tokenctl server ...` loads: the data directory and the account and principal use cases, in one chunk.
export { openDataDir } from './storage-dir.js';
export { addPrincipal, initServiceAccount, listPrincipals, removePrincipal } from '../tokens/principals.js';
