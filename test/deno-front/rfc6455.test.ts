/**
 * RFC 6455 protocol errors from a client, against a real server on Node (the reference: ws) and on Deno
 * behind its front: each closes with the code Node sends, at the offending frame's header, and the
 * messages before the offending frame in the same TCP read still reach the engine.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Runtime } from "../fixtures/child.ts";
import { closeWith, join, protocolErrors } from "./protocol-errors.ts";
import { frame, start, text, until, upgrade } from "./raw-client.ts";

for (const runtime of ["node", "deno"] as Runtime[]) {
  describe(`RFC 6455 from a client, on ${runtime}`, () => {
    // One server for the file: every case has a connection of its own.
    let port = 0;
    beforeAll(async () => {
      port = await start({ rateLimit: false }, "standalone", runtime);
    }, 30_000);

    for (const [name, bytes, code] of protocolErrors) {
      it(`closes ${name} with ${code}`, async () => {
        const c = await upgrade(port);
        c.socket.write(bytes);
        expect(await c.closeCode()).toBe(code);
        c.socket.destroy();
      }, 20_000);
    }

    it("closes normally on a close frame with a valid code, echoing it", async () => {
      const c = await upgrade(port);
      c.socket.write(closeWith(4000));
      expect(await c.closeCode()).toBe(4000);
    }, 20_000);

    it("takes the messages before a bad frame in the same TCP read", async () => {
      const observer = await upgrade(port);
      observer.socket.write(join("before-bad"));
      await until(() => observer.messages().some((m) => m.type === "room_joined"));
      const c = await upgrade(port);
      const event = { type: "broadcast_event", payload: { event: "tick", payload: { n: 1 } } };
      c.socket.write(Buffer.concat([join("before-bad"), text(event), frame(1, Buffer.from("{}"), { mask: false })]));
      expect(await c.closeCode()).toBe(1002);
      await until(() => observer.messages().some((m) => m.type === "broadcast_event"));
      observer.socket.destroy();
    }, 20_000);
  });
}
