/**
 * The client's side of the chat-resume protocol (`lastMessageId`/`resumed`, `clientMessageId`,
 * `get_chat_history`) against a small stand-in server that speaks it, so the client's handling is checked
 * on this branch too. The real server runs the same scenarios in test/client/resume.test.ts.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { disconnectAll, liveClient, messagesOf, until } from "../helpers/live-clients.ts";

interface Stored {
  id: string;
  roomId: string;
  connectionId: string;
  message: string;
  createdAt: number;
  clientMessageId?: string;
}

/** One room's worth of the protocol, enough for the client: joins, chat with ids, resume and paging. */
async function standInServer(historyLimit = 2, { historyWithIds = true } = {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  const messages: Stored[] = [];
  const joins: Record<string, unknown>[] = [];
  let next = 0;
  /** While set, stored messages are not sent back to their sender (its acknowledgement is "lost"). */
  let swallowAcks = false;
  const send = (ws: WebSocket, type: string, payload: unknown) => ws.send(JSON.stringify({ type, payload }));
  wss.on("connection", (ws) => {
    const connectionId = `c${++next}`;
    ws.on("message", (data) => {
      const { type, payload } = JSON.parse(String(data));
      if (type === "join_room") {
        joins.push(payload);
        const at = payload.lastMessageId === undefined ? -1 : messages.findIndex((m) => m.id === payload.lastMessageId);
        const resumed = at >= 0;
        const page = resumed ? messages.slice(at + 1) : messages.slice(-historyLimit);
        const chatHistory = historyWithIds ? page : page.map(({ clientMessageId: _, ...m }) => m);
        send(ws, "room_joined", {
          roomId: payload.roomId,
          connectionId,
          presence: { [connectionId]: { connectionId, presence: payload.presence ?? {} } },
          chatHistory,
          resumed,
        });
      } else if (type === "send_chat") {
        const repeat = messages.find((m) => m.clientMessageId !== undefined && m.clientMessageId === payload.clientMessageId);
        if (repeat) return send(ws, "chat_message", repeat); // only the sender hears it again
        const stored: Stored = {
          id: `m${messages.length + 1}`,
          roomId: "r",
          connectionId,
          message: payload.message,
          createdAt: Date.now(),
          clientMessageId: payload.clientMessageId,
        };
        messages.push(stored);
        for (const peer of wss.clients) if (!(swallowAcks && peer === ws)) send(peer, "chat_message", stored);
      } else if (type === "get_chat_history") {
        const end = payload.before === undefined ? messages.length : messages.findIndex((m) => m.id === payload.before);
        const start = Math.max(0, end - (payload.limit ?? 50));
        send(ws, "chat_history", { roomId: "r", messages: messages.slice(start, end), hasMore: start > 0 });
      }
    });
  });
  await new Promise((resolve) => wss.once("listening", resolve));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/live`,
    messages,
    joins,
    swallowAcks: (on: boolean) => (swallowAcks = on),
    dropAll: () => {
      for (const ws of wss.clients) ws.terminate();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

describe("the client's side of chat resume", () => {
  let server: Awaited<ReturnType<typeof standInServer>> | undefined;
  afterEach(async () => {
    disconnectAll();
    await server?.close();
  });

  it("rejoins with lastMessageId and appends exactly what the server resumed, with no gap", async () => {
    server = await standInServer(2);
    const a = liveClient(server.url);
    const b = liveClient(server.url);
    for (const c of [a, b]) {
      c.connect();
      c.joinRoom("r");
    }
    await until(a, (s) => s.inRoom);
    await until(b, (s) => s.inRoom);
    for (const m of ["one", "two", "three"]) b.sendChat(m);
    await until(a, (s) => messagesOf(s).length === 3);
    server.dropAll();
    await until(a, (s) => !s.inRoom);
    const back = await until(a, (s) => s.inRoom);
    expect(server.joins.at(-1)).toMatchObject({ lastMessageId: "m3" });
    expect(messagesOf(back)).toEqual(["one", "two", "three"]);
    b.sendChat("four");
    const more = await until(a, (s) => messagesOf(s).includes("four"));
    expect(more.chatGaps).toEqual([]);
  });

  it("resends an unacknowledged chat with the same clientMessageId and shows it once", async () => {
    server = await standInServer();
    const a = liveClient(server.url);
    a.connect();
    a.joinRoom("r");
    await until(a, (s) => s.inRoom);
    server.swallowAcks(true);
    const id = a.sendChat("stored, ack lost");
    await new Promise<void>((resolve) => {
      const check = () => (server!.messages.length === 1 ? resolve() : setTimeout(check, 5));
      check();
    });
    expect(a.getState().pendingMessages).toHaveLength(1);
    server.swallowAcks(false);
    server.dropAll();
    // The resumed history already holds the message: acknowledged without a resend, shown once.
    const back = await until(a, (s) => s.inRoom && s.pendingMessages.length === 0);
    expect(messagesOf(back)).toEqual(["stored, ack lost"]);
    expect(back.chatMessages[0]!.clientMessageId).toBe(id);
    expect(server.messages).toHaveLength(1);
  });

  it("acknowledges a resend the server answers with the stored message, and keeps one copy", async () => {
    // This server's history does not carry clientMessageId: the client cannot tell the message was stored, so it sends again.
    server = await standInServer(2, { historyWithIds: false });
    const a = liveClient(server.url);
    a.connect();
    a.joinRoom("r");
    await until(a, (s) => s.inRoom);
    server.swallowAcks(true);
    a.sendChat("first");
    await new Promise<void>((resolve) => {
      const check = () => (server!.messages.length === 1 ? resolve() : setTimeout(check, 5));
      check();
    });
    server.swallowAcks(false);
    server.dropAll();
    const back = await until(a, (s) => s.inRoom && s.pendingMessages.length === 0);
    expect(messagesOf(back)).toEqual(["first"]);
    expect(server.messages.map((m) => m.message)).toEqual(["first"]);
  });

  it("loadOlderMessages prepends pages until the server says there are no more", async () => {
    server = await standInServer(2);
    const writer = liveClient(server.url);
    writer.connect();
    writer.joinRoom("r");
    await until(writer, (s) => s.inRoom);
    for (let i = 1; i <= 7; i++) writer.sendChat(`m${i}`);
    await until(writer, (s) => s.pendingMessages.length === 0 && messagesOf(s).length === 7);
    const reader = liveClient(server.url, { historyPageSize: 3 });
    reader.connect();
    reader.joinRoom("r");
    expect(messagesOf(await until(reader, (s) => s.inRoom))).toEqual(["m6", "m7"]);
    const pages: string[][] = [];
    while (reader.getState().hasMoreHistory) pages.push((await reader.loadOlderMessages()).map((m) => m.message));
    expect(pages).toEqual([
      ["m3", "m4", "m5"],
      ["m1", "m2"],
    ]);
    expect(messagesOf(reader.getState())).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
  });
});
