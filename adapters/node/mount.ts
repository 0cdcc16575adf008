/**
 * `mountLive` on Node: the live endpoint as a route of a Hono app served by `@hono/node-server`.
 * Node hands upgrades to the server's `upgrade` event, not to `fetch`, so `live.injectWebSocket(server)`
 * sends each upgrade through `app.fetch` with the socket in `env`; the route then completes it with
 * crossws's Node adapter. Middleware on the path therefore runs before the upgrade, as on Bun and Deno.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Context, Hono } from "hono";
import type { LiveMount, UpgradeEmitter, MountOptions } from "../shared/handle.ts";
import { liveHandle } from "../shared/handle.ts";
import { addDocumentRoutes, addLiveRoute, pathnameOf, startMount } from "../shared/live-route.ts";
import { createNodeLive, nodeUpgradeRequest, refuseUpgrade, reportUpgradeErrors } from "./node-live.ts";

/** Where `injectWebSocket` puts the raw socket for the route, in `c.env`. */
const kUpgrade = Symbol.for("openlivesync.upgrade");

interface UpgradeSlot {
  socket: Duplex;
  head: Buffer;
  taken: boolean;
}

/**
 * Add the live endpoint to your Hono app at `path`, next to your own routes, then hand the server that
 * `serve()` returned to `live.injectWebSocket`. `onAuth` receives the `IncomingMessage`.
 * @example
 * const app = new Hono();
 * app.get("/api/hello", (c) => c.json({ hello: "world" }));
 * const live = mountLive(app, "/live", { onAuth });
 * live.injectWebSocket(serve({ fetch: app.fetch, port: 3000 }));
 */
export function mountLive(app: Hono<any, any, any>, path: string, options: MountOptions = {}): LiveMount {
  const { engine, adapter, documents, close } = startMount(app, path, options, createNodeLive);
  const onError = engine.options.onError;

  const upgradeWith = (target: typeof adapter) => async (c: Context) => {
    const env = c.env as { incoming?: IncomingMessage; [kUpgrade]?: UpgradeSlot } | undefined;
    const slot = env?.[kUpgrade];
    if (!slot || !env?.incoming) {
      return c.text("openlivesync: pass the Node server to live.injectWebSocket(server) to accept WebSockets", 500);
    }
    slot.taken = true;
    try {
      // crossws writes refused upgrades (401, 500, 503) to the socket itself.
      await target.handleUpgrade(env.incoming, slot.socket, slot.head, c.req.raw);
    } catch (error) {
      onError(error, { stage: "upgrade" });
      refuseUpgrade(slot.socket, 500, "Internal Server Error");
    }
    return new Response(null);
  };
  addLiveRoute(app, path, upgradeWith(adapter));
  if (documents) addDocumentRoutes(app, engine.documents!.path, upgradeWith(documents));
  const ours = (url: string | undefined) => {
    const pathname = pathnameOf(url ?? "/");
    return pathname === path || engine.documents?.matches(pathname) === true;
  };

  const servers = new Map<UpgradeEmitter, (...args: any[]) => void>();

  function injectWebSocket(server: UpgradeEmitter) {
    if (servers.has(server)) return;
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const upgraded = reportUpgradeErrors(socket, (error) => onError(error, { stage: "upgrade" }));
      const slot: UpgradeSlot = { socket, head, taken: false };
      const env = { incoming: req, outgoing: undefined, [kUpgrade]: slot };
      Promise.resolve(app.fetch(nodeUpgradeRequest(req, socket, head), env))
        .then(async (response) => {
          if (slot.taken) return upgraded();
          // Refused on our path (middleware), or another path: another upgrade listener may own that one;
          // if none does, answer for the app so the client never hangs.
          if (server.listenerCount("upgrade") > 1 && !ours(req.url)) return;
          refuseUpgrade(socket, response.status, await response.text().catch(() => ""));
        })
        .catch((error: unknown) => {
          onError(error, { stage: "upgrade" });
          refuseUpgrade(socket, 500, "Internal Server Error");
        });
    };
    servers.set(server, listener);
    server.on("upgrade", listener);
  }

  const closeMount = async () => {
    for (const [server, listener] of servers) server.off("upgrade", listener);
    servers.clear();
    await close();
  };
  return { ...liveHandle(engine, closeMount), websocket: undefined, injectWebSocket };
}
