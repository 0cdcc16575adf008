import type { ClusterRooms } from "./cluster-rooms.ts";
import type { OnError } from "../errors.ts";
import type { ResolvedOptions } from "../options.ts";
import type { CompleteChatStorage } from "../storage/capabilities.ts";
import type { AppCallbacks } from "./app-callbacks.ts";
import type { RoomBans } from "./bans.ts";
import type { Connection } from "./connection.ts";
import type { Guard } from "./guard.ts";
import type { RoomManager } from "./room.ts";
import type { RoomSend } from "./room-send.ts";
import type { SharedStreams } from "./shared-streams.ts";
import type { StreamLog } from "./streams.ts";

/**
 * What the engine's parts share. Built once by `createLiveEngine`; each part (registry, membership,
 * presence, chat, events, dispatch) takes it and keeps its own state to itself.
 */
export interface EngineContext {
  readonly options: ResolvedOptions;
  /** The server's error reporter (never throws). */
  readonly report: OnError;
  /** `options.storage` with every method (see `withChatCapabilities`): native, or emulated over `append` and `getHistory`. */
  readonly storage: CompleteChatStorage;
  readonly rooms: RoomManager;
  readonly send: RoomSend;
  /** Remote members of local rooms, with a backplane. */
  readonly cluster: ClusterRooms | undefined;
  /** Offsets, backlog and idempotency keys of every room (streams on, one instance, or kept by the runtime). */
  readonly streams: StreamLog | undefined;
  /** Room streams in the backplane's shared state (streams on, a backplane that keeps them). */
  readonly shared: SharedStreams | undefined;
  /** Origins, connection counts, rate limits. */
  readonly guard: Guard;
  /** Room bans (moderation): memory, and shared state with a backplane that stores them. */
  readonly bans: RoomBans;
  /** The app's callbacks and the lifecycle observers (webhooks). */
  readonly callbacks: AppCallbacks;
  /** Leave the room at once, close the socket, and make sure it is gone shortly after. */
  drop(conn: Connection, code: number, reason: string): void;
  /** Close `conn` with 4401 when its token expires (`exp` in seconds), if `closeOnTokenExpiry`. */
  armExpiry(conn: Connection, exp: unknown): void;
}
