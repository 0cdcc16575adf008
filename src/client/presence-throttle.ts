/**
 * Presence updates at most once per `intervalMs`, leading and trailing edge: the first update goes out
 * at once, later ones inside the window are coalesced, and the newest goes out when the window ends.
 * The resting position always reaches the server.
 */
import type { Presence } from "../protocol/messages.ts";

export interface PresenceThrottle {
  /** Queue `presence`; `send` is called now or at the end of the window, with the newest value. */
  push(presence: Presence): void;
  /** Drop a pending trailing send (left the room, socket closed). */
  cancel(): void;
}

export function createPresenceThrottle(intervalMs: number, send: (presence: Presence) => void): PresenceThrottle {
  let lastSentAt = -Infinity;
  let pending: Presence | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const flush = () => {
    timer = undefined;
    if (pending === undefined) return;
    const presence = pending;
    pending = undefined;
    lastSentAt = Date.now();
    send(presence);
  };

  return {
    push(presence) {
      pending = presence;
      if (timer !== undefined) return;
      const wait = lastSentAt + intervalMs - Date.now();
      if (wait <= 0) flush();
      else timer = setTimeout(flush, wait);
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
      pending = undefined;
    },
  };
}
