/**
 * The engine without sockets: a socket stand-in that records every frame the engine sends it, takes
 * client frames through the engine's own crossws hooks, and runs the `close` hook when it closes, as a
 * real socket would.
 */
import { createLiveEngine, type LiveEngine } from "../../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";

export interface Frame {
  type: string;
  payload: any;
}

export class FakePeer {
  readonly frames: Frame[] = [];
  readonly context: Record<string, unknown>;
  closedWith: { code?: number; reason?: string } | undefined;
  private readonly engine: LiveEngine;

  constructor(engine: LiveEngine, user?: Record<string, unknown>) {
    this.engine = engine;
    this.context = user ? { user } : {};
    void engine.hooks.open?.(this as never);
  }

  /** The close code the server sent, if it closed this socket. */
  get closeCode(): number | undefined {
    return this.closedWith?.code;
  }

  send(data: string): void {
    if (!this.closedWith) this.frames.push(JSON.parse(data) as Frame);
  }

  close(code?: number, reason?: string): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    queueMicrotask(() => void this.engine.hooks.close?.(this as never, { code, reason } as never));
  }

  terminate(): void {
    this.close(1006, "terminated");
  }

  ping(): void {}

  /** The client goes away without a close frame. */
  disconnect(): void {
    this.close(undefined, "client went away");
  }

  /** A client frame, as the runtime hands it to the `message` hook. */
  message(type: string, payload?: unknown): void {
    this.raw(JSON.stringify(payload === undefined ? { type } : { type, payload }));
  }

  raw(text: string): void {
    void this.engine.hooks.message?.(this as never, { text: () => text } as never);
  }

  /** Payloads of every frame of `type` received so far. */
  of(type: string): any[] {
    return this.frames.filter((f) => f.type === type).map((f) => f.payload);
  }

  types(): string[] {
    return this.frames.map((f) => f.type);
  }

  /** The first frame of `type` (matching `where`) received after `from` frames; waits for it. */
  async next(type: string, where: (payload: any) => boolean = () => true, from = 0): Promise<Frame> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const frame = this.frames.slice(from).find((f) => f.type === type && where(f.payload));
      if (frame) return frame;
      if (Date.now() > deadline) {
        throw new Error(`no ${type} frame within 5 s; got ${JSON.stringify(this.frames.map((f) => f.type))}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** Joins `roomId` and resolves with the `room_joined` payload. */
  async join(roomId: string, presence: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<any> {
    const from = this.frames.length;
    this.message("join_room", { roomId, presence, ...extra });
    return (await this.next("room_joined", (p) => p.roomId === roomId, from)).payload;
  }
}

/** Let pending promise callbacks (storage, joins) run. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setTimeout(r, 0));
}

/**
 * An engine with the heartbeat off, and a maker of fake peers connected to it. Presence batches within
 * one timer turn (`presenceBatchMs: 0`), so `settle()` sees it; batching tests pass their own window.
 */
export function fakeEngine(options: WebSocketServerOptions = {}) {
  const engine = createLiveEngine({ heartbeatIntervalMs: 0, presenceBatchMs: 0, ...options });
  return { engine, peer: (user?: Record<string, unknown>) => new FakePeer(engine, user) };
}
