import { describe, expect, it } from "vitest";
import * as pkg from "../../adapters/node/index.ts";

describe("protocol constants", () => {
  it("exports every message type with the upstream values", () => {
    expect({
      MSG_JOIN_ROOM: pkg.MSG_JOIN_ROOM,
      MSG_LEAVE_ROOM: pkg.MSG_LEAVE_ROOM,
      MSG_UPDATE_PRESENCE: pkg.MSG_UPDATE_PRESENCE,
      MSG_BROADCAST_EVENT: pkg.MSG_BROADCAST_EVENT,
      MSG_SEND_CHAT: pkg.MSG_SEND_CHAT,
      MSG_ROOM_JOINED: pkg.MSG_ROOM_JOINED,
      MSG_PRESENCE_UPDATED: pkg.MSG_PRESENCE_UPDATED,
      MSG_BROADCAST_EVENT_RELAY: pkg.MSG_BROADCAST_EVENT_RELAY,
      MSG_CHAT_MESSAGE: pkg.MSG_CHAT_MESSAGE,
      MSG_ERROR: pkg.MSG_ERROR,
    }).toEqual({
      MSG_JOIN_ROOM: "join_room",
      MSG_LEAVE_ROOM: "leave_room",
      MSG_UPDATE_PRESENCE: "update_presence",
      MSG_BROADCAST_EVENT: "broadcast_event",
      MSG_SEND_CHAT: "send_chat",
      MSG_ROOM_JOINED: "room_joined",
      MSG_PRESENCE_UPDATED: "presence_updated",
      MSG_BROADCAST_EVENT_RELAY: "broadcast_event",
      MSG_CHAT_MESSAGE: "chat_message",
      MSG_ERROR: "error",
    });
  });

  it("exports the chat paging message types of issue 12", () => {
    expect({ MSG_GET_CHAT_HISTORY: pkg.MSG_GET_CHAT_HISTORY, MSG_CHAT_HISTORY: pkg.MSG_CHAT_HISTORY }).toEqual({
      MSG_GET_CHAT_HISTORY: "get_chat_history",
      MSG_CHAT_HISTORY: "chat_history",
    });
  });

  it("exports the upstream server API, auth and storage functions", () => {
    for (const name of [
      "createServer",
      "createWebSocketServer",
      "createWebSocketHandler",
      "decodeAccessToken",
      "createTokenAuth",
      "createInMemoryChatStorage",
      "createPostgresChatStorage",
      "createMySQLChatStorage",
      "createSQLiteChatStorage",
    ]) {
      expect(typeof (pkg as Record<string, unknown>)[name], name).toBe("function");
    }
  });

  it("keeps error and close codes stable", () => {
    expect(Object.keys(pkg.ErrorCodes).sort()).toEqual(Object.values(pkg.ErrorCodes).sort());
    expect(pkg.CloseCodes).toMatchObject({
      GOING_AWAY: 1001,
      MESSAGE_TOO_BIG: 1009,
      UNAUTHORIZED: 4401,
      HEARTBEAT_TIMEOUT: 4408,
      SLOW_CONSUMER: 4429,
    });
  });
});
