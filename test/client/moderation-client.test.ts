/**
 * The client and moderation: a deleted message leaves `chatMessages`, and `permissions` says what the
 * server granted in `room_joined` (all "write" when it said nothing).
 */
import { afterAll, afterEach, expect, it } from "vitest";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { disconnectAll, liveClient, messagesOf, until } from "../helpers/live-clients.ts";
import { API_SECRET, httpApi } from "../suites/http-api.suite.ts";

const server = await startNodeInProcess({ apiSecret: API_SECRET, authorizeRoom: true });
afterEach(() => disconnectAll());
afterAll(() => server.stop());

it("drops a message a moderator deleted from chatMessages on every client", async () => {
  const [a, b] = [liveClient(server.wsUrl), liveClient(server.wsUrl)];
  for (const c of [a, b]) {
    c.connect();
    c.joinRoom("mod-client");
  }
  await Promise.all([a, b].map((c) => until(c, (s) => s.inRoom)));
  a.sendChat("keep");
  a.sendChat("remove me");
  const seen = await until(b, (s) => messagesOf(s).length === 2);
  const id = seen.chatMessages[1]!.id;
  expect((await httpApi(server.httpUrl).del(`/api/rooms/mod-client/chat/${id}`)).status).toBe(204);
  for (const c of [a, b]) expect(messagesOf(await until(c, (s) => messagesOf(s).length === 1, "the deletion"))).toEqual(["keep"]);
});

it("exposes the permissions of room_joined, and full access when the server sends none", async () => {
  const reader = liveClient(server.wsUrl);
  expect(reader.getState().permissions).toBeNull();
  reader.connect();
  reader.joinRoom("read-client");
  const state = await until(reader, (s) => s.inRoom);
  expect(state.permissions).toEqual({ presence: "read", events: "read", chat: "read" });
  reader.joinRoom("open-client");
  const open = await until(reader, (s) => s.inRoom && s.currentRoomId === "open-client");
  expect(open.permissions).toEqual({ presence: "write", events: "write", chat: "write" });
});
