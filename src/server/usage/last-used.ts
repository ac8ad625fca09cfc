/** Where last-used times go: one call per batch. */
export interface LastUsedSink {
  /** Synchronous (SQLite) or not (PostgreSQL); a failure, thrown or rejected, keeps the batch for the next try. */
  recordLastUsed(batch: ReadonlyMap<string, string>): void | Promise<void>;
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
    // A batch being written (asynchronously) is still shown: the database may not have it yet.
    const t = this.pending.get(tokenId) ?? this.inFlight?.get(tokenId);
    return t === undefined ? undefined : new Date(t).toISOString();
  }

  get size(): number {
    return this.pending.size;
  }

  /** A write of an earlier batch still under way (an asynchronous sink): the next flush waits for it. */
  private writing: Promise<void> | null = null;
  /** That batch, until its write settles. */
  private inFlight: Map<string, number> | null = null;

  /** Writes what is pending; returns a promise when the sink is asynchronous (awaited at shutdown). */
  flush(): void | Promise<void> {
    if (this.writing) return this.writing.then(() => this.flush());
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    // Keep the batch for the next attempt (a busy or unreachable database), newest time winning.
    const keep = (error: unknown) => {
      for (const [id, t] of batch) if (!this.pending.has(id) || this.pending.get(id)! < t) this.pending.set(id, t);
      this.onError(error);
    };
    try {
      const written = this.store.recordLastUsed(new Map([...batch].map(([id, t]) => [id, new Date(t).toISOString()])));
      if (written instanceof Promise) {
        this.inFlight = batch;
        this.writing = written.then(
          () => undefined,
          (error: unknown) => keep(error),
        );
        void this.writing.finally(() => {
          this.writing = null;
          this.inFlight = null;
        });
        return this.writing;
      }
    } catch (error) {
      keep(error);
    }
  }

  /** Stops the timer and writes what is pending (at once with a synchronous sink; a promise otherwise). */
  stop(): void | Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    return this.writing ? this.writing.then(() => this.flush()) : this.flush();
  }
}
