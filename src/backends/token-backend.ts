import type { TokenRecord, TokenType } from '../core/tokens.js';

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

export interface RevealedToken {
  token: TokenRecord;
  value: string;
}

export interface CreateInput {
  type: TokenType;
  name: string;
}

export interface TokenBackend {
  /** Where the tokens live, for messages ("/home/me/.config/tokenctl/profiles/default"). */
  readonly location: string;
  init(input: InitInput): Promise<InitResult>;
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
}
