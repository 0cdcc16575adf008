import { OpenLiveSyncError, type OnError } from "../errors.ts";
import type { ResolvedCallbacks } from "../options.ts";
import type { ChatMessagePayload, PresenceEntry, UserInfo } from "../protocol/messages.ts";
import type { ServerInputParser } from "../protocol/validate.ts";
import { withTimeout } from "../util/async.ts";
import type { Connection } from "./connection.ts";

/** Who did something, as the app's callbacks and lifecycle observers see it. */
export interface CallbackContext {
  connectionId: string;
  /** The connection's identity, when it has one (`onAuth` or a `join_room` token). */
  user: UserInfo | undefined;
  roomId: string;
}

/** A chat message as `beforeChat` sees and may change it. */
export interface ChatDraft {
  message: string;
  metadata?: Record<string, unknown>;
}

/** A `broadcast_event` as `beforeEvent` sees and may change it. */
export interface EventDraft {
  event: string;
  payload?: unknown;
}

/**
 * The app's callbacks (see `WebSocketServerOptions`): `beforeChat` and `beforeEvent` moderate a member's
 * message before it goes on, `onJoin` and `onLeave` observe after the fact.
 */
export interface CallbackOptions {
  /** After a connection joined a room (its `room_joined` was sent). For audit and counters. */
  onJoin?: (ctx: CallbackContext) => void | Promise<void>;
  /** After a connection left a room (leave, close, drop, kick). */
  onLeave?: (ctx: CallbackContext) => void | Promise<void>;
  /**
   * Before a member's chat message is stored: return it (changed or not) to go on, or `null` to refuse
   * it (the sender gets `REJECTED`; nothing is stored or sent).
   */
  beforeChat?: (message: ChatDraft, ctx: CallbackContext) => ChatDraft | null | Promise<ChatDraft | null>;
  /** Before a member's `broadcast_event` is relayed: same contract as `beforeChat`. */
  beforeEvent?: (event: EventDraft, ctx: CallbackContext) => EventDraft | null | Promise<EventDraft | null>;
  /** How long a callback may take before it counts as failed. @default 5000 */
  callbackTimeoutMs?: number;
  /** @deprecated Use `callbackTimeoutMs` (read when that is unset). */
  hookTimeoutMs?: number;
}

/**
 * What happened, as it happened, on the instance where it happened: what webhooks send. Each is called
 * once per occurrence in the whole cluster (`emptied`: by the instance whose member left last).
 */
export interface LiveLifecycle {
  joined?(ctx: CallbackContext, entry: PresenceEntry): void;
  left?(ctx: CallbackContext): void;
  /** The room's last member, cluster-wide, left. */
  emptied?(roomId: string): void;
  chatStored?(message: ChatMessagePayload): void;
  /** A moderator deleted message `id` of the room (`deleteChat`). */
  chatDeleted?(roomId: string, id: string): void;
}

/** @deprecated Use `CallbackOptions`. */
export type HookOptions = CallbackOptions;
/** @deprecated Use `CallbackContext`. */
export type HookContext = CallbackContext;

/** An app callback threw, timed out, or returned something that is not a valid message. */
export class CallbackError extends OpenLiveSyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CALLBACK_FAILED", message, options);
  }
}

/** @deprecated Use `CallbackError` (the same class). */
export const HookError = CallbackError;
/** @deprecated Use `CallbackError`. */
export type HookError = CallbackError;

/** A moderating callback, bounded and checked: resolves to the (maybe changed) draft or `null`; rejects with a CallbackError. */
export type Moderator<D> = (draft: D, ctx: CallbackContext) => Promise<D | null>;

export const contextOf = (conn: Connection, roomId: string): CallbackContext => ({ connectionId: conn.id, user: conn.user, roomId });

/**
 * The app's callbacks and the lifecycle observers (webhooks), as the engine calls them. Moderators exist
 * only when their callback is set, so the hot path tests one field and pays nothing else. Observers run
 * after the fact: each call is guarded, a failure or a hang is reported (`stage: "callback"`) and costs
 * nothing else.
 */
export class AppCallbacks {
  readonly beforeChat: Moderator<ChatDraft> | undefined;
  readonly beforeEvent: Moderator<EventDraft> | undefined;
  private readonly observers: LiveLifecycle[] = [];
  private readonly report: OnError;
  private readonly timeoutMs: number;

  constructor(callbacks: ResolvedCallbacks, input: ServerInputParser, report: OnError) {
    this.report = report;
    this.timeoutMs = callbacks.timeoutMs;
    const { beforeChat, beforeEvent, onJoin, onLeave } = callbacks;
    if (beforeChat) this.beforeChat = this.moderator("beforeChat", beforeChat, (out) => pick(input.chat(out), "message", "metadata"));
    if (beforeEvent) this.beforeEvent = this.moderator("beforeEvent", beforeEvent, (out) => pick(input.event(out), "event", "payload"));
    if (onJoin || onLeave) {
      this.observers.push({
        joined: onJoin && ((ctx) => this.guard("onJoin", () => onJoin(ctx))),
        left: onLeave && ((ctx) => this.guard("onLeave", () => onLeave(ctx))),
      });
    }
  }

  /** Add an observer (webhooks). */
  observe(observer: LiveLifecycle): void {
    this.observers.push(observer);
  }

  /** Whether anyone wants `emptied` (it costs a Redis round trip per vacated room in a cluster). */
  get wantsEmptied(): boolean {
    return this.observers.some((o) => o.emptied);
  }

  joined(conn: Connection, roomId: string, entry: PresenceEntry): void {
    if (this.observers.length === 0) return;
    const ctx = contextOf(conn, roomId);
    for (const o of this.observers) if (o.joined) this.guard("lifecycle", () => o.joined!(ctx, entry));
  }

  left(conn: Connection, roomId: string): void {
    if (this.observers.length === 0) return;
    const ctx = contextOf(conn, roomId);
    for (const o of this.observers) if (o.left) this.guard("lifecycle", () => o.left!(ctx));
  }

  emptied(roomId: string): void {
    for (const o of this.observers) if (o.emptied) this.guard("lifecycle", () => o.emptied!(roomId));
  }

  chatStored(message: ChatMessagePayload): void {
    for (const o of this.observers) if (o.chatStored) this.guard("lifecycle", () => o.chatStored!(message));
  }

  chatDeleted(roomId: string, id: string): void {
    for (const o of this.observers) if (o.chatDeleted) this.guard("lifecycle", () => o.chatDeleted!(roomId, id));
  }

  /** Run an after-the-fact callback: a throw, a rejection or a hang past the timeout is reported, nothing else. */
  private guard(name: string, run: () => unknown): void {
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      return this.report(new CallbackError(`${name} threw`, { cause: error }), { stage: "callback" });
    }
    if (!(result instanceof Promise)) return;
    withTimeout(result, this.timeoutMs, { error: () => new CallbackError(`${name} did not settle within ${this.timeoutMs} ms`) }).catch(
      (error) =>
        this.report(error instanceof CallbackError ? error : new CallbackError(`${name} rejected`, { cause: error }), {
          stage: "callback",
        }),
    );
  }

  private moderator<D>(
    name: string,
    callback: (draft: D, ctx: CallbackContext) => D | null | Promise<D | null>,
    check: (out: unknown) => D,
  ): Moderator<D> {
    const ms = this.timeoutMs;
    return async (draft, ctx) => {
      let out: unknown;
      try {
        out = await withTimeout(callback(draft, ctx), ms, { error: () => new CallbackError(`${name} did not settle within ${ms} ms`) });
      } catch (error) {
        throw error instanceof CallbackError ? error : new CallbackError(`${name} threw`, { cause: error });
      }
      if (out === null) return null;
      try {
        return check(out);
      } catch (error) {
        throw new CallbackError(`${name} returned an invalid message: ${(error as Error).message}`, { cause: error });
      }
    };
  }
}

/** Only the named fields (a callback's result may carry others, e.g. `name` on a chat). */
function pick<T extends object, K extends keyof T>(value: T, ...keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
