/**
 * The engine without sockets: fake crossws peers that record what the engine sends them. Frames go in
 * through the engine's own hooks, exactly as crossws would call them.
 */
import type { Peer } from "crossws";
import { createLiveEngine, type LiveEngine } from "../../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";

export interface Frame {
  type: string;
  payload: any;
}

export class FakePeer {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  readonly context: Record<string, unknown>;
  private readonly engine: LiveEngine;
  private gone = false;

  constructor(engine: LiveEngine, user?: Record<string, unknown>) {
    this.engine = engine;
    this.context = user ? { user } : {};
    engine.hooks.open?.(this as unknown as Peer);
  }

  send(data: string) {
    if (!this.gone) this.frames.push(JSON.parse(data));
  }
  close(code?: number) {
    this.closeCode ??= code;
    this.disconnect();
  }
  terminate() {
    this.disconnect();
  }
  ping() {}

  /** The socket goes away: crossws calls the close hook. */
  disconnect() {
    if (this.gone) return;
    this.gone = true;
    queueMicrotask(() => this.engine.hooks.close?.(this as unknown as Peer, {} as never));
  }

  message(type: string, payload?: unknown) {
    this.raw(JSON.stringify(payload === undefined ? { type } : { type, payload }));
  }
  raw(text: string) {
    this.engine.hooks.message?.(this as unknown as Peer, { text: () => text } as never);
  }

  of(type: string): any[] {
    return this.frames.filter((f) => f.type === type).map((f) => f.payload);
  }
  types(): string[] {
    return this.frames.map((f) => f.type);
  }
}

/** Let pending promise callbacks (storage, joins) run. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setTimeout(r, 0));
}

export function fakeEngine(options: WebSocketServerOptions = {}) {
  const engine = createLiveEngine({ heartbeatIntervalMs: 0, ...options });
  return { engine, peer: (user?: Record<string, unknown>) => new FakePeer(engine, user) };
}
