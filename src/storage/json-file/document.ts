import { StoreDataError } from '../../core/errors.js';
import { FEATURES, isFeature, type Feature } from '../../core/features.js';
import { isValidStoredName, nameKey } from '../../core/names.js';
import { isLive, isOverTypeLimit, isTokenType, POLICY, slotHolders, TOKEN_TYPES } from '../../core/tokens.js';
import { KEY_SOURCES, type KeySource } from '../../secrets/key-source.js';
import { isUnfinished, ROTATION_STATES, type RotationRecord } from '../../core/rotation.js';
import type { ChainHead } from '../../core/audit-chain.js';
import type { StoredToken } from '../port.js';

/** The local store: one JSON document per account, schema-versioned and validated on every load. */
export const STORE_FORMAT = 'tokenctl-store';
export const STORE_VERSION = 1;

export interface DocumentAccount {
  id: string;
  name: string;
  createdAt: string;
  /** Premium features (core/features.ts). Absent, as in every store tokenctl writes: all of them (the owner's store). */
  features?: readonly Feature[];
  signingKey: {
    kid: string;
    alg: 'EdDSA';
    publicJwk: { kty: 'OKP'; crv: 'Ed25519'; x: string };
    /** Sealed PKCS#8 PEM. */
    privateKey: string;
  };
}

export interface StoreDocument {
  format: typeof STORE_FORMAT;
  version: typeof STORE_VERSION;
  keySource: KeySource;
  keyCheck: string;
  account: DocumentAccount;
  tokens: StoredToken[];
  /** The rotation journal (see core/rotation.ts). */
  rotations: RotationRecord[];
  /** The last event of the audit trail, so a trail cut short is detected. */
  auditHead: ChainHead | null;
  /** Created under TOKENCTL_NOW (a drill): its times are the drill's. Absent for a real store. */
  drill?: true;
}

type Json = Record<string, unknown>;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SEALED = /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

class Invalid extends Error {}
/** Well-formed, but against the store's own rules (a hand edit, say). */
class Broken extends Invalid {}

function obj(v: unknown, at: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Invalid(`${at} is not an object`);
  return v as Json;
}
function str(o: Json, key: string, at: string, re?: RegExp): string {
  const v = o[key];
  if (typeof v !== 'string' || (re && !re.test(v))) throw new Invalid(`${at}.${key} is missing or malformed`);
  return v;
}
function isoOrNull(o: Json, key: string, at: string): string | null {
  return o[key] === null ? null : str(o, key, at, ISO);
}

function validateRotation(v: unknown, at: string): RotationRecord {
  const o = obj(v, at);
  const type = str(o, 'type', at);
  const state = str(o, 'state', at);
  const delivery = o.delivery;
  if (!isTokenType(type)) throw new Invalid(`${at}.type is not a token type`);
  if (!(ROTATION_STATES as readonly string[]).includes(state)) throw new Invalid(`${at}.state is unknown`);
  if (delivery !== null && delivery !== 'stdout' && delivery !== 'exec') throw new Invalid(`${at}.delivery is unknown`);
  return {
    id: str(o, 'id', at, ID),
    oldTokenId: str(o, 'oldTokenId', at, ID),
    newTokenId: str(o, 'newTokenId', at, ID),
    type,
    state: state as RotationRecord['state'],
    startedAt: str(o, 'startedAt', at, ISO),
    deliveredAt: isoOrNull(o, 'deliveredAt', at),
    completedAt: isoOrNull(o, 'completedAt', at),
    delivery,
    note: o.note === null ? null : str(o, 'note', at),
  };
}

function validateToken(v: unknown, at: string): StoredToken {
  const o = obj(v, at);
  const type = str(o, 'type', at);
  if (!isTokenType(type)) throw new Invalid(`${at}.type is not a token type`);
  const name = str(o, 'name', at);
  if (!isValidStoredName(name)) throw new Invalid(`${at}.name is not a valid token name`);
  const token: StoredToken = {
    id: str(o, 'id', at, ID),
    name,
    type,
    createdAt: str(o, 'createdAt', at, ISO),
    activatesAt: str(o, 'activatesAt', at, ISO),
    deletedAt: isoOrNull(o, 'deletedAt', at),
    lastUsedAt: isoOrNull(o, 'lastUsedAt', at),
    masked: str(o, 'masked', at, /^[A-Za-z0-9_]{1,16}…[A-Za-z0-9_-]{4}$/),
    fingerprint: str(o, 'fingerprint', at, /^[A-Za-z0-9_-]{43}$/),
    secret: o.secret === null ? null : str(o, 'secret', at, SEALED),
  };
  if (token.deletedAt === null && token.secret === null) throw new Invalid(`${at} is live but has no value`);
  return token;
}

/** Parses and validates a store document; anything unexpected is a data error and nothing is changed. */
export function parseStore(text: string, where: string): StoreDocument {
  try {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new Invalid('it is not valid JSON (truncated or corrupt?)');
    }
    const o = obj(raw, 'store');
    if (o.format !== STORE_FORMAT) throw new Invalid('it is not a tokenctl store');
    if (o.version !== STORE_VERSION) {
      throw new Invalid(`its schema version ${JSON.stringify(o.version)} is not supported by this tokenctl (expects ${STORE_VERSION}); upgrade tokenctl`);
    }
    const keySource = str(o, 'keySource', 'store');
    if (!(KEY_SOURCES as readonly string[]).includes(keySource)) throw new Invalid('store.keySource is unknown');
    const a = obj(o.account, 'store.account');
    const k = obj(a.signingKey, 'store.account.signingKey');
    const jwk = obj(k.publicJwk, 'store.account.signingKey.publicJwk');
    if (k.alg !== 'EdDSA' || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw new Invalid('store.account.signingKey is not an Ed25519 key');
    const account: DocumentAccount = {
      id: str(a, 'id', 'store.account', ID),
      name: str(a, 'name', 'store.account'),
      createdAt: str(a, 'createdAt', 'store.account', ISO),
      signingKey: {
        kid: str(k, 'kid', 'store.account.signingKey', ID),
        alg: 'EdDSA',
        publicJwk: { kty: 'OKP', crv: 'Ed25519', x: str(jwk, 'x', 'store.account.signingKey.publicJwk', /^[A-Za-z0-9_-]{43}$/) },
        privateKey: str(k, 'privateKey', 'store.account.signingKey', SEALED),
      },
    };
    if (!isValidStoredName(account.name)) throw new Invalid('store.account.name is not a valid name');
    if (a.features !== undefined) {
      if (!Array.isArray(a.features) || !a.features.every((f) => typeof f === 'string' && isFeature(f))) throw new Invalid('store.account.features is malformed');
      account.features = FEATURES.filter((f) => (a.features as string[]).includes(f));
    }
    if (!Array.isArray(o.tokens)) throw new Invalid('store.tokens is not a list');
    const tokens = o.tokens.map((t, i) => validateToken(t, `store.tokens[${i}]`));
    if (new Set(tokens.map((t) => t.id)).size !== tokens.length) throw new Invalid('store.tokens has duplicate ids');
    if (!Array.isArray(o.rotations)) throw new Invalid('store.rotations is not a list');
    const rotations = o.rotations.map((r, i) => validateRotation(r, `store.rotations[${i}]`));
    let auditHead: ChainHead | null = null;
    if (o.auditHead !== null) {
      const h = obj(o.auditHead, 'store.auditHead');
      if (!Number.isInteger(h.seq) || (h.seq as number) < 1) throw new Invalid('store.auditHead.seq is malformed');
      auditHead = { seq: h.seq as number, mac: str(h, 'mac', 'store.auditHead', /^[A-Za-z0-9_-]{43}$/) };
    }
    if (o.drill !== undefined && o.drill !== true) throw new Invalid('store.drill is malformed');
    checkInvariants(tokens, rotations);
    return {
      format: STORE_FORMAT,
      version: STORE_VERSION,
      keySource: keySource as KeySource,
      keyCheck: str(o, 'keyCheck', 'store', /^[A-Za-z0-9_-]{43}$/),
      account,
      tokens,
      rotations,
      auditHead,
      ...(o.drill === true ? { drill: true as const } : {}),
    };
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    if (error instanceof Broken) {
      throw new StoreDataError(`the token store ${where} breaks its own rules: ${error.message}. It was left untouched; undo the hand edit or restore it from a backup`);
    }
    throw new StoreDataError(`the token store ${where} is unreadable: ${error.message}. It was left untouched; restore it from a backup`);
  }
}

export function serializeStore(doc: StoreDocument): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

/**
 * The store's own rules, checked on load like its shape: a hand-edited (or damaged) document that breaks them is
 * refused, not listed as if it were fine. The rules are the core's: POLICY's limit per type, names unique ignoring
 * case (nameKey), a rotation between two existing tokens of its type, at most one unfinished rotation per token.
 */
function checkInvariants(tokens: readonly StoredToken[], rotations: readonly RotationRecord[]): void {
  const byId = new Map(tokens.map((t) => [t.id, t]));
  for (const type of TOKEN_TYPES) {
    if (isOverTypeLimit(slotHolders(tokens, type))) throw new Broken(`it has more than ${POLICY.maxLivePerType} live ${type} tokens (at most ${POLICY.maxLivePerType} are allowed)`);
  }
  const liveNames = new Map<string, string>();
  tokens.forEach((t, i) => {
    const at = `store.tokens[${i}]`;
    if (Date.parse(t.activatesAt) < Date.parse(t.createdAt)) throw new Broken(`${at} activates before it was created`);
    if (t.deletedAt !== null && Date.parse(t.deletedAt) < Date.parse(t.createdAt)) throw new Broken(`${at} was deleted before it was created`);
    if (!isLive(t)) return;
    const key = nameKey(t.name);
    const other = liveNames.get(key);
    if (other !== undefined) throw new Broken(`two live tokens have the same name (ignoring case): ${JSON.stringify(other)} and ${JSON.stringify(t.name)}`);
    liveNames.set(key, t.name);
  });
  if (new Set(rotations.map((r) => r.id)).size !== rotations.length) throw new Broken('store.rotations has duplicate ids');
  const unfinishedOf = new Set<string>();
  rotations.forEach((r, i) => {
    const at = `store.rotations[${i}]`;
    for (const [role, id] of [['old', r.oldTokenId], ['new', r.newTokenId]] as const) {
      const t = byId.get(id);
      if (!t) throw new Broken(`${at} points at a missing ${role} token ${id}`);
      if (t.type !== r.type) throw new Broken(`${at} is a ${r.type} rotation but its ${role} token ${id} is of type ${t.type}`);
    }
    if (r.oldTokenId === r.newTokenId) throw new Broken(`${at} replaces a token with itself`);
    if (isUnfinished(r)) {
      for (const id of [r.oldTokenId, r.newTokenId]) {
        if (unfinishedOf.has(id)) throw new Broken(`token ${id} takes part in two unfinished rotations`);
        unfinishedOf.add(id);
      }
    }
  });
}
