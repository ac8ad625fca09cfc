// Moved to introspection/introspector.ts. Kept for test/server/verify-api-token.test.ts (not this change's file to
// edit); remove once that test imports '../../src/server/introspection/introspector.js'.
export { SigningKeyCache, verifyApiToken } from './introspection/introspector.js';
