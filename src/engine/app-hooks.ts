import { OpenLiveSyncError, type OnError } from "../errors.ts";
import type { ResolvedHooks } from "../options.ts";
import type { ChatMessagePayload, PresenceEntry } from "../protocol/messages.ts";
import type { ServerInputParser } from "../protocol/validate.ts";
import { withTimeout } from "../util/async.ts";
import type { Connection } from "./connection.ts";
import type { ChatDraft, EventDraft, HookContext, LiveLifecycle } from "./server-api.ts";

/** An app hook threw, timed out, or returned something that is not a valid message. */
export class HookError extends OpenLiveSyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("HOOK_FAILED", message, options);
  }
}

/** A moderation hook, bounded and checked: resolves to the (maybe changed) draft or `null`; rejects with a HookError. */
export type Moderator<D> = (draft: D, ctx: HookContext) => Promise<D | null>;

export const contextOf = (conn: Connection, roomId: string): HookContext => ({ connectionId: conn.id, user: conn.user, roomId });

/**
 * The app's hooks and the lifecycle observers (webhooks), as the engine calls them. Moderators exist
 * only when their hook is set, so the hot path tests one field and pays nothing else. Observers run
 * after the fact: each call is guarded, a failure or a hang is reported (`stage: "hook"`) and costs
 * nothing else.
 */
export class AppHooks {
  readonly beforeChat: Moderator<ChatDraft> | undefined;
  readonly beforeEvent: Moderator<EventDraft> | undefined;
  private readonly observers: LiveLifecycle[] = [];
  private readonly report: OnError;
  private readonly timeoutMs: number;

  constructor(hooks: ResolvedHooks, input: ServerInputParser, report: OnError) {
    this.report = report;
    this.timeoutMs = hooks.timeoutMs;
    const { beforeChat, beforeEvent, onJoin, onLeave } = hooks;
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

  /** Run an after-the-fact hook: a throw, a rejection or a hang past the timeout is reported, nothing else. */
  private guard(name: string, run: () => unknown): void {
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      return this.report(new HookError(`${name} threw`, { cause: error }), { stage: "hook" });
    }
    if (!(result instanceof Promise)) return;
    withTimeout(result, this.timeoutMs, { error: () => new HookError(`${name} did not settle within ${this.timeoutMs} ms`) }).catch(
      (error) => this.report(error instanceof HookError ? error : new HookError(`${name} rejected`, { cause: error }), { stage: "hook" }),
    );
  }

  private moderator<D>(
    name: string,
    hook: (draft: D, ctx: HookContext) => D | null | Promise<D | null>,
    check: (out: unknown) => D,
  ): Moderator<D> {
    const ms = this.timeoutMs;
    return async (draft, ctx) => {
      let out: unknown;
      try {
        out = await withTimeout(hook(draft, ctx), ms, { error: () => new HookError(`${name} did not settle within ${ms} ms`) });
      } catch (error) {
        throw error instanceof HookError ? error : new HookError(`${name} threw`, { cause: error });
      }
      if (out === null) return null;
      try {
        return check(out);
      } catch (error) {
        throw new HookError(`${name} returned an invalid message: ${(error as Error).message}`, { cause: error });
      }
    };
  }
}

/** Only the named fields (a hook's result may carry others, e.g. `name` on a chat). */
function pick<T extends object, K extends keyof T>(value: T, ...keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
