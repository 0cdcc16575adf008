import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer } from "../../adapters/node/index.ts";
import type { ServerOptions } from "../../adapters/shared/handle.ts";
import { clientFrame, rawUpgrade } from "../helpers/raw-socket.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function start(options: ServerOptions): Promise<{ server: NodeLiveServer; port: number }> {
  const server = createServer({ port: 0, hostname: "127.0.0.1", ...options });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once("listening", () => resolve())));
  cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
  return { server, port: (server.address() as AddressInfo).port };
}

function track(socket: net.Socket) {
  cleanups.push(() => void socket.destroy());
  const state = { closed: false };
  socket.on("error", () => {}).on("close", () => (state.closed = true));
  return state;
}

const write = (socket: net.Socket, chunk: Buffer) =>
  new Promise<void>((resolve) => (socket.write(chunk) ? resolve() : socket.once("drain", resolve).once("close", resolve)));

describe("Node on the open internet", () => {
  it("closes a client that pings and never reads before its pongs pass maxBufferedBytes", async () => {
    const maxBufferedBytes = 64 * 1024;
    const { server } = await start({ maxBufferedBytes, heartbeatIntervalMs: 0, rateLimit: false });
    const port = (server.address() as AddressInfo).port;
    const socket = await rawUpgrade(port);
    track(socket);
    socket.pause(); // never read: every pong stays queued somewhere
    while (server.ws.engine.connections.size === 0) await new Promise((r) => setImmediate(r));
    const [conn] = [...server.ws.engine.connections];
    const serverSocket = (conn!.transport as { socket: net.Socket }).socket;

    // 1000 pings of 125 bytes per batch; 200 batches (26 MB of pongs) are far more than the loopback
    // buffers of both ends hold, so without a bound the server's own queue must grow.
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => clientFrame(0x9, Buffer.alloc(125, 1))));
    let maxQueued = 0;
    for (let i = 0; i < 200 && !conn!.closed; i++) {
      await write(socket, batch);
      await new Promise((r) => setImmediate(r));
      maxQueued = Math.max(maxQueued, serverSocket.writableLength);
    }
    expect(conn!.closed).toBe(true);
    // A pong is answered only while it fits: the queue never passes the bound by more than one frame.
    expect(maxQueued).toBeLessThanOrEqual(maxBufferedBytes + 127);
  });

  it("still answers the pings of a client that reads", async () => {
    const { port } = await start({ heartbeatIntervalMs: 0 });
    const socket = await rawUpgrade(port);
    track(socket);
    const pong = new Promise<Buffer>((resolve) => socket.once("data", resolve));
    socket.write(clientFrame(0x9, Buffer.from("hello")));
    const frame = await pong;
    expect(frame[0]).toBe(0x8a); // FIN + pong
    expect(frame.subarray(2).toString()).toBe("hello");
  });

  it("closes a connection that sends half an upgrade request after upgradeTimeoutMs", async () => {
    const { port } = await start({ upgradeTimeoutMs: 200 });
    const socket = net.connect(port, "127.0.0.1");
    const state = track(socket);
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"); // and never the rest
    const answer = await new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (d) => (text += d.toString()));
      socket.once("close", () => resolve(text));
    });
    expect(state.closed).toBe(true);
    expect(answer).toMatch(/^HTTP\/1.1 408|^$/);
  });

  it("closes a connection that sends nothing after upgradeTimeoutMs", async () => {
    const { port } = await start({ upgradeTimeoutMs: 200 });
    const socket = net.connect(port, "127.0.0.1");
    const state = track(socket);
    socket.resume(); // read, or the server's FIN is never seen
    await new Promise((resolve) => socket.once("close", resolve));
    expect(state.closed).toBe(true);
  });
});
