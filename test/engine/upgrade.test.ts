import { afterEach, describe, expect, it } from "vitest";
import type { Connection } from "../../src/engine/connection.ts";
import type { RuntimeCapabilities } from "../../src/engine/engine.ts";
import { Guard } from "../../src/engine/guard.ts";
import { createRefusals } from "../../src/engine/refusals.ts";
import { createUpgrade } from "../../src/engine/upgrade.ts";
import { resolveOptions } from "../../src/options.ts";

const guards: Guard[] = [];
afterEach(() => {
  for (const guard of guards.splice(0)) guard.stop();
});

/** The upgrade hook over a runtime whose `clientIp` counts its calls. */
function upgradeWith(maxConnectionsPerIp: number) {
  const options = resolveOptions({ maxConnectionsPerIp });
  const guard = new Guard(options.guard);
  guards.push(guard);
  const calls = { clientIp: 0 };
  const runtime = { clientIp: () => (calls.clientIp++, "10.0.0.1") } as unknown as RuntimeCapabilities;
  const refusals = createRefusals(() => {});
  const upgrade = createUpgrade({ options, guard, runtime, report: () => {}, refusals, closing: () => false });
  return { upgrade, guard, calls };
}

const request = () => new Request("http://127.0.0.1/live", { headers: { upgrade: "websocket" } });

describe("upgrade hook", () => {
  it("does not read the client address without a per-IP limit (on Node the first read caches a peer-name object per socket)", async () => {
    const { upgrade, calls } = upgradeWith(0);
    expect(await upgrade(request())).toBeUndefined();
    expect(calls.clientIp).toBe(0);
  });

  it("reads the client address and refuses with 429 once its address is at the per-IP limit", async () => {
    const { upgrade, guard, calls } = upgradeWith(1);
    expect(await upgrade(request())).toBeUndefined();
    expect(calls.clientIp).toBe(1);
    expect(guard.admit({} as Connection, () => "10.0.0.1")).toBe(true);
    const refused = await upgrade(request());
    expect(refused).toBeInstanceOf(Response);
    expect((refused as Response).status).toBe(429);
  });
});
