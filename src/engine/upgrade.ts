import type { Backplane } from "../cluster/backplane.ts";
import type { ClusterRooms } from "./cluster-rooms.ts";
import type { ResolvedOptions } from "../options.ts";
import type { UserInfo } from "../protocol/messages.ts";
import type { OnError } from "../errors.ts";
import type { RuntimeCapabilities } from "./engine.ts";
import type { Guard } from "./guard.ts";
import type { Refusals } from "./refusals.ts";

/**
 * The upgrade hook: refused while shutting down (503), by the guard (origin 403, connection counts
 * 503/429), or by `onAuth` (401, or 500 when it throws); otherwise the user goes into the peer's context.
 * Every refusal but the shutdown's is counted in `refusals`.
 */
export function createUpgrade(deps: {
  options: ResolvedOptions;
  guard: Guard;
  runtime: RuntimeCapabilities;
  report: OnError;
  refusals: Refusals;
  closing: () => boolean;
}): (request: Request) => Promise<Response | { context: { user: UserInfo } } | undefined> {
  const { options, guard, runtime, report, refusals } = deps;
  const authRequest = runtime.authRequest ?? ((request: Request) => request);
  const clientIp = runtime.clientIp;
  return async (request) => {
    if (deps.closing()) return new Response("Server is shutting down", { status: 503 });
    const refusal = guard.checkUpgrade(request, () => clientIp?.(request));
    if (refusal) {
      refusals.record(refusal.reason);
      return new Response(refusal.text, { status: refusal.status, headers: { connection: "close" } });
    }
    if (!options.onAuth) return undefined;
    let user: UserInfo | null;
    try {
      user = await options.onAuth(authRequest(request));
    } catch (error) {
      report(error, { stage: "auth" });
      refusals.record("auth");
      return new Response("Authentication failed", { status: 500 });
    }
    if (!user) {
      refusals.record("auth");
      return new Response("Unauthorized", { status: 401 });
    }
    return { context: { user } };
  };
}

/** Join the cluster, warning once when chat history would stay in each instance's memory. */
export function startBackplane(backplane: Backplane, cluster: ClusterRooms, options: ResolvedOptions): void {
  // `processLocal` marks a storage whose history lives in this process only (the in-memory default).
  // With `historyLimit: 0` no history is ever read back, so there is nothing to share.
  if (options.storage.processLocal === true && options.historyLimit > 0) {
    console.warn(
      "[openlivesync] A backplane is configured but chat history is in memory: each instance keeps its own. Pass chat.storage (Postgres, MySQL, SQLite file) shared by all instances.",
    );
  }
  backplane.start(cluster.sink).catch((error) => options.onError(error, { stage: "backplane" }));
}
