// `@openlivesync/server/engine`: what engine plug-ins build on. A fan-out (how frames reach local
// sockets) and a backplane (how instances share rooms) see the engine's connections and rooms; a
// runtime adapter creates the engine with what its runtime does itself. Runtime-neutral.

// Engine
export { createLiveEngine } from "./engine/engine.ts";
export { createLoopFanout } from "./engine/fanout.ts";

export type { LiveEngine, ConnectionsView, RuntimeCapabilities } from "./engine/engine.ts";
export type { Connection, Room, RoomManager, PeerLike, SavedConnection } from "./engine/room.ts";
export type { Fanout, FanoutContext, CreateFanout } from "./engine/fanout.ts";
export type { ResolvedOptions } from "./options.ts";
export type {
  Backplane,
  BackplaneSink,
  BackplaneMessage,
  OutgoingMessage,
  MemberChange,
  PresenceNews,
  RemoteMember,
  RoomState,
  MessageKind,
} from "./cluster/backplane.ts";
