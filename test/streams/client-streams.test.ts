/**
 * The client resumes a room's stream by itself: after a reconnect it joins with `since`, replayed events
 * reach `onEvent` once and in order, a lost stretch shows as `recovered: false` and `onRecoveryFailed`,
 * and `broadcastEvent` retries with its `clientMessageId` after a reconnect.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer as LiveServer } from "../../adapters/node/index.ts";
import type { StreamGap } from "../../src/client/index.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { disconnectAll, liveClient, rawClient, until, waitFor } from "../helpers/live-clients.ts";
import { closeProxies, startProxy } from "../helpers/tcp-proxy.ts";

const servers: LiveServer[] = [];

afterEach(async () => {
  disconnectAll();
  await closeProxies();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function setUp(options: WebSocketServerOptions = {}) {
  const server = await new Promise<LiveServer>((resolve) => {
    const s = createServer({ port: 0, hostname: "127.0.0.1", heartbeatIntervalMs: 0, rateLimit: false, ...options });
    servers.push(s);
    s.once("listening", () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const proxy = await startProxy({ host: "127.0.0.1", port });
  const direct = () => rawClient(`ws://127.0.0.1:${port}/live`);
  return { server, proxy, direct, viaProxy: `ws://${proxy.address}/live` };
}

/** Wait until the proxied client is back in the room on a new socket. */
const rejoined = (client: ReturnType<typeof liveClient>) => until(client, (s) => s.inRoom && s.status === "open", "the rejoin");

describe("the client resumes a room's stream", () => {
  it("holds all 1,000 events exactly once, in order, through a cut mid-stream; recovered: true", async () => {
    const { proxy, direct, viaProxy } = await setUp({ streams: { size: 1000 } });
    const sender = direct();
    await sender.join("room");
    const client = liveClient(viaProxy);
    const got: number[] = [];
    client.onEvent("n", (payload) => got.push(payload as number));
    client.connect();
    client.joinRoom("room");
    await until(client, (s) => s.inRoom);
    for (let n = 1; n <= 300; n++) sender.send("broadcast_event", { event: "n", payload: n });
    await waitFor(() => got.length >= 50, "some events");
    proxy.cut();
    await until(client, (s) => !s.inRoom, "the drop");
    for (let n = 301; n <= 1000; n++) sender.send("broadcast_event", { event: "n", payload: n });
    sender.send("broadcast_event", { event: "done", clientMessageId: "done" });
    await sender.next("event_ack");
    proxy.restore();
    await rejoined(client);
    await waitFor(() => got.at(-1) === 1000, "the 1,000th event");
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(client.getState().recovered).toBe(true);
  });

  it("shows a lost stretch as recovered: false and calls onRecoveryFailed", async () => {
    const { proxy, direct, viaProxy } = await setUp({ streams: { size: 5 } });
    const sender = direct();
    await sender.join("room");
    const client = liveClient(viaProxy);
    const gaps: StreamGap[] = [];
    client.onRecoveryFailed((gap) => gaps.push(gap));
    client.connect();
    client.joinRoom("room");
    await until(client, (s) => s.inRoom);
    expect(client.getState().recovered).toBeNull();
    proxy.cut();
    await until(client, (s) => !s.inRoom, "the drop");
    for (let n = 1; n <= 20; n++)
      sender.send("broadcast_event", { event: "n", payload: n, ...(n === 20 ? { clientMessageId: "last" } : {}) });
    await sender.next("event_ack");
    proxy.restore();
    const state = await until(client, (s) => s.inRoom && s.recovered === false, "recovered: false");
    expect(state.recovered).toBe(false);
    expect(gaps).toEqual([{ roomId: "room", since: { offset: 0, epoch: expect.any(String) }, offset: 20, epoch: gaps[0]!.since!.epoch }]);
  });

  it("sends broadcastEvent with a clientMessageId and again after a reconnect: the others get each once", async () => {
    const { proxy, direct, viaProxy } = await setUp();
    const observer = direct();
    await observer.join("room");
    const client = liveClient(viaProxy);
    client.connect();
    client.joinRoom("room");
    await until(client, (s) => s.inRoom);
    for (let n = 1; n <= 20; n++) expect(client.broadcastEvent("n", n)).toBe(true);
    // Cut in the same turn: some of the 20 reached the server, some may not have; none was acknowledged yet.
    proxy.cut();
    await until(client, (s) => !s.inRoom, "the drop");
    proxy.restore();
    await rejoined(client);
    await observer.until((r) => r.filter((m) => m.type === "broadcast_event").length >= 20, 10_000);
    expect(client.broadcastEvent("n", 21)).toBe(true);
    await observer.until((r) => r.some((m) => m.payload?.payload === 21));
    const relayed = observer.all("broadcast_event").map((m) => m.payload);
    expect(relayed.map((p) => p.payload)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(relayed.every((p) => p.clientMessageId === undefined)).toBe(true);
  });

  it("does not hand its own earlier events back to onEvent in a replay after a reconnect (join_room.resumeKey)", async () => {
    const { proxy, direct, viaProxy } = await setUp();
    const other = direct();
    await other.join("room");
    const client = liveClient(viaProxy);
    const got: unknown[] = [];
    client.onEvent("e", (payload) => got.push(payload));
    client.connect();
    client.joinRoom("room");
    await until(client, (s) => s.inRoom);
    client.broadcastEvent("e", "mine");
    await other.until((r) => r.some((m) => m.payload?.payload === "mine"));
    proxy.cut();
    await until(client, (s) => !s.inRoom, "the drop");
    other.send("broadcast_event", { event: "e", payload: "theirs", clientMessageId: "t-1" });
    await other.next("event_ack");
    proxy.restore();
    await until(client, (s) => s.inRoom && s.recovered === true, "the recovered rejoin");
    other.send("broadcast_event", { event: "e", payload: "fence" });
    await waitFor(() => got.includes("fence"), "the fence");
    expect(got).toEqual(["theirs", "fence"]);
  });
});
