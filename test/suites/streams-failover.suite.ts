/**
 * Room streams when an instance dies: one suite, run against instances of each runtime on Redis (single
 * or Cluster) by a few-line file per target. A client on instance A (through a proxy) holds a stream; A is
 * killed with SIGKILL and the proxy pointed at B: the client resumes there with every event once, in order.
 */
import { afterEach, describe, expect, it } from "vitest";
import { TestClient } from "../helpers/client.ts";
import { disconnectAll, liveClient, until } from "../helpers/live-clients.ts";
import { createTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

/** One instance on the Redis backplane under `prefix`. */
export interface StreamsInstance {
  port: number;
  wsUrl: string;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}
export type StartStreamsInstance = (prefix: string) => Promise<StreamsInstance>;

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000, seen = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${seen()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function streamsFailoverSuite(target: string, start: StartStreamsInstance) {
  describe(`room streams when an instance dies: ${target}`, () => {
    const instances: StreamsInstance[] = [];
    const raw: TestClient[] = [];
    const proxies: TcpProxy[] = [];
    afterEach(async () => {
      disconnectAll();
      for (const c of raw.splice(0)) c.ws.terminate();
      for (const p of proxies.splice(0)) await p.close();
      await Promise.allSettled(instances.splice(0).map((i) => i.stop()));
    });

    it("a client on an instance killed with SIGKILL resumes on another with every event once, in order, recovered: true", async () => {
      const prefix = `ols-streams-kill-${Math.random().toString(36).slice(2, 8)}`;
      const [a, b] = await Promise.all([start(prefix), start(prefix)]);
      instances.push(a, b);
      const target = { host: "127.0.0.1", port: a.port };
      const proxy = createTcpProxy(target);
      proxies.push(proxy);
      await proxy.start();
      const sender = new TestClient(b.wsUrl);
      raw.push(sender);
      await sender.join("room");
      const client = liveClient(`ws://${proxy.address}/live`);
      const got: number[] = [];
      client.onEvent("n", (payload) => got.push(payload as number));
      client.connect();
      client.joinRoom("room");
      await until(client, (s) => s.inRoom);
      for (let n = 1; n <= 100; n++) sender.send("broadcast_event", { event: "n", payload: n });
      // At most 230 are missed: within the default backlog of 256.
      await waitFor(() => got.length >= 20, "some events through A");
      await a.kill();
      target.port = b.port;
      for (let n = 101; n <= 250; n++)
        sender.send("broadcast_event", { event: "n", payload: n, ...(n === 250 ? { clientMessageId: "last" } : {}) });
      expect((await sender.next("event_ack")).payload.offset).toBe(250);
      await waitFor(
        () => got.at(-1) === 250,
        "the 250th event through B",
        20_000,
        () => JSON.stringify({ n: got.length, last: got.at(-1), state: client.getState() }).slice(0, 600),
      );
      expect(got).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
      expect(client.getState().recovered).toBe(true);
    }, 60_000);
  });
}
