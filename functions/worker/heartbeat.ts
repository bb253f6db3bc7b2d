/**
 * Renews a running sync's lease on a timer, one renewal at a time.
 */
export interface Heartbeat {
  /** Stops renewing and waits for a renewal in progress. */
  stop(): Promise<void>;
}

export function startHeartbeat(
  everyMs: number,
  beat: () => Promise<void>,
  onError: (error: unknown) => void,
): Heartbeat {
  let running: Promise<void> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (running !== null || stopped) return;
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
