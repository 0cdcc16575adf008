import type { Hooks, Peer } from "crossws";
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
/** Close codes a server may send (1005, 1006 and 1015 are only ever reported). */
/** The code to answer a client's close with: its own, or 1000 for one a server may not send (1005, 1006, 1015). */
const answerCode = (code: number) => (code === 1005 || code === 1006 || code === 1015 || code < 1000 || code > 4999 ? 1000 : code);

/** A room's Durable Object, as workerd calls it. */
export interface LiveRoomObject {
  fetch(request: Request): Promise<Response>;
  webSocketMessage(ws: HibernatableSocket, message: string | ArrayBuffer): Promise<void>;
  webSocketClose(ws: HibernatableSocket, code: number, reason: string): Promise<void>;
  webSocketError(ws: HibernatableSocket, error: unknown): Promise<void>;
  /** The engine of this object (one room), for tests and benchmarks run inside workerd. */
  readonly engine: LiveEngine;
}

/** The Durable Object class to export from the Worker and bind in wrangler.toml. */
export type LiveRoomClass = new (ctx: DurableObjectStateLike, env: Record<string, unknown>) => LiveRoomObject;

/**
 * The Durable Object class that holds one room: the engine (presence, broadcast, chat, history, resume,
 * exactly-once sends, the limits) over the object's hibernatable WebSockets, and chat in the object's
 * SQLite. It speaks workerd's hibernation API itself rather than through crossws's Durable Object adapter,
 * whose attachment crossws rewrites on every restore: each member's room and presence must live in that
 * same attachment.
 *
 * Hibernation: when nothing happens for a while workerd evicts the object and keeps its sockets open.
 * The next frame constructs it again; the constructor puts every socket's connection back in its room
 * from the socket's attachment (see attachment.ts), so members and presence are as they were and nobody
 * is told anything. The engine's heartbeat stays off (workerd answers pings), so an idle room runs no timer.
 */
export function createRoomClass(optionsFor: (env: Record<string, unknown>) => CloudflareOptions): LiveRoomClass {
  return class LiveRoom implements LiveRoomObject {
    readonly #ctx: DurableObjectStateLike;
    readonly #engine: LiveEngine;
    readonly #hooks: EngineHooks;
    readonly #saved: SavedConnections;
    readonly #peers = new WeakMap<HibernatableSocket, DurablePeer>();
    /** The room this object serves ("" for the lobby object, which serves none): from the Worker's header, or a woken socket's attachment. */
    #home: string | undefined;

    constructor(ctx: DurableObjectStateLike, env: Record<string, unknown>) {
      this.#ctx = ctx;
      this.#saved = new SavedConnections(ctx.storage);
      const options = optionsFor(env);
      const storage = options.chat?.storage ?? createDurableChatStorage(ctx.storage);
      const authorizeRoom = options.authorizeRoom;
      this.#engine = createLiveEngine(
        {
          ...options,
          chat: { ...options.chat, storage },
          // The Worker ran onAuth at the upgrade and forwards its answer; this object is reachable only through the Worker.
          onAuth: options.onAuth ? trustedUser : undefined,
          // An object serves its own room: joining another one here would split that room in two.
          authorizeRoom: (user, roomId) => roomId === this.#home && (authorizeRoom ? authorizeRoom(user, roomId) : true),
          // Room streams are not served at the edge yet (docs/cloudflare.md): an in-memory backlog would not
          // survive the object's hibernation, so offsets would promise what an evicted object cannot keep.
          streams: false,
        },
        { nativeHeartbeat: true, memberChanged: (conn) => this.#keep(conn) },
      );
      this.#hooks = this.#engine.hooks as EngineHooks;
      for (const ws of ctx.getWebSockets()) this.#wake(ws);
    }

    /** An upgrade the Worker forwarded: the engine's checks, then a hibernatable socket. */
    async fetch(request: Request): Promise<Response> {
      this.#home ??= request.headers.get(ROOM_HEADER) ?? "";
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

    get engine(): LiveEngine {
      return this.#engine;
    }

    #gone(ws: HibernatableSocket, code: number, reason: string): void {
      const peer = this.#peers.get(ws);
      if (!peer || peer.gone) return;
      peer.gone = true;
      const conn = connectionOf(peer);
      this.#hooks.close(asPeer(peer), { code, reason } as never);
      if (conn) this.#saved.forget(conn.id);
    }

    /** A socket whose object was evicted: its connection back where it was. */
    #wake(ws: HibernatableSocket): void {
      const loaded = this.#saved.load(ws);
      if (!loaded) {
        try {
          ws.close(1011, "Connection state lost");
        } catch {}
        return;
      }
      this.#home ??= loaded.home;
      const peer = new DurablePeer(ws, loaded.saved.user ? { user: loaded.saved.user } : {});
      this.#peers.set(ws, peer);
      this.#engine.restore(peer, loaded.saved);
    }

    /** Keep what `conn` needs to wake with its socket. */
    #keep(conn: Connection): void {
      if (conn.closed) return;
      const peer = conn.peer as DurablePeer;
      try {
        this.#saved.save(peer.ws, this.#home ?? "", conn.saved());
      } catch (error) {
        this.#engine.options.onError(error, { stage: "socket" });
      }
    }
  };
}

/** The identity the Worker put in {@link USER_HEADER}; null (401) without it. */
function trustedUser(request: Request): UserInfo | null {
  const header = request.headers.get(USER_HEADER);
  return header ? (JSON.parse(decodeURIComponent(header)) as UserInfo) : null;
}
