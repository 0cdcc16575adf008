import type { Presence } from "../protocol/messages.ts";
import type { Connection } from "./connection.ts";
import type { EngineContext } from "./context.ts";

/**
 * Presence updates with a per-connection throttle and a trailing edge: at most one send per
 * `presenceThrottleMs`, and the newest value inside a window always goes out when it ends, so the
 * resting cursor position is never lost. Presence is replaced, never merged. What passes the throttle
 * joins the room's batch (presence-batch.ts), which keeps only the newest entry per member per tick.
 */
export function createPresence(ctx: EngineContext) {
  const { send, report } = ctx;
  const throttleMs = ctx.options.presenceThrottleMs;

  function update(conn: Connection, presence: Presence): void {
    conn.member!.presence = presence;
    if (conn.work?.presenceTimer) return; // the pending trailing send will carry this newest value
    const wait = conn.lastPresenceAt + throttleMs - Date.now();
    if (wait <= 0) emit(conn);
    else conn.busy().presenceTimer = setTimeout(flush, wait, conn);
  }

  function flush(conn: Connection): void {
    conn.work!.presenceTimer = undefined;
    conn.settle();
    // A timer callback has no caller to catch for it: a throw here would end the process.
    try {
      if (conn.room && !conn.closed) emit(conn);
    } catch (error) {
      report(error, { stage: "message" });
    }
  }

  function emit(conn: Connection): void {
    conn.lastPresenceAt = Date.now();
    send.presence(conn.room!, { kind: "updated", connectionId: conn.id, entry: JSON.stringify(conn.member), conn });
  }

  /** Forget a pending trailing send (the connection left its room). */
  function cancel(conn: Connection): void {
    const work = conn.work;
    if (!work?.presenceTimer) return;
    clearTimeout(work.presenceTimer);
    work.presenceTimer = undefined;
    conn.settle();
  }

  return { update, cancel };
}

export type PresenceActions = ReturnType<typeof createPresence>;
