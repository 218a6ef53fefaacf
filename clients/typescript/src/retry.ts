// Retries with capped, jittered exponential backoff inside one deadline.

/** How a client retries UNAVAILABLE and FENCED. */
export interface RetryOptions {
  /** Attempts in all, the first included; 1 turns retries off. */
  maxAttempts: number;
  /** The backoff cap of the first retry; it doubles per retry. */
  initialBackoffMs: number;
  /** The most any backoff grows to (a node's retryAfterMs may ask for longer). */
  maxBackoffMs: number;
}

export const defaultRetryOptions: Readonly<RetryOptions> = {
  maxAttempts: 5,
  initialBackoffMs: 50,
  maxBackoffMs: 2000,
};

/**
 * How long to wait before retry number `retry` (1 for the first): a random
 * point in [0, cap) with cap = min(maxBackoffMs, initialBackoffMs * 2^(retry-1))
 * ("full jitter", so many game servers retrying after one node restart do
 * not arrive together), but never less than the node's retryAfterMs.
 */
export function backoffMs(opts: RetryOptions, retry: number, retryAfterMs: number, random: () => number): number {
  const cap = Math.min(opts.maxBackoffMs, opts.initialBackoffMs * 2 ** Math.max(0, retry - 1));
  return Math.max(retryAfterMs, Math.floor(random() * cap));
}

/** Resolves after ms, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
