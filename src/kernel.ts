// The modules almost every command needs. Nothing imports this file in the source: the build adds an import of
// it to every lazily loaded module (scripts/build.mjs), so that these modules share one chunk instead of a
// dozen tiny ones, each of which the ESM loader would resolve and read separately at every start.
import './core/errors.js';
import './core/names.js';
import './core/format.js';
import './core/tokens.js';
import './core/clock.js';
import './core/rotation.js';
import './core/audit.js';
import './core/audit-chain.js';
import './ui/sanitize.js';
import './config/paths.js';
import './config/profiles-read.js';
import './fs/private-files.js';
import './secrets/key-source.js';
import './secrets/child-env.js';
