/**
 * The Deno createServer's front (adapters/deno/front/) against a real Deno server and raw sockets:
 * the attacks Deno's own server lets through (issue 11, point 6). Each test also runs with
 * `denoFront: false` where that shows the attack succeeding without the front.
 */
import { describe, expect, it } from "vitest";
import { connect, frame, sleep, start, until, upgrade } from "./raw-client.ts";

describe("Deno createServer: the front", () => {
  it("closes with 1009 when a message's fragments together pass maxPayload (Deno alone waits for the last one)", async () => {
    for (const denoFront of [true, false]) {
      const port = await start({ maxPayload: 4096, denoFront });
      const c = await upgrade(port);
      c.socket.write(frame(1, Buffer.alloc(1000, 0x61), { fin: false }));
      for (let i = 0; i < 10; i++) c.socket.write(frame(0, Buffer.alloc(1000, 0x61), { fin: false }));
      expect(await c.closeCode(denoFront ? 5000 : 1500)).toBe(denoFront ? 1009 : "open");
      c.socket.destroy();
    }
  }, 60_000);

  it("closes with 1009 at an oversized frame's header, also when another frame follows", async () => {
    const port = await start({ maxPayload: 4096 });
    const c = await upgrade(port);
    c.socket.write(Buffer.concat([frame(1, Buffer.alloc(5000, 0x61)), frame(1, Buffer.from('{"type":"leave_room"}'))]));
    expect(await c.closeCode()).toBe(1009);
  }, 30_000);

  it("closes an unmasked client frame with 1002 (Deno alone accepts it)", async () => {
    for (const denoFront of [true, false]) {
      const port = await start({ denoFront });
      const c = await upgrade(port);
      c.socket.write(frame(1, Buffer.from('{"type":"join_room","payload":{"roomId":"unmasked"}}'), { mask: false }));
      if (denoFront) expect(await c.closeCode()).toBe(1002);
      else {
        await until(() => c.received().toString().includes("room_joined"));
        c.socket.destroy();
      }
    }
  }, 60_000);

  it("closes half-sent and silent requests after upgradeTimeoutMs (Deno alone keeps them)", async () => {
    for (const denoFront of [true, false]) {
      const port = await start({ upgradeTimeoutMs: 300, denoFront });
      const half = await connect(port);
      half.socket.write("GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
      const silent = await connect(port);
      const closed = (e: Promise<void>) => Promise.race([e.then(() => true), sleep(2000).then(() => false)]);
      expect(await closed(half.ended)).toBe(denoFront);
      expect(await closed(silent.ended)).toBe(denoFront);
      half.socket.destroy();
      silent.socket.destroy();
    }
  }, 60_000);

  it("disconnects a client that pings and never reads after two heartbeat intervals (Deno alone keeps it)", async () => {
    for (const denoFront of [true, false]) {
      const port = await start({ heartbeatIntervalMs: 500, denoFront });
      const c = await upgrade(port);
      c.socket.pause();
      c.socket.setMaxListeners(0);
      const ping = frame(9, Buffer.alloc(125));
      const batch = Buffer.concat(Array.from({ length: 1000 }, () => ping));
      let closed = false;
      void c.ended.then(() => (closed = true));
      // Deno answers each ping; the pongs pile up until the socket's buffers are full and stay so.
      for (const end = Date.now() + (denoFront ? 15_000 : 4000); !closed && Date.now() < end; ) {
        if (!c.socket.write(batch)) await Promise.race([new Promise((r) => c.socket.once("drain", r)), sleep(200)]);
      }
      expect(closed).toBe(denoFront);
      c.socket.destroy();
    }
  }, 60_000);

  it("writes the engine's frames straight to the client, whole and in order between Deno's own pings", async () => {
    // heartbeatIntervalMs 300: Deno pings a client after 0.3 s without a frame from it, through the relay,
    // while the engine's broadcasts go to the same socket from the front's writer.
    const port = await start({ heartbeatIntervalMs: 300, rateLimit: false });
    const listener = await upgrade(port);
    const sender = await upgrade(port);
    const join = (c: typeof listener) => c.socket.write(frame(1, Buffer.from('{"type":"join_room","payload":{"roomId":"interleave"}}')));
    join(listener);
    await until(() => listener.received().toString().includes("room_joined"));
    join(sender);
    await until(() => sender.received().toString().includes("room_joined"));
    const head = listener.received().indexOf("\r\n\r\n") + 4;
    let parsed = head;
    const seen: number[] = [];
    let pings = 0;
    /** Parses every whole server frame received so far; answers pings (with a masked pong) as a browser would. */
    const read = () => {
      const bytes = listener.received();
      for (;;) {
        if (bytes.length < parsed + 2) return;
        const opcode = bytes[parsed]! & 0x0f;
        expect(bytes[parsed]! & 0x80).toBe(0x80); // FIN: nothing here is fragmented
        expect(bytes[parsed + 1]! & 0x80).toBe(0); // a server frame is never masked
        let length = bytes[parsed + 1]! & 0x7f;
        let start = parsed + 2;
        if (length === 126) {
          if (bytes.length < parsed + 4) return;
          length = bytes.readUInt16BE(parsed + 2);
          start = parsed + 4;
        }
        if (bytes.length < start + length) return;
        const payload = bytes.subarray(start, start + length);
        parsed = start + length;
        if (opcode === 9) {
          pings++;
          listener.socket.write(frame(10, Buffer.from(payload)));
        } else {
          expect(opcode).toBe(1);
          const message = JSON.parse(payload.toString("utf8"));
          if (message.type === "broadcast_event") seen.push(message.payload.payload.n);
        }
      }
    };
    const sent = 400;
    for (let n = 0; n < sent; n++) {
      const event = { type: "broadcast_event", payload: { event: "tick", payload: { n } } };
      sender.socket.write(frame(1, Buffer.from(JSON.stringify(event))));
      if (n % 20 === 19) {
        read();
        await sleep(80); // 400 events over about 1.6 s: several of Deno's pings come in between
      }
    }
    await until(() => {
      read();
      return seen.length === sent;
    });
    expect(seen).toEqual(Array.from({ length: sent }, (_, n) => n));
    expect(pings).toBeGreaterThan(0);
    expect(await listener.closeCode(300)).toBe("open");
  }, 30_000);

  it("answers a request head longer than 32 KiB with 431", async () => {
    const port = await start({});
    const c = await connect(port);
    c.socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${"a".repeat(40_000)}\r\n\r\n`);
    await c.ended;
    expect(c.received().toString()).toMatch(/^HTTP\/1.1 431 /);
  }, 30_000);

  it("keeps a WebSocket open past upgradeTimeoutMs and hands on each client's own address", async () => {
    const port = await start({ upgradeTimeoutMs: 300, maxConnectionsPerIp: 1 });
    const a = await upgrade(port, "127.0.0.2");
    const b = await upgrade(port, "127.0.0.3");
    const a2 = await upgrade(port, "127.0.0.2");
    expect(await a2.closeCode()).toBe(1008);
    await sleep(600);
    for (const c of [a, b]) {
      c.socket.write(frame(1, Buffer.from('{"type":"join_room","payload":{"roomId":"addr"}}')));
      await until(() => c.received().toString().includes("room_joined"));
      expect(c.socket.destroyed).toBe(false);
      c.socket.destroy();
    }
  }, 30_000);

  it("serveWithFront puts the same front before a Hono app with mountLive", async () => {
    const port = await start({ maxPayload: 4096, upgradeTimeoutMs: 300, denoFront: true }, "hono");
    const c = await upgrade(port);
    c.socket.write(frame(1, Buffer.alloc(1000, 0x61), { fin: false }));
    for (let i = 0; i < 10; i++) c.socket.write(frame(0, Buffer.alloc(1000, 0x61), { fin: false }));
    expect(await c.closeCode()).toBe(1009);
    const half = await connect(port);
    half.socket.write("GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    await Promise.race([half.ended, sleep(3000)]);
    expect(half.socket.readyState).toBe("closed");
    const hello = await fetch(`http://127.0.0.1:${port}/api/hello`);
    expect(await hello.json()).toMatchObject({ hello: "world", runtime: "deno" });
  }, 30_000);
});
