/**
 * What every Node entry (`createServer` & co. in index.ts, `mountLive` in mount.ts) builds the same way:
 * the engine with the corked fan-out, crossws's Node adapter configured for it, and the upgrade plumbing.
 */
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Hooks } from "crossws";
import nodeAdapter from "crossws/adapters/node";
import { NodeRequest } from "srvx/node";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { setTurnScheduler } from "../../src/util/async.ts";
import { nodePonger } from "../shared/crossws-internals.ts";
import { createCorkedFanout, handBackFragments } from "./corked-fanout.ts";
import { createNodeDocumentWire } from "./document-wire.ts";
import { createRuntimeLive } from "../shared/runtime-live.ts";

const noop = () => {};

// One event-loop turn on Node is what setImmediate waits for: the fan-out uncorks and the engine defers there.
setTurnScheduler((fn) => setImmediate(fn));

export function createNodeLive(options: WebSocketServerOptions) {
  const live = createRuntimeLive(
    options,
    (fellBack) => ({
      createFanout: createCorkedFanout(fellBack),
      documentWire: createNodeDocumentWire(fellBack),
      // crossws hands its upgrade hook a web Request; onAuth gets the IncomingMessage behind it.
      authRequest: (request) => (request as { runtime?: { node?: { req?: unknown } } }).runtime?.node?.req ?? request,
      nativeMaxPayload: true,
      // srvx's NodeRequest knows the socket's address: per-IP limits answer 429 before the upgrade.
      clientIp: (request) => (request as { ip?: string }).ip,
      // ws answers pings itself unless told not to, and those pongs bypass maxBufferedBytes: a client
      // that pings and never reads grew one server from 68 MB to 3 GB in a minute. With autoPong off,
      // a pong goes out only while it fits under the bound; past it the connection is a slow consumer.
      answerPing(peer, data, maxBuffered) {
        const ws = nodePonger(peer);
        if (!ws) {
          fellBack("Node pong (peer._internal.ws)");
          return true;
        }
        if (ws.readyState !== 1) return true;
        if (ws.bufferedAmount + (data?.byteLength ?? 0) + 2 > maxBuffered) return false;
        ws.pong(data, false, noop);
        return true;
      },
    }),
    (engine) =>
      nodeAdapter({
        hooks: withFragmentsHandedBack(engine.hooks),
        getNamespace: () => engine.options.path, // one namespace; spares parsing each upgrade URL
        idleTimeout: 0, // the engine runs its own heartbeat (heartbeatIntervalMs)
        // No compression: frames are small JSON, and the fan-out writes pre-built frames only to
        // connections without it (corked-fanout.ts).
        // autoPong (ws 8.14+, missing from @types/ws): see answerPing above.
        serverOptions: { maxPayload: engine.options.maxPayload, perMessageDeflate: false, ...{ autoPong: false } },
      }),
  );
  const side = live.engine.documents;
  if (!side) return { ...live, documents: undefined };
  // Documents get their own ws server: their own message limit, and the rooms' sockets never pass their hooks.
  const documents = nodeAdapter({
    hooks: side.hooks,
    getNamespace: () => side.path,
    serverOptions: { maxPayload: side.maxMessageBytes, perMessageDeflate: false },
  });
  return {
    ...live,
    documents,
    async close() {
      await live.close();
      await documents.close(1001, "Server is shutting down");
    },
  };
}

/** `hooks` whose `message` first hands ws its fragments array back (handBackFragments in corked-fanout.ts). */
function withFragmentsHandedBack(hooks: Partial<Hooks>): Partial<Hooks> {
  const message = hooks.message;
  if (!message) return hooks;
  return {
    ...hooks,
    message(peer, msg) {
      handBackFragments(peer);
      return message(peer, msg);
    },
  };
}

/** The web Request crossws's upgrade hook sees; `request.runtime.node.req` is the IncomingMessage. */
export function nodeUpgradeRequest(req: IncomingMessage, socket: Duplex, head: Buffer): Request {
  return new NodeRequest({ req, upgrade: { socket, head } } as unknown as ConstructorParameters<
    typeof NodeRequest
  >[0]) as unknown as Request;
}

/**
 * Report socket errors while an upgrade is pending (onAuth may be slow). Call the returned function once
 * the socket is upgraded: from then on ws owns its errors, and a client that vanishes mid-broadcast is
 * not a server failure to report.
 */
export function reportUpgradeErrors(socket: Duplex, report: (error: Error) => void): () => void {
  socket.on("error", report);
  return () => socket.off("error", report);
}

/** Answer an upgrade with a plain HTTP response and drop the socket, so the client never hangs. */
export function refuseUpgrade(socket: Duplex, status: number, text: string) {
  if (socket.destroyed) return;
  const length = Buffer.byteLength(text);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n${text}`,
  );
  socket.once("finish", () => socket.destroy());
}
