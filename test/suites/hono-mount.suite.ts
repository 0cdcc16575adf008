/**
 * The live endpoint mounted into a user's Hono app: the app's own routes and middleware keep working
 * next to ours. Runs against the `hono` fixture (server-entry.ts), which adds `GET /api/hello` and a
 * middleware on the live path that refuses requests carrying `x-block`.
 */
import { afterAll, describe, expect, it } from "vitest";
import { TestClient } from "../helpers/client.ts";
import type { Fixture, StartFixture } from "./wire-protocol.suite.ts";

export function honoMountSuite(runtime: string, start: StartFixture) {
  describe(`mounted in a Hono app on ${runtime}`, () => {
    let fixture: Promise<Fixture> | undefined;
    const server = () => (fixture ??= start({}));
    const clients: TestClient[] = [];
    afterAll(async () => {
      for (const c of clients) c.terminate();
      if (fixture) await (await fixture).stop();
    });

    it("serves the app's own routes next to the live endpoint", async () => {
      const { httpUrl } = await server();
      const res = await fetch(`${httpUrl}/api/hello`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ hello: "world" });
    });

    it("answers a plain GET on the live path with 426 Upgrade Required", async () => {
      const { httpUrl } = await server();
      const res = await fetch(`${httpUrl}/live`);
      expect(res.status).toBe(426);
      await res.body?.cancel();
    });

    it("runs the app's middleware for the live path before the upgrade", async () => {
      const { wsUrl } = await server();
      const blocked = new TestClient(wsUrl, { headers: { "x-block": "1" } });
      clients.push(blocked);
      await expect(blocked.opened).rejects.toMatchObject({ status: 403 });
      const allowed = new TestClient(wsUrl);
      clients.push(allowed);
      const joined = await allowed.join("mounted-room");
      expect(joined.roomId).toBe("mounted-room");
    });
  });
}
