import type { Hooks, Peer } from "crossws";
import { createTokenVerifier } from "../auth/tokens.ts";
import { createClusterRooms, type ClusterRooms } from "../cluster/cluster-rooms.ts";
import { presenceFrame } from "../protocol/frames.ts";
import { CloseCodes, ErrorCodes, ProtocolError } from "../errors.ts";
import { createLoopFanout, type CreateFanout, type Fanout } from "./fanout.ts";
import { resolveOptions, type ResolvedOptions, type WebSocketServerOptions } from "../options.ts";
import {
  MSG_BROADCAST_EVENT,
  MSG_BROADCAST_EVENT_RELAY,
  MSG_CHAT_MESSAGE,
  MSG_ERROR,
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_PRESENCE_UPDATED,
  MSG_ROOM_JOINED,
  MSG_SEND_CHAT,
  MSG_UPDATE_PRESENCE,
  type BroadcastEventPayload,
  type ChatMessagePayload,
  type JoinRoomPayload,
  type Presence,
  type SendChatPayload,
  type StoredChatMessage,
  type UserInfo,
} from "../protocol/messages.ts";
import { Connection, RoomManager, type PeerLike, type Room } from "./room.ts";
import { createMessageParser } from "../protocol/validate.ts";

/** What a runtime adapter tells the engine about itself. */
export interface RuntimeHooks {
  /** Builds the fan-out; defaults to one `peer.send` per member. */
  createFanout?: CreateFanout;
  /** Maps crossws's upgrade request to what `onAuth` receives (Node: the `IncomingMessage`). */
  authRequest?: (request: Request) => unknown;
  /** The runtime pings and times out idle sockets itself; the engine's heartbeat loop stays off. */
  nativeHeartbeat?: boolean;
  /** The runtime enforces `maxPayload` itself (closing with 1009). */
  nativeMaxPayload?: boolean;
}

export interface ConnectionsView extends Iterable<Connection> {
  readonly size: number;
}

/** The runtime-neutral server: crossws hooks plus the room state they drive. */
export interface LiveEngine {
  readonly hooks: Partial<Hooks>;
  readonly options: ResolvedOptions;
  readonly rooms: RoomManager;
  /** Every open connection (in a room or not). */
  readonly connections: ConnectionsView;
  /** Close every socket with 1001, close storage, and resolve when done. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
/** Close a dropped socket outright if its closing handshake has not finished by then. */
const TERMINATE_AFTER_MS = 1000;
/** Frames that may wait behind an in-flight join before the connection is told to slow down. */
const MAX_BACKLOG = 256;

function frameOf(type: string, payload: unknown): string {
  return JSON.stringify({ type, payload });
}

/** Shared by every connection without a chat in flight. */
const SETTLED: Promise<void> = Promise.resolve();

/** Each peer carries its connection, so finding it costs no map entry per socket. */
const CONN = Symbol("openlivesync.connection");
const connectionOf = (peer: unknown) => (peer as Record<symbol, Connection | undefined>)[CONN];

export function createLiveEngine(userOptions: WebSocketServerOptions = {}, runtime: RuntimeHooks = {}): LiveEngine {
  const options = resolveOptions(userOptions);
  const { storage, onError, presenceThrottleMs, historyLimit, maxPayload } = options;
  const parse = createMessageParser(options);
  const rooms = new RoomManager();
  // A connection sits in exactly one collection: its room's `joining` or `local` set, or, outside any
  // room, the lobby. Idle connections are most of a server's memory; a second index would cost an
  // entry each.
  const lobby = new Set<Connection>();
  let openCount = 0;
  function* eachConnection(): Generator<Connection> {
    yield* lobby;
    for (const room of rooms.rooms.values()) {
      yield* room.joining.keys();
      yield* room.local;
    }
  }
  const connections: ConnectionsView = {
    get size() {
      return openCount;
    },
    [Symbol.iterator]: eachConnection,
  };
  const authRequest = runtime.authRequest ?? ((request: Request) => request);
  // Built once so key caches live as long as the server and bad auth config fails at start-up.
  const verifyToken = options.auth ? createTokenVerifier(options.auth) : undefined;
  let closing = false;

  const fanout: Fanout = (runtime.createFanout ?? createLoopFanout)({
    maxBufferedBytes: options.maxBufferedBytes,
    overLimit: (conn) => drop(conn, CloseCodes.SLOW_CONSUMER, "Slow consumer: outgoing buffer full"),
  });

  // Several instances as one: remote members live in room.members, every local room message is
  // also published once. Without a backplane `cluster` stays undefined and nothing below changes.
  const backplane = options.backplane;
  let cluster: ClusterRooms | undefined;
  if (backplane) {
    cluster = createClusterRooms({ backplane, rooms, fanout, onError });
    // `processLocal` marks a storage whose history lives in this process only (the in-memory default).
    // With `historyLimit: 0` no history is ever read back, so there is nothing to share.
    if (storage.processLocal === true && historyLimit > 0) {
      console.warn(
        "[openlivesync] A backplane is configured but chat history is in memory: each instance keeps its own. Pass chat.storage (Postgres, MySQL, SQLite file) shared by all instances.",
      );
    }
    backplane.start(cluster.sink).catch((error) => onError(error, { stage: "backplane" }));
  }

  const sendError = (conn: Connection, code: string, message: string) =>
    fanout.send(conn, frameOf(MSG_ERROR, { code, message }));

  /** Leave the room at once, close the socket, and make sure it is gone shortly after. */
  function drop(conn: Connection, code: number, reason: string) {
    if (conn.closed) return;
    leave(conn);
    conn.closed = true;
    clearTimers(conn);
    try {
      conn.peer.close(code, reason);
    } catch (error) {
      onError(error, { stage: "close" });
    }
    const timer = setTimeout(() => {
      try {
        conn.peer.terminate();
      } catch {}
    }, TERMINATE_AFTER_MS);
    (timer as { unref?: () => void }).unref?.();
  }

  // Per-connection state that exists only while something is in progress, kept beside the
  // connections so an idle one pays nothing for it (see Connection).
  /** Frames that arrived while the connection's join is in flight; handled in order once it ends. */
  const backlogs = new Map<Connection, string[]>();
  /** The trailing presence send a throttled update is waiting for. */
  const presenceTimers = new Map<Connection, ReturnType<typeof setTimeout>>();
  /** The last chat of a connection still being stored; the next one is chained behind it. */
  const chatChains = new Map<Connection, Promise<void>>();
  /** Token expiry timers (tokens with `exp` and `closeOnTokenExpiry`). */
  const expiryTimers = new Map<Connection, ReturnType<typeof setTimeout>>();

  function clearPresenceTimer(conn: Connection) {
    clearTimeout(presenceTimers.get(conn));
    presenceTimers.delete(conn);
  }

  function clearTimers(conn: Connection) {
    clearPresenceTimer(conn);
    clearTimeout(expiryTimers.get(conn));
    expiryTimers.delete(conn);
  }

  function armExpiry(conn: Connection, exp: unknown) {
    if (!options.closeOnTokenExpiry || typeof exp !== "number") return;
    clearTimeout(expiryTimers.get(conn));
    expiryTimers.delete(conn);
    const delay = exp * 1000 - Date.now();
    if (delay <= 0) return drop(conn, CloseCodes.UNAUTHORIZED, "Token expired");
    // setTimeout holds 2^31-1 ms at most; a token living longer than ~24 days is re-armed when that fires.
    const timer = setTimeout(() => armExpiry(conn, exp), Math.min(delay, 2 ** 31 - 1));
    (timer as { unref?: () => void }).unref?.();
    expiryTimers.set(conn, timer);
  }

  // ---- room membership ----------------------------------------------------------------------

  function leave(conn: Connection) {
    const room = conn.room;
    if (!room) return;
    conn.room = undefined;
    conn.member = undefined;
    clearPresenceTimer(conn);
    room.joining.delete(conn);
    if (room.local.delete(conn)) fanout.leave?.(conn, room);
    lobby.add(conn);
    if (room.members.delete(conn.id)) {
      const frame = frameOf(MSG_PRESENCE_UPDATED, { roomId: room.id, left: [conn.id] });
      fanout.publish(room, frame, conn);
      backplane?.publish({ kind: "left", roomId: room.id, connectionId: conn.id, frame });
    }
    if (cluster && room.local.size === 0 && room.joining.size === 0) cluster.release(room);
    rooms.removeIfEmpty(room);
  }

  async function join(conn: Connection, payload: JoinRoomPayload) {
    leave(conn);
    const { roomId } = payload;

    if (payload.accessToken !== undefined && !conn.verified && verifyToken) {
      const decoded = await verifyToken(payload.accessToken);
      if (conn.closed) return;
      if (!decoded) return sendError(conn, ErrorCodes.UNAUTHORIZED, "accessToken could not be verified; send a valid token");
      const { sub, exp, ...claims } = decoded;
      conn.user = { ...claims, userId: decoded.userId ?? sub } as UserInfo;
      conn.verified = true;
      armExpiry(conn, exp);
    } else if (!conn.verified && (payload.name !== undefined || payload.email !== undefined)) {
      // Unverified display data, as the upstream client sends it.
      conn.user = { ...conn.user, name: payload.name ?? conn.user?.name, email: payload.email ?? conn.user?.email };
    }

    if (options.authorizeRoom) {
      let allowed = false;
      try {
        allowed = await options.authorizeRoom(conn.user, roomId);
      } catch (error) {
        onError(error, { stage: "auth" });
      }
      if (conn.closed) return;
      if (!allowed) return sendError(conn, ErrorCodes.FORBIDDEN, `Not allowed to join room "${roomId}"`);
    }

    const room = rooms.getOrCreate(roomId);
    conn.room = room;
    conn.member = conn.entry(payload.presence ?? {});
    lobby.delete(conn);
    room.joining.set(conn, []);
    room.members.set(conn.id, conn.member);
    const entry = JSON.stringify(conn.member);
    const joinedFrame = presenceFrame(roomId, "joined", entry);
    fanout.publish(room, joinedFrame, conn);
    backplane?.publish({ kind: "joined", roomId, connectionId: conn.id, frame: joinedFrame, entry });
    // First local member here: read the members on other instances while history loads.
    const remoteMembers = cluster?.prepare(room);

    let history: StoredChatMessage[] = [];
    if (historyLimit > 0) {
      try {
        history = await storage.getHistory(roomId, historyLimit);
      } catch (error) {
        onError(error, { stage: "history" });
        sendError(conn, ErrorCodes.STORAGE_ERROR, "Chat history could not be loaded; live messages still arrive");
      }
    }
    if (remoteMembers) await remoteMembers;
    if (conn.closed || conn.room !== room) return;

    const held = room.joining.get(conn) ?? [];
    room.joining.delete(conn);
    room.local.add(conn);
    fanout.join?.(conn, room);
    fanout.send(
      conn,
      frameOf(MSG_ROOM_JOINED, { roomId, connectionId: conn.id, presence: room.snapshot(), chatHistory: history }),
    );
    if (held.length > 0) {
      const seen = new Set(history.map((m) => m.id));
      for (const { frame, chatId } of held) if (!seen.has(chatId)) fanout.send(conn, frame);
    }
  }

  // ---- presence, events, chat ---------------------------------------------------------------

  function updatePresence(conn: Connection, presence: Presence) {
    conn.member!.presence = presence;
    if (presenceTimers.has(conn)) return; // the pending trailing send will carry this newest value
    const wait = conn.lastPresenceAt + presenceThrottleMs - Date.now();
    if (wait <= 0) emitPresence(conn);
    else presenceTimers.set(conn, setTimeout(flushPresence, wait, conn));
  }

  function flushPresence(conn: Connection) {
    presenceTimers.delete(conn);
    // A timer callback has no caller to catch for it: a throw here would end the process.
    try {
      if (conn.room && !conn.closed) emitPresence(conn);
    } catch (error) {
      onError(error, { stage: "message" });
    }
  }

  function emitPresence(conn: Connection) {
    const room = conn.room!;
    conn.lastPresenceAt = Date.now();
    const entry = JSON.stringify(conn.member);
    const frame = presenceFrame(room.id, "updated", entry);
    fanout.publish(room, frame, conn);
    backplane?.publish({ kind: "updated", roomId: room.id, connectionId: conn.id, frame, entry });
  }

  function relayEvent(conn: Connection, payload: BroadcastEventPayload) {
    const room = conn.room!;
    const relay = { roomId: room.id, connectionId: conn.id, userId: conn.user?.userId, event: payload.event, payload: payload.payload };
    const frame = frameOf(MSG_BROADCAST_EVENT_RELAY, relay);
    fanout.publish(room, frame, conn);
    backplane?.publish({ kind: "event", roomId: room.id, connectionId: conn.id, frame });
  }

  function sendChat(conn: Connection, payload: SendChatPayload) {
    const roomId = conn.room!.id;
    const user = conn.user;
    const chat: ChatMessagePayload = {
      id: crypto.randomUUID(),
      roomId,
      connectionId: conn.id,
      userId: user?.userId,
      name: user?.name,
      email: user?.email,
      provider: user?.provider,
      message: payload.message,
      metadata: payload.metadata,
      createdAt: Date.now(),
    };
    const chain = (chatChains.get(conn) ?? SETTLED).then(async () => {
      try {
        await storage.append(roomId, {
          id: chat.id,
          connectionId: chat.connectionId,
          userId: chat.userId,
          name: chat.name,
          message: chat.message,
          metadata: chat.metadata,
          createdAt: chat.createdAt,
        });
      } catch (error) {
        onError(error, { stage: "storage" });
        return sendError(conn, ErrorCodes.STORAGE_ERROR, "Chat message was not stored and not sent; try again");
      }
      const frame = frameOf(MSG_CHAT_MESSAGE, chat);
      // Relayed even when the sender left meanwhile: the message is stored, so everyone sees it.
      backplane?.publish({ kind: "chat", roomId, connectionId: conn.id, frame });
      const room = rooms.get(roomId);
      if (room) {
        fanout.publish(room, frame, undefined);
        for (const held of room.joining.values()) held.push({ frame, chatId: chat.id });
      }
      // The sender always gets its acknowledgement, even if it left the room meanwhile.
      if (room?.local.has(conn) !== true) fanout.send(conn, frame);
    }).catch((error) => onError(error, { stage: "message" })); // never rejects, so later chats still run
    chatChains.set(conn, chain);
    void chain.then(() => {
      if (chatChains.get(conn) === chain) chatChains.delete(conn);
    });
  }

  // ---- message dispatch -----------------------------------------------------------------------

  function handle(conn: Connection, raw: string): void {
    let msg;
    try {
      msg = parse(raw);
    } catch (error) {
      if (error instanceof ProtocolError) return sendError(conn, error.code, error.message);
      throw error;
    }
    if (msg.type === MSG_JOIN_ROOM) {
      backlogs.set(conn, []);
      join(conn, msg.payload)
        .catch((error) => {
          onError(error, { stage: "message" });
          if (!conn.closed) sendError(conn, ErrorCodes.INTERNAL_ERROR, "join_room failed inside the server");
        })
        .finally(() => drainBacklog(conn));
      return;
    }
    if (!conn.room) {
      return sendError(conn, ErrorCodes.NOT_IN_ROOM, `${msg.type} needs a room: send join_room first`);
    }
    switch (msg.type) {
      case MSG_LEAVE_ROOM:
        return leave(conn);
      case MSG_UPDATE_PRESENCE:
        return updatePresence(conn, msg.payload.presence);
      case MSG_BROADCAST_EVENT:
        return relayEvent(conn, msg.payload);
      case MSG_SEND_CHAT:
        return sendChat(conn, msg.payload);
    }
  }

  function drainBacklog(conn: Connection) {
    const backlog = backlogs.get(conn);
    backlogs.delete(conn);
    if (!backlog) return;
    for (let i = 0; i < backlog.length; i++) {
      if (conn.closed) return;
      const pending = backlogs.get(conn); // set again if a frame below starts a join
      if (pending) {
        // Another join started: the rest waits behind it, in order.
        pending.push(...backlog.slice(i));
        return;
      }
      safeHandle(conn, backlog[i]!);
    }
  }

  function safeHandle(conn: Connection, raw: string) {
    try {
      handle(conn, raw);
    } catch (error) {
      onError(error, { stage: "message" });
      sendError(conn, ErrorCodes.INTERNAL_ERROR, "The server failed to handle this message");
    }
  }

  function byteLength(text: string) {
    return text.length * 3 <= maxPayload ? text.length : encoder.encode(text).length;
  }

  // ---- crossws hooks --------------------------------------------------------------------------

  const hooks: Partial<Hooks> = {
    async upgrade(request) {
      if (closing) return new Response("Server is shutting down", { status: 503 });
      if (!options.onAuth) return;
      let user: UserInfo | null;
      try {
        user = await options.onAuth(authRequest(request));
      } catch (error) {
        onError(error, { stage: "auth" });
        return new Response("Authentication failed", { status: 500 });
      }
      if (!user) return new Response("Unauthorized", { status: 401 });
      return { context: { user } };
    },

    open(peer: Peer) {
      const user = peer.context?.user as UserInfo | undefined;
      const conn = new Connection(crypto.randomUUID(), peer, user, user !== undefined);
      (peer as unknown as Record<symbol, Connection>)[CONN] = conn;
      lobby.add(conn);
      openCount++;
      fanout.attach?.(conn);
      if (closing) return drop(conn, CloseCodes.GOING_AWAY, "Server is shutting down");
      if (user) armExpiry(conn, user.exp);
    },

    message(peer, message) {
      const conn = connectionOf(peer);
      if (!conn || conn.closed) return;
      conn.alive = true;
      const raw = message.text();
      if (!runtime.nativeMaxPayload && byteLength(raw) > maxPayload) {
        return drop(conn, CloseCodes.MESSAGE_TOO_BIG, `Frame larger than ${maxPayload} bytes`);
      }
      const backlog = backlogs.get(conn);
      if (backlog) {
        if (backlog.length >= MAX_BACKLOG) {
          return sendError(conn, ErrorCodes.INTERNAL_ERROR, "Too many messages while joining; this one was dropped");
        }
        backlog.push(raw);
        return;
      }
      safeHandle(conn, raw);
    },

    pong(peer) {
      const conn = connectionOf(peer);
      if (conn) conn.alive = true;
    },

    close(peer) {
      const conn = connectionOf(peer);
      if (!conn) return;
      openCount--;
      leave(conn);
      conn.closed = true;
      clearTimers(conn);
      lobby.delete(conn); // leave() put it there
      backlogs.delete(conn);
      if (closing && openCount === 0) allClosed?.();
    },

    error(peer, error) {
      onError(error, { stage: "socket" });
    },
  };

  // ---- heartbeat ----------------------------------------------------------------------------

  let heartbeat: ReturnType<typeof setInterval> | undefined;
  if (options.heartbeatIntervalMs > 0 && !runtime.nativeHeartbeat) {
    heartbeat = setInterval(() => {
      // A snapshot: dropping a connection moves it from its room to the lobby.
      for (const conn of [...eachConnection()]) {
        if (conn.closed) continue;
        if (!conn.alive) {
          drop(conn, CloseCodes.HEARTBEAT_TIMEOUT, "No heartbeat answer");
          continue;
        }
        conn.alive = false;
        try {
          conn.peer.ping?.();
        } catch (error) {
          onError(error, { stage: "heartbeat" });
        }
      }
    }, options.heartbeatIntervalMs);
    (heartbeat as { unref?: () => void }).unref?.();
  }

  let allClosed: (() => void) | undefined;
  let closed: Promise<void> | undefined;

  async function close(): Promise<void> {
    closing = true;
    if (heartbeat) clearInterval(heartbeat);
    const done = new Promise<void>((resolve) => {
      allClosed = resolve;
      if (openCount === 0) resolve();
    });
    for (const conn of [...eachConnection()]) drop(conn, CloseCodes.GOING_AWAY, "Server is shutting down");
    // Sockets that never finish their closing handshake are terminated by drop(); don't wait past that.
    await Promise.race([done, new Promise((r) => setTimeout(r, TERMINATE_AFTER_MS + 500))]);
    try {
      await backplane?.close(); // after every leave went out, so the others see them at once
    } catch (error) {
      onError(error, { stage: "backplane" });
    }
    try {
      await Promise.race([
        storage.close?.(),
        new Promise((_, reject) => setTimeout(() => reject(new Error("Chat storage did not close within 5 s")), 5000)),
      ]);
    } catch (error) {
      onError(error, { stage: "close" });
    }
  }

  return {
    hooks,
    options,
    rooms,
    connections,
    close: () => (closed ??= close()),
  };
}
