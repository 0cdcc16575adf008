import type { SharedBans } from "../cluster/backplane.ts";
import type { Connection } from "./connection.ts";
import type { CreateFanout } from "./fanout.ts";
import type { DocumentWire } from "../documents/document-wire.ts";
import type { ResolvedStreams, StreamLog } from "./streams.ts";

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
  /** Document broadcasts written as pre-built frames straight to the sockets (Node: past ws's Sender). */
  documentWire?: DocumentWire;
}
