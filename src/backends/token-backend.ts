import type { Clock } from '../core/clock.js';
import type { TokenRecord, TokenType } from '../core/tokens.js';
import type { RotationRecord } from '../core/rotation.js';
import type { AuditEvent } from '../core/audit.js';
import type { AccountFeatures } from '../core/features.js';
import type { VerifyResult as AuditVerification } from '../core/audit-chain.js';
import type { AccountKeys, RevealedToken, RotationStart } from '../tokens/token-service.js';
import type { TokenUsage } from '../core/usage.js';
import type { WireWebhook } from '../api/wire.js';

/**
 * The one interface every backend implements (the local encrypted file store, the HTTP client). Both pass the
 * same contract suite (test/contract). Token references are a name or an id; backends resolve them inside
 * their own transaction, so a name cannot point at another token between lookup and change.
 */
export interface AccountInfo {
  id: string;
  name: string;
  createdAt: string;
}

export interface InitInput {
  accountName: string;
  defaultToken: boolean;
}

export interface InitResult {
  account: AccountInfo;
  tokens: TokenRecord[];
}

export interface CreateInput {
  type: TokenType;
  name: string;
}

export type { RevealedToken, RotationStart, AccountKeys } from '../tokens/token-service.js';
export type { VerifyResult as AuditVerification } from '../core/audit-chain.js';

/** A webhook endpoint of the account, as the service shows it (never its secret). */
export type WebhookInfo = WireWebhook;
/** One attempt of the endpoint's delivery log. */
export type WebhookAttemptInfo = NonNullable<WireWebhook['deliveries']['lastAttempt']>;

export interface AddWebhookInput {
  url: string;
  /** Event types; none: every event. */
  events: string[];
  description?: string;
}

export interface TokenBackend {
  /** Where the tokens live, for messages ("/home/me/.config/tokenctl/profiles/default"). */
  readonly location: string;
  /**
   * The clock this backend's statuses are decided by, and so shown by: the command's own for a local store (a drill's
   * TOKENCTL_NOW), the token service's for a service (learned from its answers). Commands compute what they show
   * (pending, draining, stale, a rotation's step) by it, never by their own clock.
   */
  readonly clock: Clock;
  /** Whether this backend sees tokens in use (lastUsedAt): a service does, a local store cannot. */
  readonly tracksUsage: boolean;
  init(input: InitInput): Promise<InitResult>;
  /**
   * Says now (on stderr) what the next change will record that the user should know before confirming it: a drill's
   * TOKENCTL_NOW writing into a store not made in a drill, on the local store. Commands call it before a prompt whose
   * answer makes a change, so the warning never comes after the typed confirmation. A service: nothing to say.
   */
  noticeBeforeChange(): Promise<void>;
  /**
   * The account's premium features (core/features.ts), so that a command offers only the token types the account
   * may create; undefined: every feature (a local store is its owner's, a service older than features says none).
   */
  features(): Promise<AccountFeatures>;
  /** Every token, deleted ones included; callers filter and derive statuses with the core. */
  list(): Promise<TokenRecord[]>;
  find(ref: string): Promise<TokenRecord>;
  create(input: CreateInput): Promise<RevealedToken>;
  /** The value of a live token; a pending one only with allowPending (else TokenPendingError). */
  reveal(ref: string, options?: { allowPending?: boolean }): Promise<RevealedToken>;
  rename(ref: string, newName: string): Promise<TokenRecord>;
  /** `confirmation` must be the spec's phrase; backends check it again (defense in depth). */
  delete(ref: string, confirmation: string): Promise<TokenRecord>;
  /**
   * Which token of this account has exactly this value (deleted ones included)? Matched by keyed
   * fingerprint, so nothing is revealed; null when none. Offline format checks are the caller's.
   */
  identify(value: string): Promise<TokenRecord | null>;

  // Rotation journal (core/rotation.ts): each step is one atomic change, recorded in the audit trail.
  rotations(): Promise<RotationRecord[]>;
  /** Checks a slot is free, creates the replacement and records the journal entry, atomically. */
  startRotation(ref: string, input: { newName?: string }): Promise<RotationStart>;
  markRotationDelivered(rotationId: string, delivery: 'stdout' | 'exec'): Promise<RotationRecord>;
  /** Deletes the old token once the replacement is active, and closes the journal entry, atomically. */
  completeRotation(rotationId: string, confirmation: string): Promise<{ rotation: RotationRecord; old: TokenRecord }>;
  abandonRotation(rotationId: string, reason: string): Promise<RotationRecord>;

  // The audit trail: every change and retrieval, chained so that tampering is detected.
  auditEvents(): Promise<AuditEvent[]>;
  verifyAuditTrail(): Promise<AuditVerification>;
  accountKeys(): Promise<AccountKeys>;

  // Who still depends on a token (core/usage.ts): a service records calls; a local store knows only its retrievals.
  /** A token's usage; a deleted token too (by id, or its latest name). */
  usage(ref: string): Promise<{ token: TokenRecord; usage: TokenUsage }>;
  /** The usage of every token with use recorded (the drain watch of `audit`). */
  usageOverview(): Promise<TokenUsage[]>;

  // Signed notifications (Standard Webhooks): sent by the token service only; a local store refuses them (usage error).
  webhooks(): Promise<WebhookInfo[]>;
  /** The endpoint and its `whsec_` secret, which is never shown again. */
  addWebhook(input: AddWebhookInput): Promise<{ webhook: WebhookInfo; secret: string }>;
  removeWebhook(id: string): Promise<WebhookInfo>;
  /** Sends a signed test notification to the endpoint; its attempts show in its delivery log. */
  testWebhook(id: string): Promise<{ messageId: string }>;
  /** The endpoint's delivery log, newest first. */
  webhookAttempts(id: string): Promise<WebhookAttemptInfo[]>;
}
