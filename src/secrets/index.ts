// Everything that needs node:crypto, behind one dynamic import: commands that read metadata only (list) never
// load it, and the bundle gets one lazy chunk for it instead of several.
export * from './master-key.js';
export * from './opaque.js';
export * from './seal.js';
export * from './jwt.js';
