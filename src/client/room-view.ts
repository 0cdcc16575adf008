/**
 * Pure updates of what the client shows of a room: the presence map kept from the server's diffs, and the
 * chat list merged from history, live messages and older pages. Each returns new objects (state snapshots
 * are immutable, so a React store can compare them by reference).
 */
import type { Presence, PresenceEntry, PresenceUpdatedPayload } from "../protocol/messages.ts";
import type { ChatMessage } from "./wire.ts";

export type PresenceMap = Record<string, PresenceEntry>;

/**
 * Apply one `presence_updated`. The server sends one kind per frame; when several are present they apply
 * as joined, updated, then left, so a member that came and went in one frame ends up gone.
 */
export function applyPresenceDiff(map: PresenceMap, diff: PresenceUpdatedPayload): PresenceMap {
  const next: PresenceMap = { ...map };
  for (const entry of diff.joined ?? []) next[entry.connectionId] = entry;
  for (const entry of diff.updated ?? []) next[entry.connectionId] = entry;
  for (const id of diff.left ?? []) delete next[id];
  return next;
}

/** `map` with the own entry (`self`) showing `wanted`, when there is an entry and a presence to show. */
export function withOwnPresence(map: PresenceMap, self: string, wanted: Presence | undefined): PresenceMap {
  const own = map[self];
  return own && wanted !== undefined ? { ...map, [self]: { ...own, presence: wanted } } : map;
}

/** `messages` with `incoming` appended, skipping ids already present. */
export function appendMessages(messages: readonly ChatMessage[], incoming: readonly ChatMessage[]): ChatMessage[] {
  const seen = new Set(messages.map((m) => m.id));
  const added = incoming.filter((m) => !seen.has(m.id) && seen.add(m.id));
  return added.length === 0 ? (messages as ChatMessage[]) : [...messages, ...added];
}

/** `older` (oldest first) put before `messages`, skipping ids already present. */
export function prependMessages(messages: readonly ChatMessage[], older: readonly ChatMessage[]): ChatMessage[] {
  const seen = new Set(messages.map((m) => m.id));
  const added = older.filter((m) => !seen.has(m.id) && seen.add(m.id));
  return [...added, ...messages];
}

export interface ChatView {
  messages: ChatMessage[];
  /** Ids of messages after which messages may be missing (the server could not resume there). */
  gaps: string[];
}

/**
 * The chat after a `room_joined`. A first join takes the history as is. A rejoin asked to resume after
 * `askedAfter`: when the server resumed, the history is exactly what came after it; when it did not, the
 * history is the newest page, which either still contains `askedAfter` (nothing missed) or does not (a gap).
 */
export function chatAfterJoin(view: ChatView, history: readonly ChatMessage[], askedAfter: string | undefined, resumed: boolean): ChatView {
  if (askedAfter === undefined) return { messages: appendMessages([], history), gaps: [] };
  if (resumed) return { messages: appendMessages(view.messages, history), gaps: view.gaps };
  const at = history.findIndex((m) => m.id === askedAfter);
  if (at >= 0) return { messages: appendMessages(view.messages, history.slice(at + 1)), gaps: view.gaps };
  return { messages: appendMessages(view.messages, history), gaps: [...view.gaps, askedAfter] };
}
