/**
 * The state snapshot a client's subscribers see: replaced (never mutated) on each change, then handed to
 * every listener.
 */
import type { RoomPermissions } from "../protocol/messages.ts";
import type { ClientStatus, ConnectionStatus, LiveSyncClientState } from "./api.ts";

/** What a member may send when `room_joined` carries no `permissions` (every server before them too). */
export const FULL_ACCESS: RoomPermissions = Object.freeze({ presence: "write", events: "write", chat: "write" });

/** The room part of the state when there is no room (left, or another one being joined). */
export const EMPTY_ROOM = {
  currentRoomId: null,
  inRoom: false,
  connectionId: null,
  presence: {},
  chatMessages: [],
  pendingMessages: [],
  chatGaps: [],
  hasMoreHistory: false,
  recovered: null,
  permissions: null,
} satisfies Partial<LiveSyncClientState>;

export const INITIAL_STATE: LiveSyncClientState = {
  connectionStatus: "closed",
  status: "idle",
  reconnectAttempt: 0,
  ...EMPTY_ROOM,
  lastError: null,
};

/** The upstream client's three-valued status, from ours. */
export const CONNECTION_STATUS: Record<ClientStatus, ConnectionStatus> = {
  idle: "closed",
  stopped: "closed",
  connecting: "connecting",
  reconnecting: "connecting",
  unreachable: "connecting",
  open: "open",
};

export class StateStore {
  state: LiveSyncClientState = INITIAL_STATE;
  private readonly listeners = new Set<(state: LiveSyncClientState) => void>();

  /** A new snapshot with `patch` applied, sent to every listener (those subscribed when it was made). */
  update(patch: Partial<LiveSyncClientState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of [...this.listeners]) listener(this.state);
  }

  subscribe(listener: (state: LiveSyncClientState) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
