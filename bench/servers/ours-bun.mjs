// Our server on Bun, for `npm run bench -- --runtime bun`. Contract: bench/README.md.
// Room fan-out goes through Bun's native publish (adapters/bun-fanout.ts).
import { createServer } from "../../dist/bun.js";
import { serveBenchControl } from "./control.mjs";
// control.mjs answers `gc` with globalThis.gc(); Bun's is Bun.gc.
globalThis.gc ??= () => Bun.gc(true);
const errors = { count: 0 };
const server = createServer({
  port: 0,
  hostname: "127.0.0.1",
  path: "/live",
  presenceThrottleMs: Number(process.env.BENCH_PRESENCE_THROTTLE_MS ?? 100),
  chat: { historyLimit: 0 },
  onError(error, context) {
    if (++errors.count <= 5) console.error(`[ours onError] ${context?.stage ?? "?"}: ${error?.stack ?? error}`);
  }
});
serveBenchControl(server.port, (done) => void server.close().then(done, done));
