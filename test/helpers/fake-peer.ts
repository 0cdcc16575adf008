/**
 * A socket stand-in for driving an engine through its crossws hooks without a network: it records
 * every frame the engine sends, and closing it runs the engine's `close` hook as a real socket would.
 */
import type { LiveEngine } from "../../src/engine/engine.ts";

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

  send(data: string): void {
    this.frames.push(JSON.parse(data) as Frame);
  }

  close(code?: number, reason?: string): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    queueMicrotask(() => void this.engine.hooks.close?.(this as never, { code, reason } as never));
  }

  terminate(): void {
    this.close(1006, "terminated");
  }

  /** A client frame, as the runtime hands it to the `message` hook. */
  message(type: string, payload?: unknown): void {
    const raw = JSON.stringify({ type, payload });
    void this.engine.hooks.message?.(this as never, { text: () => raw } as never);
  }

  raw(text: string): void {
    void this.engine.hooks.message?.(this as never, { text: () => text } as never);
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
