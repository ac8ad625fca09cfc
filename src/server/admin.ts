// What `tokenctl server ...` loads: the data directory and the account and principal use cases, in one chunk.
export { openDataDir } from './data-dir.js';
export { addPrincipal, initServiceAccount, listPrincipals, removePrincipal } from '../tokens/principals.js';
