import type { BroadcastEventRelayPayload } from "../protocol/messages.ts";
import type { EventHandler } from "./api.ts";
import { LiveSyncError } from "./errors.ts";

/** The handlers `onEvent` registered, by event name (`"*"`: every event). */
export class EventHandlers {
  private readonly byName = new Map<string, Set<EventHandler>>();

  /** Add `handler` for `event`; returns the function that removes it. */
  add(event: string, handler: EventHandler): () => void {
    let set = this.byName.get(event);
    if (!set) this.byName.set(event, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.byName.delete(event);
    };
  }

  /** Call the handlers of a relayed event, then the `"*"` ones; a handler that throws is reported, the rest still run. */
  dispatch(relay: BroadcastEventRelayPayload, report: (error: LiveSyncError) => void): void {
    for (const name of [relay.event, "*"]) {
      for (const handler of this.byName.get(name) ?? []) {
        try {
          handler(relay.payload, relay);
        } catch (error) {
          report(new LiveSyncError("EVENT_HANDLER_FAILED", `A handler for "${relay.event}" threw`, { cause: error }));
        }
      }
    }
  }
}
