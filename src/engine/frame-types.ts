import {
  MSG_BROADCAST_EVENT,
  MSG_GET_CHAT_HISTORY,
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_SEND_CHAT,
  MSG_UPDATE_PRESENCE,
  type ClientMessage,
} from "../protocol/messages.ts";

/**
 * The message types `/metrics` counts, each at its index in the list (counters are typed arrays). A
 * parsed message counts by its type; a frame that is not parsed, or fails to, and a frame the engine
 * sends without saying its type, count by their head when it is written the way every client and this
 * server write it (`{"type":"…"`, type first), else as "other". Heads are read in place (no allocation),
 * but a 25-character comparison still costs ~1k instructions: hot paths pass the type they know.
 */
export const CLIENT_TYPES = [
  "broadcast_event",
  "update_presence",
  "send_chat",
  "join_room",
  "leave_room",
  "get_chat_history",
  "other",
] as const;
export const SERVER_TYPES = [
  "broadcast_event",
  "presence_updated",
  "chat_message",
  "room_joined",
  "error",
  "chat_history",
  "other",
] as const;
// Their indexes, in list order.
export const [GOT_EVENT, GOT_PRESENCE, GOT_CHAT, GOT_JOIN, GOT_LEAVE, GOT_HISTORY, GOT_OTHER] = [0, 1, 2, 3, 4, 5, 6] as const;
export const [SENT_EVENT, SENT_PRESENCE, SENT_CHAT, SENT_JOINED, SENT_ERROR, SENT_HISTORY, SENT_OTHER] = [0, 1, 2, 3, 4, 5, 6] as const;
export type SentType = typeof SENT_EVENT | typeof SENT_PRESENCE | typeof SENT_CHAT;

export function nonZero(types: readonly string[], counts: Float64Array): Map<string, number> {
  const out = new Map<string, number>();
  for (const [i, type] of types.entries()) if (counts[i]! > 0) out.set(type, counts[i]!);
  return out;
}

/** Whether `frame` is `{"type":"<type>"…`. */
const is = (frame: string, type: string) => frame.startsWith(type, 9) && frame.charCodeAt(9 + type.length) === 34;

/** A parsed message's type index. */
export function clientTypeIndex(type: ClientMessage["type"]): number {
  switch (type) {
    case MSG_BROADCAST_EVENT:
      return GOT_EVENT;
    case MSG_UPDATE_PRESENCE:
      return GOT_PRESENCE;
    case MSG_SEND_CHAT:
      return GOT_CHAT;
    case MSG_JOIN_ROOM:
      return GOT_JOIN;
    case MSG_LEAVE_ROOM:
      return GOT_LEAVE;
    case MSG_GET_CHAT_HISTORY:
      return GOT_HISTORY;
  }
  return GOT_OTHER;
}

/**
 * A client frame's type index from its first bytes (clients that put `type` first; anything else is
 * "other"): one `startsWith` of the whole head, type and closing quote included.
 */
export function clientTypeOf(raw: string): number {
  switch (raw.charCodeAt(9)) {
    case 98: // b
      return raw.startsWith('{"type":"broadcast_event"') ? GOT_EVENT : GOT_OTHER;
    case 117: // u
      return raw.startsWith('{"type":"update_presence"') ? GOT_PRESENCE : GOT_OTHER;
    case 115: // s
      return raw.startsWith('{"type":"send_chat"') ? GOT_CHAT : GOT_OTHER;
    case 106: // j
      return raw.startsWith('{"type":"join_room"') ? GOT_JOIN : GOT_OTHER;
    case 108: // l
      return raw.startsWith('{"type":"leave_room"') ? GOT_LEAVE : GOT_OTHER;
    case 103: // g
      return raw.startsWith('{"type":"get_chat_history"') ? GOT_HISTORY : GOT_OTHER;
  }
  return GOT_OTHER;
}

/** A frame the engine built (frames.ts puts `type` first): its type index. */
export function serverTypeOf(frame: string): number {
  switch (frame.charCodeAt(9)) {
    case 98: // b
      return is(frame, "broadcast_event") ? SENT_EVENT : SENT_OTHER;
    case 112: // p
      return is(frame, "presence_updated") ? SENT_PRESENCE : SENT_OTHER;
    case 99: // c
      return is(frame, "chat_message") ? SENT_CHAT : is(frame, "chat_history") ? SENT_HISTORY : SENT_OTHER;
    case 114: // r
      return is(frame, "room_joined") ? SENT_JOINED : SENT_OTHER;
    case 101: // e
      return is(frame, "error") ? SENT_ERROR : SENT_OTHER;
  }
  return SENT_OTHER;
}
