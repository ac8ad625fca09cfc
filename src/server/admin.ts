// What `tokenctl server ...` loads: the data directory and the account and principal use cases, in one chunk.
export { openDataDir } from './data-dir.js';
export { accountSigning, addPrincipal, initServiceAccount, listPrincipals, removePrincipal, setSigningAlgorithm } from '../tokens/principals.js';
export { publicUrlFrom } from './public-url.js';
