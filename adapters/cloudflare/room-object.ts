import type { Hooks, Peer } from "crossws";
import { Hono } from "hono";
import { addApiRoutes } from "../../src/api/routes.ts";
import { addMonitoringRoutes } from "../shared/monitoring.ts";
import { createDurableBans } from "./durable-bans.ts";
import { DurableStreams } from "./durable-streams.ts";
import { ExpiryAlarm } from "./expiry-alarm.ts";
import { createLiveEngine, type LiveEngine } from "../../src/engine/engine.ts";
import type { Connection, PeerLike } from "../../src/engine/connection.ts";
import { connectionOf } from "../../src/engine/hooks.ts";
import type { UserInfo } from "../../src/protocol/messages.ts";
import { SavedConnections } from "./attachment.ts";
import { createDurableChatStorage } from "./durable-storage.ts";
import { ROOM_HEADER, USER_HEADER, type CloudflareOptions } from "./options.ts";
import { socketPair, switchingProtocols, type DurableObjectStateLike, type HibernatableSocket } from "./shapes.ts";

/** crossws's hooks, called with this adapter's peers (the engine reads only `PeerLike` and `context`). */
type EngineHooks = Required<Pick<Hooks, "upgrade" | "open" | "message" | "close" | "error">>;

/** A hibernatable socket as the engine's peer. A socket that is already closing throws on send; that is not an error here. */
class DurablePeer implements PeerLike {
  readonly ws: HibernatableSocket;
  readonly context: Record<string, unknown>;
  /** The close hook ran; a second close (error, then close) is ignored. */
  gone = false;

  constructor(ws: HibernatableSocket, context: Record<string, unknown>) {
    this.ws = ws;
    this.context = context;
  }
  send(data: string): void {
    try {
      this.ws.send(data);
    } catch {}
  }
  close(code?: number, reason?: string): void {
    try {
      this.ws.close(code, reason);
    } catch {}
  }
  terminate(): void {
    this.close(1011, "Closed by the server");
  }
}

const asPeer = (peer: DurablePeer) => peer as unknown as Peer;
/** The code to answer a client's close with: its own, or 1000 for one a server may not send (1005, 1006, 1015). */
const answerCode = (code: number) => (code === 1005 || code === 1006 || code === 1015 || code < 1000 || code > 4999 ? 1000 : code);

/** A room's Durable Object, as workerd calls it. */
export interface LiveRoomObject {
  fetch(request: Request): Promise<Response>;
  webSocketMessage(ws: HibernatableSocket, message: string | ArrayBuffer): Promise<void>;
  webSocketClose(ws: HibernatableSocket, code: number, reason: string): Promise<void>;
  webSocketError(ws: HibernatableSocket, error: unknown): Promise<void>;
  alarm(): Promise<void>;
  /** The engine of this object (one room), for tests and benchmarks run inside workerd. */
  readonly engine: LiveEngine;
}

/** The Durable Object class to export from the Worker and bind in wrangler.toml. */
export type LiveRoomClass = new (ctx: DurableObjectStateLike, env: Record<string, unknown>) => LiveRoomObject;

/** Everything the object's engine keeps outside memory, and the routes it serves over HTTP. */
interface RoomParts {
  engine: LiveEngine;
  saved: SavedConnections;
  expiry: ExpiryAlarm;
  http: Hono;
}

/**
 * The engine of one room's object: chat, streams and bans in the object's SQLite, token expiry on its
 * alarm, members saved with their sockets (`keep`), and `join_room` allowed for `home()` only.
 */
function createRoomParts(
  ctx: DurableObjectStateLike,
  options: CloudflareOptions,
  home: () => string | undefined,
  keep: (conn: Connection) => void,
): RoomParts {
  const storage = options.chat?.storage ?? createDurableChatStorage(ctx.storage);
  const authorizeRoom = options.authorizeRoom;
  const expiry = new ExpiryAlarm(ctx.storage);
  const engine = createLiveEngine(
    {
      ...options,
      chat: { ...options.chat, storage },
      // The Worker ran onAuth at the upgrade and forwards its answer; this object is reachable only through the Worker.
      onAuth: options.onAuth ? trustedUser : undefined,
      // An object serves its own room: joining another one here would split that room in two.
      authorizeRoom: (user, roomId) => roomId === home() && (authorizeRoom ? authorizeRoom(user, roomId) : true),
    },
    {
      nativeHeartbeat: true,
      memberChanged: keep,
      streams: (resolved) => new DurableStreams(ctx.storage, resolved),
      bans: createDurableBans(ctx.storage),
      expiry: expiry.arm,
    },
  );
  const http = new Hono();
  addMonitoringRoutes(http, engine);
  addApiRoutes(http, engine, options.api && { ...options.api, admin: false });
  return { engine, saved: new SavedConnections(ctx.storage), expiry, http };
}

/**
 * The Durable Object that holds one room: the engine (presence, broadcast, chat, history, resume,
 * exactly-once sends, streams, bans, the limits) over the object's hibernatable WebSockets, and the HTTP
 * API's routes for its room. It speaks workerd's hibernation API itself rather than through crossws's
 * Durable Object adapter, whose attachment crossws rewrites on every restore: each member's room and
 * presence must live in that same attachment.
 *
 * Hibernation: when nothing happens for a while workerd evicts the object and keeps its sockets open.
 * The next frame (or the alarm) constructs it again; the constructor puts every socket's connection back
 * in its room from the socket's attachment (see attachment.ts), so members and presence are as they were
 * and nobody is told anything. No timer runs in an idle room: the heartbeat is off (workerd answers
 * pings), token expiry is the object's alarm, streams trim on write.
 */
class RoomObject implements LiveRoomObject {
  readonly #ctx: DurableObjectStateLike;
  readonly #parts: RoomParts;
  readonly #hooks: EngineHooks;
  readonly #peers = new WeakMap<HibernatableSocket, DurablePeer>();
  /** The room this object serves ("" for the lobby object, which serves none): from the Worker's header, or a woken socket's attachment. */
  #home: string | undefined;

  constructor(ctx: DurableObjectStateLike, options: CloudflareOptions) {
    this.#ctx = ctx;
    this.#parts = createRoomParts(
      ctx,
      options,
      () => this.#home,
      (conn) => this.#keep(conn),
    );
    this.#hooks = this.#parts.engine.hooks as EngineHooks;
    for (const ws of ctx.getWebSockets()) this.#wake(ws);
  }

  /** An upgrade the Worker forwarded (the engine's checks, then a hibernatable socket), or an HTTP API request. */
  async fetch(request: Request): Promise<Response> {
    this.#home ??= request.headers.get(ROOM_HEADER) ?? "";
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return this.#parts.http.fetch(request);
    const answer = (await this.#hooks.upgrade(request as never)) as Response | { context?: Record<string, unknown> } | undefined;
    if (answer instanceof Response) return answer;
    const { client, server } = socketPair<HibernatableSocket>();
    this.#ctx.acceptWebSocket(server);
    const peer = new DurablePeer(server, answer?.context ?? {});
    this.#peers.set(server, peer);
    this.#hooks.open(asPeer(peer));
    const conn = connectionOf(peer);
    if (conn) this.#keep(conn);
    return switchingProtocols(client);
  }

  async webSocketMessage(ws: HibernatableSocket, message: string | ArrayBuffer): Promise<void> {
    const peer = this.#peers.get(ws);
    if (!peer) return ws.close(1011, "Connection state lost");
    const text = typeof message === "string" ? message : new TextDecoder().decode(message);
    await this.#hooks.message(asPeer(peer), { text: () => text } as never);
  }

  async webSocketClose(ws: HibernatableSocket, code: number, reason: string): Promise<void> {
    this.#gone(ws, code, reason);
    // Completes the closing handshake (workerd before compatibility date 2026-04-07 does not).
    try {
      ws.close(answerCode(code), reason);
    } catch {}
  }

  async webSocketError(ws: HibernatableSocket, error: unknown): Promise<void> {
    const peer = this.#peers.get(ws);
    if (peer) await this.#hooks.error(asPeer(peer), error as never);
    this.#gone(ws, 1006, "");
  }

  /** The alarm set for the earliest token expiry: those members are closed with 4401. */
  async alarm(): Promise<void> {
    this.#parts.expiry.fire();
  }

  get engine(): LiveEngine {
    return this.#parts.engine;
  }

  #gone(ws: HibernatableSocket, code: number, reason: string): void {
    const peer = this.#peers.get(ws);
    if (!peer || peer.gone) return;
    peer.gone = true;
    const conn = connectionOf(peer);
    this.#hooks.close(asPeer(peer), { code, reason } as never);
    if (conn) this.#parts.saved.forget(conn.id);
  }

  /** A socket whose object was evicted: its connection back where it was. */
  #wake(ws: HibernatableSocket): void {
    const loaded = this.#parts.saved.load(ws);
    if (!loaded) {
      try {
        ws.close(1011, "Connection state lost");
      } catch {}
      return;
    }
    this.#home ??= loaded.home;
    const peer = new DurablePeer(ws, loaded.saved.user ? { user: loaded.saved.user } : {});
    this.#peers.set(ws, peer);
    this.#parts.engine.restore(peer, loaded.saved);
  }

  /** Keep what `conn` needs to wake with its socket, with its token's expiry (a join token's is not in its identity). */
  #keep(conn: Connection): void {
    if (conn.closed) return;
    const peer = conn.peer as DurablePeer;
    const saved = conn.saved();
    const expiresAt = this.#parts.expiry.at(conn);
    if (expiresAt !== undefined && saved.user) saved.user = { ...saved.user, exp: expiresAt / 1000 };
    try {
      this.#parts.saved.save(peer.ws, this.#home ?? "", saved);
    } catch (error) {
      this.#parts.engine.options.onError(error, { stage: "socket" });
    }
  }
}

/** The Durable Object class to export from the Worker and bind in wrangler.toml, with the options for its `env`. */
export function createRoomClass(optionsFor: (env: Record<string, unknown>) => CloudflareOptions): LiveRoomClass {
  return class LiveRoom extends RoomObject {
    constructor(ctx: DurableObjectStateLike, env: Record<string, unknown>) {
      super(ctx, optionsFor(env));
    }
  };
}

/** The identity the Worker put in {@link USER_HEADER}; null (401) without it. */
function trustedUser(request: Request): UserInfo | null {
  const header = request.headers.get(USER_HEADER);
  return header ? (JSON.parse(decodeURIComponent(header)) as UserInfo) : null;
}
