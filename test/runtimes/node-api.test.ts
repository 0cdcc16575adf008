import http, { type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer as WsServer } from "ws";
import { createServer, createWebSocketHandler, createWebSocketServer } from "../../adapters/node/index.ts";
import { TestClient } from "../helpers/client.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
  return (server.address() as AddressInfo).port;
}

function client(url: string, options?: WebSocket.ClientOptions) {
  const c = new TestClient(url, options);
  cleanups.push(() => c.terminate());
  return c;
}

describe("Node API", () => {
  it("createWebSocketServer serves its path and leaves other upgrade listeners working", async () => {
    const httpServer = http.createServer((_req, res) => res.end("Hello"));
    const other = new WsServer({ noServer: true });
    httpServer.on("upgrade", (req, socket, head) => {
      if (req.url === "/other") other.handleUpgrade(req, socket, head, (ws) => ws.send("from other"));
    });
    const live = createWebSocketServer(httpServer, { path: "/live" });
    cleanups.push(() => live.close());
    const port = await listen(httpServer);

    const joined = await client(`ws://127.0.0.1:${port}/live`).join("r1");
    expect(joined.roomId).toBe("r1");
    const fromOther = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/other`);
      ws.on("message", (d) => {
        resolve(d.toString());
        ws.close();
      });
      ws.on("error", reject);
    });
    expect(fromOther).toBe("from other");
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("Hello");
  });

  it("createWebSocketServer refuses an unknown path with 404 when it is the only upgrade listener", async () => {
    const httpServer = http.createServer();
    const live = createWebSocketServer(httpServer);
    cleanups.push(() => live.close());
    const port = await listen(httpServer);
    await expect(client(`ws://127.0.0.1:${port}/nope`).opened).rejects.toMatchObject({ status: 404 });
  });

  it("createWebSocketHandler works as a raw upgrade listener", async () => {
    const httpServer = http.createServer();
    const handler = createWebSocketHandler({ path: "/ws" });
    cleanups.push(() => handler.close());
    httpServer.on("upgrade", handler);
    const port = await listen(httpServer);
    expect((await client(`ws://127.0.0.1:${port}/ws?x=1`).join("r")).roomId).toBe("r");
  });

  it("hands onAuth the IncomingMessage, so req.headers.authorization works as in the upstream README", async () => {
    const seen: unknown[] = [];
    const server = createServer({
      port: 0,
      hostname: "127.0.0.1",
      onAuth: async (req: IncomingMessage) => {
        seen.push(req);
        const token = req.headers.authorization?.replace(/^Bearer\s+/i, "");
        return token === "good" ? { userId: "u1", name: "Una" } : null;
      },
    });
    await new Promise((r) => server.once("listening", r));
    cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
    const { port } = server.address() as AddressInfo;
    const ok = client(`ws://127.0.0.1:${port}/live`, { headers: { authorization: "Bearer good" } });
    const joined = await ok.join("r");
    expect(joined.presence[joined.connectionId]).toMatchObject({ userId: "u1", name: "Una" });
    expect(seen[0]).toBeInstanceOf(http.IncomingMessage);
    await expect(client(`ws://127.0.0.1:${port}/live`, { headers: { authorization: "Bearer bad" } }).opened).rejects.toMatchObject({
      status: 401,
    });
  });

  it("reports a throwing onAuth through onError with stage auth", async () => {
    const errors: [unknown, string][] = [];
    const server = createServer({
      port: 0,
      hostname: "127.0.0.1",
      onAuth: () => {
        throw new Error("boom");
      },
      onError: (error, { stage }) => errors.push([error, stage]),
    });
    await new Promise((r) => server.once("listening", r));
    cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
    const { port } = server.address() as AddressInfo;
    await expect(client(`ws://127.0.0.1:${port}/live`).opened).rejects.toMatchObject({ status: 500 });
    expect(errors).toEqual([[expect.objectContaining({ message: "boom" }), "auth"]]);
  });

  it("frees rooms and connections after churn, so memory does not grow with rooms ever used", async () => {
    const server = createServer({ port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
    const { port } = server.address() as AddressInfo;
    const engine = server.ws.engine;
    const url = `ws://127.0.0.1:${port}/live`;

    for (let round = 0; round < 20; round++) {
      const cs = Array.from({ length: 10 }, () => new TestClient(url));
      await Promise.all(cs.map((c, i) => c.join(`churn-${round}-${i % 3}`, { i })));
      // Hop rooms, chat, then leave in different ways.
      await Promise.all(cs.map((c, i) => c.join(`hop-${round}-${i}`)));
      cs[0]!.send("send_chat", { message: "bye" });
      await cs[0]!.next("chat_message");
      await Promise.all(cs.map((c, i) => (i % 2 ? c.close() : (c.send("leave_room"), c.close()))));
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(engine.rooms.size).toBe(0);
    expect(engine.connections.size).toBe(0);
  });

  it("server.close() sends 1001 to every socket and stops listening", async () => {
    const server = createServer({ port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    const { port } = server.address() as AddressInfo;
    const c = client(`ws://127.0.0.1:${port}/live`);
    await c.join("r");
    await new Promise((r) => server.close(() => r(undefined)));
    expect((await c.closed).code).toBe(1001);
    expect(server.listening).toBe(false);
  });
});
