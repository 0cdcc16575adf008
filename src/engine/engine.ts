import type { Hooks, Peer } from "crossws";
import { createTokenVerifier } from "../auth/tokens.ts";
import type { Backplane } from "../cluster/backplane.ts";
import { createDocumentSide, type DocumentSide } from "../documents/documents.ts";
import type { OnError } from "../errors.ts";
import { resolveOptions, type ResolvedOptions, type TokenVerifier, type WebSocketServerOptions } from "../options.ts";
import { createServerInputParser, type ServerInputParser } from "../protocol/validate.ts";
import { withChatCapabilities } from "../storage/capabilities.ts";
import type { ChatStorage } from "../storage/chat-storage.ts";
import { backgroundInterval, withTimeout } from "../util/async.ts";
import { documentChangeListener } from "../webhooks/document-updates.ts";
import { createWebhooks } from "../webhooks/webhooks.ts";
import { AppCallbacks, type LiveLifecycle } from "./app-callbacks.ts";
import { RoomBans } from "./bans.ts";
import { createChat } from "./chat.ts";
import { createClientFaults } from "./client-faults.ts";
import type { ClusterRooms } from "./cluster-rooms.ts";
import type { Connection, PeerLike, SavedConnection } from "./connection.ts";
import type { EngineContext } from "./context.ts";
import { Dispatch } from "./dispatch.ts";
import { createEvents } from "./events.ts";
import type { Fanout } from "./fanout.ts";
import { Guard } from "./guard.ts";
import { bindConnection, createSocketHooks } from "./hooks.ts";
import { createMembership } from "./membership.ts";
import { timedStorage } from "./metered.ts";
import type { MetricHistory } from "./metric-history.ts";
import { Metrics } from "./metrics.ts";
import { createPresence } from "./presence.ts";
import { createProbes, type Readiness } from "./probes.ts";
import { createRefusals, type Refusals } from "./refusals.ts";
import { Registry } from "./registry.ts";
import type { RoomManager } from "./room.ts";
import type { RoomSend } from "./room-send.ts";
import { createRoomSide, type Drop } from "./room-side.ts";
import type { RuntimeCapabilities } from "./runtime.ts";
import { RoomStreams, type StreamLog } from "./streams.ts";
import { createServerApi, type ServerApi } from "./server-api.ts";
import { createUpgrade, startBackplane } from "./upgrade.ts";

export type { RuntimeCapabilities } from "./runtime.ts";

export interface ConnectionsView extends Iterable<Connection> {
  readonly size: number;
}

/** The runtime-neutral server: crossws hooks plus the room state they drive. */
export interface LiveEngine {
  readonly hooks: Partial<Hooks>;
  /**
   * A text message from `peer` that the runtime read itself, past crossws (the Deno front's reader): the
   * same checks and dispatch as the `message` hook.
   */
  receiveText(peer: Peer, text: string): void;
  readonly options: ResolvedOptions;
  readonly rooms: RoomManager;
  /** Every open connection (in a room or not). */
  readonly connections: ConnectionsView;
  /** Close every socket with 1001, close storage, and resolve when done. */
  close(): Promise<void>;
  /** The counters and gauges in Prometheus text format (`GET /metrics`). */
  metrics(): Promise<string>;
  /** This instance's recent metrics for the admin page's charts; sampling starts when the HTTP API is mounted. */
  readonly history: MetricHistory;
  /** Whether chat storage answers a read and the backplane is connected (`GET /readyz`). */
  ready(): Promise<Readiness>;
  /** The server side of the rooms: list, read presence, publish, send chat, disconnect (cluster-wide). */
  readonly api: ServerApi;
  /** Be told what happens, on this instance (webhooks are built on it). */
  observe(observer: LiveLifecycle): void;
  /** The shared documents' endpoint; undefined with `documents: false`. */
  readonly documents: DocumentSide | undefined;
  /**
   * Put back a connection whose socket outlived this process (Durable Object hibernation): under its old
   * id, with its identity, in its room with its presence entry. Nobody is told: for the room nothing changed.
   */
  restore(peer: PeerLike, saved: SavedConnection): Connection;
}

export type { Readiness } from "./probes.ts";

/** How often expired stream messages and forgotten rooms' logs are dropped (at most; `ttlMs` if shorter). */
const SWEEP_MS = 30_000;

/** How long `close()` waits for the chat storage to close. */
const STORAGE_CLOSE_MS = 5000;

/**
 * Wires the engine's parts: the registry (open connections), the room manager (where each one is),
 * membership, presence, events and chat (what a member can do), dispatch (frames → actions), one
 * room-send path (local fan-out + backplane), the app's callbacks and server API, and the crossws hooks in
 * front of them.
 */
export function createLiveEngine(userOptions: WebSocketServerOptions = {}, runtime: RuntimeCapabilities = {}): LiveEngine {
  const options = resolveOptions(userOptions);
  const metrics = new Metrics();
  const untimedStorage = options.storage;
  options.storage = timedStorage(options.storage, metrics);
  const { storage, onError: report, backplane } = options;
  // A storage with only `append` and `getHistory` still works: paging is emulated, resume and exactly-once are off.
  const chatStorage = withChatCapabilities(storage);
  for (const warning of chatStorage.warnings) console.warn(`[openlivesync] ${warning}`);
  let closing = false;

  /** Every close the server decides goes through here, so it is counted by its code. */
  const drop: Drop = (conn, code, reason) => {
    if (!conn.closed) metrics.serverClosed(code);
    registry.drop(conn, code, reason);
  };
  const { fanout, rooms, send, cluster, streams, shared } = createRoomSide(options, runtime, metrics, drop);
  const guard = new Guard(options.guard);
  const input = createServerInputParser(options);
  const { app, webhooks } = createAppSide(options, input, cluster);
  const ctx: EngineContext = {
    ...{ options, report, rooms, send, cluster, streams, shared, guard, drop, callbacks: app },
    storage: chatStorage.storage,
    bans: new RoomBans(backplane?.bans ?? runtime.bans, report),
    armExpiry: (conn, exp) => registry.armExpiry(conn, exp),
  };
  // The verifier is built once so key caches live as long as the server and bad auth config fails at start-up.
  const verifyToken = options.auth ? createTokenVerifier(options.auth) : undefined;
  const { dispatch, registry } = createMemberSide(ctx, metrics, fanout, verifyToken, runtime.expiry);
  const [faults, refusals] = [createClientFaults(report), createRefusals(report)];
  const socket = { options, runtime, guard, metrics, registry, dispatch, drop, faults, refusals };
  const { hooks, receiveText } = createSocketHooks({ ...socket, closing: () => closing });
  const documents = createDocuments(options, { guard, runtime, refusals, verifyToken, closing: () => closing });

  if (documents && webhooks?.documentChanged) documents.onChange(documentChangeListener(webhooks.documentChanged));
  if (backplane) startBackplane(backplane, cluster!, options);
  const stopTimers = startTimers(options, runtime, registry, streams);
  const probes = createProbes({
    storage: untimedStorage,
    backplane,
    closing: () => closing,
    metrics: () => Object.assign(metrics, { rateLimitedFrames: guard.rateLimitedFrames, refusedUpgrades: refusals.totals() }),
    documents: documents && (() => documents.metrics.render(documents.connections)),
    counts: () => ({ connections: registry.size, rooms: rooms.size }),
    webhooks: webhooks && (() => webhooks.stats()),
  });

  const stop = () => {
    closing = true;
    probes.history.stop();
    stopTimers();
    guard.stop();
    faults.stop();
  };
  let closed: Promise<void> | undefined;
  return {
    ...{ hooks, receiveText, options, rooms, metrics: probes.metrics, ready: probes.ready, history: probes.history },
    api: createServerApi(ctx, input, backplane),
    observe: (observer) => app.observe(observer),
    documents,
    restore: (peer, saved) => restore({ registry, rooms, guard }, peer, saved),
    connections: connectionsView(registry, rooms),
    close: () =>
      (closed ??= (async () => {
        stop();
        await documents?.close();
        refusals.stop();
        await shutdown({ registry, send, cluster, backplane, storage, report, webhooks });
      })()),
  };
}

/** The shared documents' endpoint: its own hooks and state; the rooms' paths do not know it exists. */
function createDocuments(
  options: ResolvedOptions,
  p: { guard: Guard; runtime: RuntimeCapabilities; refusals: Refusals; verifyToken: TokenVerifier | undefined; closing: () => boolean },
): DocumentSide | undefined {
  if (!options.documents) return undefined;
  const report = options.onError;
  return createDocumentSide({
    options: options.documents,
    admit: createUpgrade({ options, guard: p.guard, runtime: p.runtime, report, refusals: p.refusals, closing: p.closing }),
    verifyToken: p.verifyToken,
    link: options.backplane?.documents,
    wire: p.runtime.documentWire,
    report: (error) => report(error, { stage: "documents" }),
  });
}

/** The app's callbacks, and the webhooks as one of their observers. */
function createAppSide(options: ResolvedOptions, input: ServerInputParser, cluster: ClusterRooms | undefined) {
  const app = new AppCallbacks(options.callbacks, input, options.onError);
  const webhooks = options.webhooks ? createWebhooks(options.webhooks, options.onError) : undefined;
  if (webhooks) app.observe(webhooks.lifecycle);
  if (cluster) cluster.onEmptied = (roomId) => app.emptied(roomId);
  return { app, webhooks };
}

/** The heartbeat (unless the runtime pings itself) and the streams' sweep; returns what stops them. */
function startTimers(options: ResolvedOptions, runtime: RuntimeCapabilities, registry: Registry, streams: StreamLog | undefined) {
  const sweeper = streams instanceof RoomStreams && backgroundInterval(() => streams.sweep(), Math.min(streams.options.ttlMs, SWEEP_MS));
  const stopHeartbeat =
    options.heartbeatIntervalMs > 0 && !runtime.nativeHeartbeat ? registry.startHeartbeat(options.heartbeatIntervalMs) : undefined;
  return () => {
    stopHeartbeat?.();
    if (sweeper) clearInterval(sweeper);
  };
}

/**
 * The member side: what a connection can do in a room (membership, presence, events, chat), dispatch
 * (frames → those actions) and the registry of open connections.
 */
function createMemberSide(
  ctx: EngineContext,
  metrics: Metrics,
  fanout: Fanout,
  verifyToken: TokenVerifier | undefined,
  expiry: RuntimeCapabilities["expiry"],
) {
  const { rooms, guard, report } = ctx;
  const presence = createPresence(ctx);
  const membership = createMembership(ctx, presence, verifyToken);
  const dispatch = new Dispatch(ctx, { membership, presence, events: createEvents(ctx), chat: createChat(ctx) }, metrics);
  const registry = new Registry({
    rooms,
    closeOnTokenExpiry: ctx.options.closeOnTokenExpiry,
    expiry,
    remove: membership.remove,
    released: (conn) => {
      metrics.closes++;
      guard.release(conn);
    },
    attach: fanout.attach?.bind(fanout),
    ping: fanout.ping?.bind(fanout),
    report,
  });
  return { dispatch, registry };
}

/** `LiveEngine.restore`: the connection back under its old id, in its room, its expiry armed again. */
function restore(parts: { registry: Registry; rooms: RoomManager; guard: Guard }, peer: PeerLike, saved: SavedConnection): Connection {
  const { registry, rooms } = parts;
  const conn = registry.restored(peer, saved.id, saved.user, saved.verified);
  parts.guard.admit(conn, () => undefined);
  bindConnection(peer, conn);
  if (saved.room) {
    rooms.beginJoin(conn, saved.room.id, saved.room.entry);
    rooms.completeJoin(conn);
  }
  if (saved.user) registry.armExpiry(conn, saved.user.exp);
  return conn;
}

function connectionsView(registry: Registry, rooms: RoomManager): ConnectionsView {
  return {
    get size() {
      return registry.size;
    },
    [Symbol.iterator]: () => rooms.connections(),
  };
}

/** After every socket closed: the last presence out, the backplane left, the storage closed (bounded). */
async function shutdown(parts: {
  registry: Registry;
  send: RoomSend;
  cluster: ClusterRooms | undefined;
  backplane: Backplane | undefined;
  storage: ChatStorage;
  report: OnError;
  webhooks?: { close(): Promise<void> };
}) {
  const { send, backplane, storage, report } = parts;
  await parts.registry.closeAll();
  send.flushPresence();
  // The last members' "did the room empty?" checks, before the link goes.
  await withTimeout(parts.cluster?.settled(), STORAGE_CLOSE_MS, { fallback: undefined });
  await parts.webhooks?.close();
  try {
    await backplane?.close(); // after every leave went out, so the others see them at once
  } catch (error) {
    report(error, { stage: "backplane" });
  }
  try {
    await withTimeout(storage.close?.(), STORAGE_CLOSE_MS, {
      error: () => new Error(`Chat storage did not close within ${STORAGE_CLOSE_MS / 1000} s`),
    });
  } catch (error) {
    report(error, { stage: "close" });
  }
}
