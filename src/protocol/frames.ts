/**
 * Every server → client frame is built here, once per message: the engine encodes a frame and hands
 * the same string to every recipient (and to the backplane). Presence frames are built around the
 * entry's JSON so an entry is encoded once and reused in both `joined`/`updated` frames and shared state.
 */
import {
  MSG_BROADCAST_EVENT_RELAY,
  MSG_CHAT_DELETED,
  MSG_CHAT_HISTORY,
  MSG_CHAT_MESSAGE,
  MSG_ERROR,
  MSG_EVENT_ACK,
  MSG_PRESENCE_UPDATED,
  MSG_ROOM_JOINED,
  type BroadcastEventRelayPayload,
  type ChatHistoryPayload,
  type ChatMessagePayload,
  type EventAckPayload,
  type RoomJoinedPayload,
} from "./messages.ts";

/** `{ type, payload }` as JSON. */
export function encodeFrame(type: string, payload: unknown): string {
  return JSON.stringify({ type, payload });
}

/** `error { code, message }`; about a chat send that carried one, also its `clientMessageId`. */
export const errorFrame = (code: string, message: string, clientMessageId?: string): string =>
  encodeFrame(MSG_ERROR, clientMessageId === undefined ? { code, message } : { code, message, clientMessageId });

export const roomJoinedFrame = (payload: RoomJoinedPayload): string => encodeFrame(MSG_ROOM_JOINED, payload);

export const chatFrame = (chat: ChatMessagePayload): string => encodeFrame(MSG_CHAT_MESSAGE, chat);

export const chatDeletedFrame = (roomId: string, id: string): string => encodeFrame(MSG_CHAT_DELETED, { roomId, id });

export const chatHistoryFrame = (page: ChatHistoryPayload): string => encodeFrame(MSG_CHAT_HISTORY, page);

export const eventAckFrame = (ack: EventAckPayload): string => encodeFrame(MSG_EVENT_ACK, ack);

export const eventFrame = (relay: BroadcastEventRelayPayload): string => encodeFrame(MSG_BROADCAST_EVENT_RELAY, relay);

/**
 * The start of a relayed `broadcast_event` up to its `event`: what is the same for every event one
 * member sends in one room, so a sender's events encode only their name and payload (`eventFrameFrom`).
 */
export function eventFrameHead(roomId: string, connectionId: string, userId: string | undefined): string {
  const user = userId === undefined ? "" : `"userId":${JSON.stringify(userId)},`;
  return `{"type":"${MSG_BROADCAST_EVENT_RELAY}","payload":{"roomId":${JSON.stringify(roomId)},"connectionId":${JSON.stringify(connectionId)},${user}`;
}

/** What `eventFrame` gives, from the head of `eventFrameHead`: byte for byte the same JSON. */
export function eventFrameFrom(head: string, event: string, payload: unknown): string {
  const body = JSON.stringify(payload); // undefined (no payload, a function): the key is left out, as inside an object
  return body === undefined ? `${head}"event":${JSON.stringify(event)}}}` : `${head}"event":${JSON.stringify(event)},"payload":${body}}}`;
}

/** `presence_updated` with one entry, built around its JSON so the entry is encoded only once. */
export function presenceFrame(roomId: string, key: "joined" | "updated", entryJson: string): string {
  return `{"type":"${MSG_PRESENCE_UPDATED}","payload":{"roomId":${JSON.stringify(roomId)},"${key}":[${entryJson}]}}`;
}

/** `presence_updated` telling that members left. */
export function leftFrame(roomId: string, ids: string[]): string {
  return encodeFrame(MSG_PRESENCE_UPDATED, { roomId, left: ids });
}

/** A pre-encoded list item of a batched `presence_updated`: the member's id and its JSON (entry, or id for `left`). */
export interface BatchItem {
  id: string;
  json: string;
}

/**
 * `presence_updated` carrying a room's batched news, built around pre-encoded entries; lists left empty
 * are omitted, and `undefined` when all are. Every member appears in one list at most, so clients that
 * apply the lists in any order keep the same map. `memberCount` is the room's size where it passed
 * `maxPresenceSnapshot`.
 */
export function presenceBatchFrame(
  roomId: string,
  joined: BatchItem[],
  updated: BatchItem[],
  left: BatchItem[],
  memberCount?: number,
): string | undefined {
  if (joined.length === 0 && updated.length === 0 && left.length === 0) return undefined;
  let out = `{"type":"${MSG_PRESENCE_UPDATED}","payload":{"roomId":${JSON.stringify(roomId)}`;
  if (joined.length > 0) out += `,"joined":[${joined.map((i) => i.json).join(",")}]`;
  if (updated.length > 0) out += `,"updated":[${updated.map((i) => i.json).join(",")}]`;
  if (left.length > 0) out += `,"left":[${left.map((i) => i.json).join(",")}]`;
  if (memberCount !== undefined) out += `,"memberCount":${memberCount}`;
  return `${out}}}`;
}
