/** Where last-used times go: one call per batch. */
export interface LastUsedSink {
  recordLastUsed(batch: ReadonlyMap<string, string>): void;
}

/**
 * Introspection records when a token was last used, but not with a write per call: times are collected in
 * memory and written in one transaction on a timer and at shutdown. Readers overlay what is not flushed yet.
 */
export class LastUsedRecorder {
  /** Newest use per token id, in ms (converted to ISO text only when read or written). */
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: LastUsedSink,
    private readonly onError: (error: unknown) => void,
    flushEveryMs = 5_000,
  ) {
    if (flushEveryMs > 0) {
      this.timer = setInterval(() => this.flush(), flushEveryMs);
      this.timer.unref();
    }
  }

  record(tokenId: string, at: Date): void {
    const t = at.getTime();
    const before = this.pending.get(tokenId);
    if (before === undefined || before < t) this.pending.set(tokenId, t);
  }

  /** The unflushed time for a token, if any. */
  peek(tokenId: string): string | undefined {
    const t = this.pending.get(tokenId);
    return t === undefined ? undefined : new Date(t).toISOString();
  }

  get size(): number {
    return this.pending.size;
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      this.store.recordLastUsed(new Map([...batch].map(([id, t]) => [id, new Date(t).toISOString()])));
    } catch (error) {
      // Keep the batch for the next attempt (a busy database, say), newest time winning.
      for (const [id, t] of batch) if (!this.pending.has(id) || this.pending.get(id)! < t) this.pending.set(id, t);
      this.onError(error);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
