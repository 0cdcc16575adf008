import { createWebhooks } from "../webhooks/webhooks.ts";
import { documentChangeListener } from "../webhooks/document-updates.ts";
import type { Hooks, Peer } from "crossws";
import { createTokenVerifier } from "../auth/tokens.ts";
import type { Backplane } from "../cluster/backplane.ts";
import { createClusterRooms } from "./cluster-rooms.ts";
import type { OnError } from "../errors.ts";
import type { ChatStorage } from "../storage/chat-storage.ts";
import { resolveOptions, type ResolvedOptions, type WebSocketServerOptions } from "../options.ts";
import { CloseCodes } from "../protocol/codes.ts";
import { withChatCapabilities } from "../storage/capabilities.ts";
import { backgroundInterval, withTimeout } from "../util/async.ts";
import { RoomStreams, type ResolvedStreams, type StreamLog } from "./streams.ts";
import { SharedStreams } from "./shared-streams.ts";
import { BackplaneError, type SharedBans } from "../cluster/backplane.ts";
import { createChat } from "./chat.ts";
import { createClientFaults } from "./client-faults.ts";
import { createRefusals, type Refusals } from "./refusals.ts";
import type { Connection, PeerLike, SavedConnection } from "./connection.ts";
import type { EngineContext } from "./context.ts";
import { Dispatch } from "./dispatch.ts";
import { createProbes, type Readiness } from "./probes.ts";
import { createUpgrade, startBackplane } from "./upgrade.ts";
import { createEvents } from "./events.ts";
import { createLoopFanout, type CreateFanout } from "./fanout.ts";
import { type BoundHooks, bindConnection, bindHooks } from "./hooks.ts";
import { createMembership } from "./membership.ts";
import { createPresence } from "./presence.ts";
import { Guard } from "./guard.ts";
import { Registry } from "./registry.ts";
import { RoomManager } from "./room.ts";
import { createRoomSend, type RoomSend } from "./room-send.ts";
import { timedStorage } from "./metered.ts";
import { Metrics } from "./metrics.ts";
import type { MetricHistory } from "./metric-history.ts";
import { AppHooks } from "./app-hooks.ts";
import { createLiveApi } from "./live-api.ts";
import { RoomBans } from "./bans.ts";
import type { LiveApi, LiveLifecycle } from "./server-api.ts";
import { createServerInputParser } from "../protocol/validate.ts";
import type { ClusterRooms } from "./cluster-rooms.ts";
import { createDocumentSide, type DocumentSide } from "../documents/documents.ts";

/** What a runtime adapter tells the engine it can do itself. */
export interface RuntimeCapabilities {
  /** Builds the fan-out; defaults to one `peer.send` per member. */
  createFanout?: CreateFanout;
  /** Maps crossws's upgrade request to what `onAuth` receives (Node: the `IncomingMessage`). */
  authRequest?: (request: Request) => unknown;
  /** The runtime pings and times out idle sockets itself; the engine's heartbeat loop stays off. */
  nativeHeartbeat?: boolean;
  /** The runtime enforces `maxPayload` itself (closing with 1009). */
  nativeMaxPayload?: boolean;
  /** The client address of an upgrade request, where the runtime can tell (per-IP limits at upgrade). */
  clientIp?: (request: Request) => string | undefined;
  /**
   * Answers a client's ping when the runtime does not do it on its own (Node: ws with `autoPong: false`).
   * Returns false, without answering, when the pong would take the connection's outgoing buffer past
   * `maxBuffered`: the engine then closes it as a slow consumer (4429).
   */
  answerPing?: (peer: Connection["peer"], data: Uint8Array | undefined, maxBuffered: number) => boolean;
  /**
   * The runtime keeps each connection's room and presence outside this process (Durable Object
   * hibernation: the socket's attachment). Called after a local member's join ended (its `room_joined`
   * went out) and after its presence news (updated, left), so `conn.saved()` is what to keep; `restore`
   * puts it back.
   */
  memberChanged?: (conn: Connection) => void;
  /**
   * The runtime keeps room streams itself (a Durable Object's SQLite: offsets and backlog outlive its
   * eviction); the engine then runs no sweep timer. Used when `streams` is on and there is no backplane.
   */
  streams?: (options: ResolvedStreams) => StreamLog;
  /** Where room bans are kept when no backplane stores them (a Durable Object's SQLite). */
  bans?: SharedBans;
  /**
   * The runtime closes connections on token expiry itself, without a timer in this process (a Durable
   * Object's alarm): called with when (ms since the epoch) and the close to run then. Called again for
   * the same connection with its new expiry.
   */
  expiry?: (conn: Connection, atMs: number, expire: () => void) => void;
}

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
  readonly api: LiveApi;
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

/** The room side: fan-out, rooms, the one send path and (with a backplane) the remote members. */
function createRoomSide(options: ResolvedOptions, runtime: RuntimeCapabilities, metrics: Metrics, drop: Drop) {
  const { backplane, onError: report } = options;
  const fanout = (runtime.createFanout ?? createLoopFanout)({
    maxBufferedBytes: options.maxBufferedBytes,
    overLimit: (conn) => drop(conn, CloseCodes.SLOW_CONSUMER, "Slow consumer: outgoing buffer full"),
  });
  const rooms = new RoomManager(fanout);
  const streams = createStreams(options, rooms, runtime);
  const batchOptions = {
    batchMs: options.presenceBatchMs,
    budget: options.presenceBudget,
    maxSnapshot: options.maxPresenceSnapshot,
    report,
  };
  const send = createRoomSend(rooms, fanout, backplane, batchOptions, metrics, streams, options.maxBufferedBytes / 2);
  const changed = runtime.memberChanged;
  if (changed) {
    // Every change of a local member's room or entry passes here: its news, and the end of its join.
    const { presence, snapshotSent } = send;
    send.presence = (room, change) => {
      const stored = presence(room, change);
      if (change.conn) changed(change.conn);
      return stored;
    };
    send.snapshotSent = (room, conn) => {
      snapshotSent(room, conn);
      changed(conn);
    };
  }
  // Several instances as one: remote members live in room.members; without a backplane nothing changes.
  const cluster = backplane ? createClusterRooms({ backplane, rooms, send, onError: report }) : undefined;
  const shared = cluster && createSharedStreams(options, rooms, send, drop);
  if (cluster) {
    rooms.onVacated = (room) => {
      cluster.release(room);
      shared?.release(room);
    };
    // A live tail of a room whose members are all on other instances reads the room's channel.
    send.watch.onRoom = (roomId, watched) => cluster.watch(roomId, watched);
    cluster.onWatchedFrame = (roomId, frame) => send.watch.seen(roomId, frame);
  }
  if (cluster && shared) {
    cluster.onSequenced = (room, frame, offset, chatId, sender) => shared.accept(room, frame, offset, chatId, sender);
    cluster.onResync = () => shared.recheckAll();
  }
  return { fanout, rooms, send, cluster, streams, shared };
}

/** Room streams in the backplane's shared state, when streams are on and the backplane keeps them. */
function createSharedStreams(options: ResolvedOptions, rooms: RoomManager, send: RoomSend, drop: Drop): SharedStreams | undefined {
  const store = options.backplane?.streams;
  if (!options.streams || !store) return undefined;
  const shared = new SharedStreams({
    store,
    options: options.streams,
    rooms,
    deliver: send.deliverSequenced,
    drop,
    report: (message, cause) => options.onError(new BackplaneError(message, { cause }), { stage: "backplane" }),
  });
  send.shareStreams(shared);
  return shared;
}

/**
 * One instance's room streams, in memory or kept by the runtime; `undefined` when they are off or a
 * backplane links several instances (offsets need one authority per room, which this instance alone is not).
 */
function createStreams(options: ResolvedOptions, rooms: RoomManager, runtime: RuntimeCapabilities): StreamLog | undefined {
  if (!options.streams || options.backplane) return undefined;
  if (runtime.streams) return runtime.streams(options.streams);
  return new RoomStreams(options.streams, (roomId) => rooms.get(roomId) !== undefined);
}

type Drop = (conn: Connection, code: number, reason: string) => void;

/** The crossws hooks in front of the registry and dispatch. */
function createSocketHooks(p: {
  options: ResolvedOptions;
  runtime: RuntimeCapabilities;
  guard: Guard;
  metrics: Metrics;
  registry: Registry;
  dispatch: Dispatch;
  drop: Drop;
  faults: ReturnType<typeof createClientFaults>;
  refusals: Refusals;
  closing: () => boolean;
}): BoundHooks {
  const { options, runtime, guard, metrics, registry, drop, faults, refusals } = p;
  return bindHooks({
    upgrade: createUpgrade({ options, guard, runtime, report: options.onError, refusals, closing: p.closing }),
    open(peer, user) {
      const conn = registry.opened(peer, user);
      metrics.opens++;
      if (p.closing()) drop(conn, CloseCodes.GOING_AWAY, "Server is shutting down");
      else if (!guard.admit(conn, () => peer.remoteAddress)) {
        refusals.record("rate");
        drop(conn, CloseCodes.POLICY_VIOLATION, "Too many connections from this address");
      }
      return conn;
    },
    receive: p.dispatch.receive,
    ping(conn, data) {
      if (runtime.answerPing?.(conn.peer, data, options.maxBufferedBytes) === false)
        drop(conn, CloseCodes.SLOW_CONSUMER, "Slow consumer: outgoing buffer full");
    },
    drop,
    closed: registry.closed,
    socketError: (error) => faults.record(error),
    maxPayload: runtime.nativeMaxPayload ? 0 : options.maxPayload,
  });
}

/**
 * Wires the engine's parts: the registry (open connections), the room manager (where each one is),
 * membership, presence, events and chat (what a member can do), dispatch (frames → actions), one
 * room-send path (local fan-out + backplane), the app hooks and server API, and the crossws hooks in
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
  const app = new AppHooks(options.hooks, input, report);
  const webhooks = options.webhooks ? createWebhooks(options.webhooks, report) : undefined;
  if (webhooks) app.observe(webhooks.lifecycle);
  if (cluster) cluster.onEmptied = (roomId) => app.emptied(roomId);
  const ctx: EngineContext = {
    ...{ options, report, rooms, send, cluster, streams, shared, guard, drop, hooks: app },
    storage: chatStorage.storage,
    bans: new RoomBans(backplane?.bans ?? runtime.bans, report),
    armExpiry: (conn, exp) => registry.armExpiry(conn, exp),
  };
  const presence = createPresence(ctx);
  // The verifier is built once so key caches live as long as the server and bad auth config fails at start-up.
  const verifyToken = options.auth ? createTokenVerifier(options.auth) : undefined;
  const membership = createMembership(ctx, presence, verifyToken);
  const dispatch = new Dispatch(ctx, { membership, presence, events: createEvents(ctx), chat: createChat(ctx) }, metrics);
  const registry = new Registry({
    rooms,
    closeOnTokenExpiry: options.closeOnTokenExpiry,
    expiry: runtime.expiry,
    remove: membership.remove,
    released: (conn) => {
      metrics.closes++;
      guard.release(conn);
    },
    attach: fanout.attach?.bind(fanout),
    ping: fanout.ping?.bind(fanout),
    report,
  });
  const [faults, refusals] = [createClientFaults(report), createRefusals(report)];
  const socket = { options, runtime, guard, metrics, registry, dispatch, drop, faults, refusals };
  const { hooks, receiveText } = createSocketHooks({ ...socket, closing: () => closing });
  // Documents have their own hooks and state; the rooms' paths above do not know they exist.
  const documents =
    options.documents &&
    createDocumentSide({
      options: options.documents,
      admit: createUpgrade({ options, guard, runtime, report, refusals, closing: () => closing }),
      verifyToken,
      link: backplane?.documents,
      report: (error) => report(error, { stage: "documents" }),
    });

  if (documents && webhooks?.documentChanged) documents.onChange(documentChangeListener(webhooks.documentChanged));
  if (backplane) startBackplane(backplane, cluster!, options);
  const sweeper = streams instanceof RoomStreams && backgroundInterval(() => streams.sweep(), Math.min(streams.options.ttlMs, SWEEP_MS));
  const stopHeartbeat =
    options.heartbeatIntervalMs > 0 && !runtime.nativeHeartbeat ? registry.startHeartbeat(options.heartbeatIntervalMs) : undefined;
  const probes = createProbes({
    storage: untimedStorage,
    backplane,
    closing: () => closing,
    metrics: () => Object.assign(metrics, { rateLimitedFrames: guard.rateLimitedFrames, refusedUpgrades: refusals.totals() }),
    documents: documents && (() => documents.metrics.render(documents.connections)),
    counts: () => ({ connections: registry.size, rooms: rooms.size }),
    webhooks: webhooks && (() => webhooks.stats()),
  });

  let closed: Promise<void> | undefined;
  return {
    ...{ hooks, receiveText, options, rooms, metrics: probes.metrics, ready: probes.ready, history: probes.history },
    api: createLiveApi(ctx, input, backplane),
    observe: (observer) => app.observe(observer),
    documents,
    restore(peer, saved) {
      const conn = registry.restored(peer, saved.id, saved.user, saved.verified);
      guard.admit(conn, () => undefined);
      bindConnection(peer, conn);
      if (saved.room) {
        rooms.beginJoin(conn, saved.room.id, saved.room.entry);
        rooms.completeJoin(conn);
      }
      if (saved.user) registry.armExpiry(conn, saved.user.exp);
      return conn;
    },
    connections: {
      get size() {
        return registry.size;
      },
      [Symbol.iterator]: () => rooms.connections(),
    },
    close: () =>
      (closed ??= (async () => {
        closing = true;
        probes.history.stop();
        stopHeartbeat?.();
        if (sweeper) clearInterval(sweeper);
        guard.stop();
        faults.stop();
        await documents?.close();
        refusals.stop();
        await shutdown({ registry, send, cluster, backplane, storage, report, webhooks });
      })()),
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
