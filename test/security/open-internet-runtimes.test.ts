import { afterAll, describe, expect, it } from "vitest";
import { startChildFixture, type Runtime } from "../fixtures/child.ts";
import { TestClient } from "../helpers/client.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

/** Monitoring routes through each runtime's createServer (the built package). */
for (const runtime of ["bun", "deno"] as Runtime[]) {
  describe(`createServer on ${runtime}`, () => {
    const fixtures: Fixture[] = [];
    afterAll(async () => {
      for (const f of fixtures) await f.stop();
    });
    const start = async (options: Parameters<ReturnType<typeof startChildFixture>>[0]) => {
      const f = await startChildFixture(runtime)(options);
      fixtures.push(f);
      return f;
    };

    it("serves /healthz, /readyz and /metrics", async () => {
      const f = await start({});
      const c = new TestClient(f.wsUrl);
      try {
        await c.join("metrics-room");
        expect(await (await fetch(`${f.httpUrl}/healthz`)).text()).toBe("ok");
        const ready = await fetch(`${f.httpUrl}/readyz`);
        expect(ready.status).toBe(200);
        const text = await (await fetch(`${f.httpUrl}/metrics`)).text();
        expect(text).toMatch(/^openlivesync_connections 1$/m);
        expect(text).toMatch(/^openlivesync_rooms 1$/m);
        expect(text).toMatch(/^openlivesync_messages_received_total\{type="join_room"\} 1$/m);
      } finally {
        c.terminate();
      }
    }, 30_000);
  });
}
