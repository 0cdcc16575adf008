import type { LiveLifecycle } from "../engine/server-api.ts";
import type { ErrorStage } from "../errors.ts";
import { WebhookDispatcher, type WebhookStats } from "./dispatcher.ts";
import { resolveWebhookOptions, type WebhookEventType, type WebhookOptions } from "./options.ts";
import { createSigner } from "./signature.ts";
import { DocumentUpdateDebounce } from "./document-updates.ts";

/** The webhooks of one instance: the engine feeds `lifecycle` and calls `close()` at shutdown. */
export interface Webhooks {
  /** Only the methods of the configured `events` are set, so the engine skips the others for free. */
  lifecycle: LiveLifecycle;
  /**
   * A shared document changed (`document.updated`, debounced per document); set only when that event is
   * configured. `stateVector` is read when the event is made.
   */
  documentChanged?: (name: string, stateVector: () => Uint8Array) => void;
  /**
   * Sends the pending `document.updated` events, stops taking events, delivers what is queued within `closeTimeoutMs`, then gives up on the rest
   * (reported, counted in `abandoned`). Leaves no timer or request running. Never rejects.
   */
  close(): Promise<void>;
  stats(): WebhookStats;
}

/** A webhook's JSON body. */
export interface WebhookEvent<T = Record<string, unknown>> {
  /** Unique per event (a UUID); the same on every retry, so a receiver can drop a repeat. */
  id: string;
  type: WebhookEventType;
  /** When it happened, ms since the epoch. */
  createdAt: number;
  data: T;
}

const encoder = new TextEncoder();

/**
 * Webhooks for `options`: each lifecycle event becomes a signed POST, queued per room and retried (see
 * README "Webhooks"). Options are checked here too (a `ConfigError` for a bad URL or an empty secret).
 * @example
 * const webhooks = createWebhooks({ url: "https://app.example/hooks", secret }, report);
 * engineObservers.push(webhooks.lifecycle); // … and at shutdown: await webhooks.close();
 */
export function createWebhooks(options: WebhookOptions, report: (error: unknown, context: { stage: ErrorStage }) => void): Webhooks {
  const resolved = resolveWebhookOptions(options);
  const dispatcher = new WebhookDispatcher(resolved, createSigner(resolved.secret), report);

  const emit = (type: WebhookEventType, roomId: string, data: object) => {
    if (!dispatcher.accepts()) return dispatcher.drop();
    try {
      const id = crypto.randomUUID();
      const body = encoder.encode(JSON.stringify({ id, type, createdAt: Date.now(), data }));
      dispatcher.enqueue({ id, type, roomId, body, attempts: 0 });
    } catch (error) {
      // An identity from `onAuth` that JSON cannot encode (a cycle, a BigInt): that event cannot be sent.
      dispatcher.drop();
      report(error, { stage: "webhook" });
    }
  };

  const handlers: Required<LiveLifecycle> = {
    // The room (and connection) first, then the identity fields, none of which may overwrite those.
    joined: (ctx, entry) => emit("member.joined", ctx.roomId, Object.assign({ roomId: ctx.roomId }, entry, { roomId: ctx.roomId })),
    left: (ctx) =>
      emit(
        "member.left",
        ctx.roomId,
        Object.assign({ roomId: ctx.roomId, connectionId: ctx.connectionId }, ctx.user, {
          roomId: ctx.roomId,
          connectionId: ctx.connectionId,
        }),
      ),
    emptied: (roomId) => emit("room.emptied", roomId, { roomId }),
    chatStored: (message) => emit("chat.stored", message.roomId, message),
    chatDeleted: (roomId, id) => emit("chat.deleted", roomId, { roomId, id }),
  };
  const byEvent: Record<Exclude<WebhookEventType, "document.updated">, keyof LiveLifecycle> = {
    "member.joined": "joined",
    "member.left": "left",
    "room.emptied": "emptied",
    "chat.stored": "chatStored",
    "chat.deleted": "chatDeleted",
  } as const;
  const lifecycle: LiveLifecycle = {};
  for (const event of resolved.events) {
    if (event !== "document.updated") Object.assign(lifecycle, { [byEvent[event]]: handlers[byEvent[event]] });
  }

  if (!resolved.events.includes("document.updated"))
    return { lifecycle, close: () => dispatcher.close(), stats: () => dispatcher.current() };
  // A lane of its own per document: its events stay in order, apart from a room of the same name.
  const debounce = new DocumentUpdateDebounce(resolved.documentDebounceMs, (name, data) =>
    emit("document.updated", `document:${name}`, data),
  );
  return {
    lifecycle,
    documentChanged: (name, stateVector) => debounce.changed(name, stateVector),
    close: () => {
      debounce.flush();
      return dispatcher.close();
    },
    stats: () => dispatcher.current(),
  };
}
