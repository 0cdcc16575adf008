// Our server on Node, for `npm run bench`. Contract (see bench/README.md):
// prints `READY <port>` once listening, answers the stdin line `gc` with `GC_DONE`, exits on SIGTERM.
import { createServer } from "../../dist/node.js";
import { serveBenchControl } from "./control.mjs";

const errors = { count: 0, byKind: {} };
// On exit, one line with every onError call counted by stage and error code, for the harness notes.
process.on("exit", () => {
  if (errors.count > 5) console.error(`[ours onError] ${errors.count} calls in total: ${JSON.stringify(errors.byKind)}`);
});
const server = createServer({
  port: 0,
  hostname: "127.0.0.1",
  path: "/live",
  presenceThrottleMs: Number(process.env.BENCH_PRESENCE_THROTTLE_MS ?? 100),
  chat: { historyLimit: 0 },
  onError(error, context) {
    // Log the first few in full so the harness can report them; count the rest.
    const kind = `${context?.stage ?? "?"}:${error?.code ?? error?.name ?? "?"}`;
    errors.byKind[kind] = (errors.byKind[kind] ?? 0) + 1;
    if (++errors.count <= 5) console.error(`[ours onError] ${context?.stage ?? "?"}: ${error?.stack ?? error}`);
  },
});
server.on("listening", () => serveBenchControl(server.address().port, (done) => server.close(done)));
