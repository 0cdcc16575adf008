/** Room streams when an instance dies, with Bun and Deno instances on a single Redis (see the suite). */
import { startChildFixture } from "../fixtures/child.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { streamsFailoverSuite, type StartStreamsInstance } from "../suites/streams-failover.suite.ts";

const on =
  (runtime: "bun" | "deno"): StartStreamsInstance =>
  async (prefix) => {
    const f = await startChildFixture(runtime)({ redisPrefix: prefix, redisUrl: REDIS_URL, rateLimit: false });
    return { port: Number(new URL(f.httpUrl).port), wsUrl: f.wsUrl, stop: f.stop, kill: f.kill! };
  };

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  streamsFailoverSuite("Bun on a single Redis", on("bun"));
  streamsFailoverSuite("Deno on a single Redis", on("deno"));
});
