/**
 * Renews a running sync's lease on a timer, one renewal at a time.
 */
export interface Heartbeat {
  /** Stops renewing and waits for a renewal in progress. */
  stop(): Promise<void>;
}

/**
 * Calls `beat` every `everyMs` (skipping a beat while the previous one still runs), and `check`
 * on every tick, even while a beat hangs: that is where a caller notices that its lease has
 * lapsed without a renewal.
 */
export function startHeartbeat(
  everyMs: number,
  beat: () => Promise<void>,
  onError: (error: unknown) => void,
  check: () => void = () => undefined,
): Heartbeat {
  let running: Promise<void> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    check();
    if (running !== null) return;
    running = beat()
      .catch(onError)
      .finally(() => {
        running = null;
      });
  }, everyMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
