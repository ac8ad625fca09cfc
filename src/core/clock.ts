/** Time comes from here, never from Date.now() inside the core, so every rule is testable. */
export interface Clock {
  now(): Date;
  /** The same instant in epoch milliseconds, with no Date made (for the paths that run on every request). */
  nowMs(): number;
}

export const systemClock: Clock = { now: () => new Date(), nowMs: () => Date.now() };

/** A clock that starts at `start` and runs on in real time (TOKENCTL_NOW semantics). */
export function offsetClock(start: Date, realNow: () => number = Date.now): Clock {
  const offset = start.getTime() - realNow();
  return { now: () => new Date(realNow() + offset), nowMs: () => realNow() + offset };
}

/**
 * A drill's clock for one CLI command (TOKENCTL_NOW): it reads the drill instant for the whole command and moves
 * on only by the time the command waits (rotate --wait). Every command of a drill therefore runs at the same
 * instant, whatever its start-up time: `init` stamps the default token at that instant and the next command,
 * started at the same instant, sees it active.
 */
export interface DrillClock extends Clock {
  readonly start: Date;
  /** Moves the clock on by time the command spent waiting. */
  waited(ms: number): void;
}

export function drillClock(start: Date): DrillClock {
  let t = start.getTime();
  return {
    start,
    now: () => new Date(t),
    nowMs: () => t,
    waited: (ms) => {
      if (ms > 0) t += ms;
    },
  };
}

/** A clock that only moves when a test moves it. */
export interface ManualClock extends Clock {
  set(at: Date | string): void;
  advance(ms: number): void;
}

export function manualClock(at: Date | string): ManualClock {
  let t = new Date(at).getTime();
  return {
    now: () => new Date(t),
    nowMs: () => t,
    set: (d) => {
      t = new Date(d).getTime();
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

/** Parses an ISO-8601 instant with an explicit zone; returns null when it is not one. */
export function parseInstant(text: string): Date | null {
  const trimmed = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(trimmed)) return null;
  const d = new Date(trimmed.length === 10 ? `${trimmed}T00:00:00Z` : trimmed);
  if (Number.isNaN(d.getTime())) return null;
  // Date rolls impossible days over (2026-02-30 becomes March 2nd); a date that is not in the calendar is refused.
  const [y, m, day] = trimmed.slice(0, 10).split('-').map(Number) as [number, number, number];
  const check = new Date(Date.UTC(y, m - 1, day));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== day) return null;
  return d;
}

/**
 * The clock of a token service, as a client learns it: every answer says the service's time (the `Tokenctl-Now`
 * header), and statuses a client shows (pending, active, draining) are computed by it, so that `list` and `get`
 * agree with what the service decides, under a drill's TOKENCTL_NOW on the service too. Until an answer came, the
 * local time.
 */
export interface LearnedClock extends Clock {
  /** The service's time when it answered, and when (local ms) the answer arrived. */
  learn(serviceNow: Date, receivedAtMs?: number): void;
}

export function learnedClock(realNow: () => number = Date.now): LearnedClock {
  let offset = 0;
  return {
    now: () => new Date(realNow() + offset),
    nowMs: () => realNow() + offset,
    learn: (serviceNow, receivedAt = realNow()) => {
      offset = serviceNow.getTime() - receivedAt;
    },
  };
}
