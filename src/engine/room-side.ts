import { BackplaneError } from "../cluster/backplane.ts";
import type { ResolvedOptions } from "../options.ts";
import { CloseCodes } from "../protocol/codes.ts";
import { createClusterRooms } from "./cluster-rooms.ts";
import type { Connection } from "./connection.ts";
import { createLoopFanout } from "./fanout.ts";
import type { Metrics } from "./metrics.ts";
import { RoomManager } from "./room.ts";
import { createRoomSend, type RoomSend } from "./room-send.ts";
import type { RuntimeCapabilities } from "./runtime.ts";
import { SharedStreams } from "./shared-streams.ts";
import { RoomStreams, type StreamLog } from "./streams.ts";

/** Every close the server decides: counted by its code, then the registry's drop. */
export type Drop = (conn: Connection, code: number, reason: string) => void;

/** The room side: fan-out, rooms, the one send path and (with a backplane) the remote members. */
export function createRoomSide(options: ResolvedOptions, runtime: RuntimeCapabilities, metrics: Metrics, drop: Drop) {
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
 * One instance's room streams, in memory; `undefined` when they are off or a backplane links several
 * instances (offsets need one authority per room, which this instance alone is not).
 */
function createStreams(options: ResolvedOptions, rooms: RoomManager, runtime: RuntimeCapabilities): StreamLog | undefined {
  if (!options.streams || options.backplane) return undefined;
  if (runtime.streams) return runtime.streams(options.streams);
  return new RoomStreams(options.streams, (roomId) => rooms.get(roomId) !== undefined);
}
