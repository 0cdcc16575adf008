import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import nodeAdapter from "crossws/adapters/node";
import { afterAll, describe, expect, it } from "vitest";
import { createLiveHooks } from "../../adapters/node/hono.ts";
import { TestClient } from "../helpers/client.ts";

describe("createLiveHooks", () => {
  const live = createLiveHooks({ heartbeatIntervalMs: 0 });
  const ws = nodeAdapter({ hooks: live.hooks });
  const server: Server = createServer((_req, res) => res.end("mine"));
  server.on("upgrade", (req, socket, head) => void ws.handleUpgrade(req, socket, head));
  const listening = new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  const clients: TestClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await live.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it("serves rooms through a crossws adapter the user runs", async () => {
    const url = `ws://127.0.0.1:${await listening}/anything`;
    const [a, b] = [new TestClient(url), new TestClient(url)];
    clients.push(a, b);
    const ja = await a.join("hooks-room");
    await b.join("hooks-room");
    b.send("broadcast_event", { event: "hi" });
    expect((await a.next("broadcast_event")).payload).toMatchObject({ roomId: "hooks-room", event: "hi" });
    expect(live.engine.rooms.get("hooks-room")?.members.has(ja.connectionId)).toBe(true);
  });

  it("closes its sockets with 1001 on close()", async () => {
    const c = new TestClient(`ws://127.0.0.1:${await listening}/live`);
    clients.push(c);
    await c.join("closing-room");
    await live.close();
    expect((await c.closed).code).toBe(1001);
  });
});
