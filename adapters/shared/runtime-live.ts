/**
 * What every runtime builds the same way: the engine with that runtime's capabilities, crossws's adapter
 * for the runtime around the engine's hooks, and one `close()` for both.
 */
import { createLiveEngine, type LiveEngine, type RuntimeCapabilities } from "../../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";

export type { RuntimeCapabilities };

/**
 * Called by a fast path that found crossws's internals not where crossws 0.4.17 keeps them and uses
 * crossws's public API instead (see crossws-internals.ts). Reported once per adapter and `what`.
 */
export type FellBack = (what: string) => void;

/** A crossws adapter, as far as closing goes. */
interface ClosableAdapter {
  close(code?: number, reason?: string): Promise<void> | void;
}

export interface RuntimeLive<A> {
  readonly engine: LiveEngine;
  readonly adapter: A;
  /** Close every socket with 1001 and chat storage, then crossws's adapter. */
  close(): Promise<void>;
}

/**
 * @example
 * const { engine, adapter, close } = createRuntimeLive(options, () => ({ nativeHeartbeat: true }), (engine) =>
 *   denoAdapter({ hooks: engine.hooks, getNamespace: () => engine.options.path }),
 * );
 */
export function createRuntimeLive<A extends ClosableAdapter>(
  options: WebSocketServerOptions,
  capabilities: (fellBack: FellBack) => RuntimeCapabilities,
  createAdapter: (engine: LiveEngine, fellBack: FellBack) => A,
): RuntimeLive<A> {
  const reported = new Set<string>();
  let engine: LiveEngine | undefined;
  const fellBack: FellBack = (what) => {
    if (reported.has(what)) return;
    reported.add(what);
    const error = new Error(
      `[openlivesync] ${what}: crossws's internals are not where crossws 0.4.17 keeps them; using its public API instead`,
    );
    // Peers open once the engine exists; a report made while it is being built waits for it.
    if (engine) engine.options.onError(error, { stage: "socket" });
    else queueMicrotask(() => engine?.options.onError(error, { stage: "socket" }));
  };
  engine = createLiveEngine(options, capabilities(fellBack));
  const adapter = createAdapter(engine, fellBack);
  return {
    engine,
    adapter,
    async close() {
      await engine.close();
      await adapter.close(1001, "Server is shutting down");
    },
  };
}
