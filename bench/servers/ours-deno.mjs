// Our server on Deno, for `npm run bench -- --runtime deno`. Contract: bench/README.md.
// Run with --v8-flags=--expose-gc so the stdin `gc` command collects garbage.
import { createServer } from "../../dist/deno.js";
import { serveBenchControl } from "./control.mjs";
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
