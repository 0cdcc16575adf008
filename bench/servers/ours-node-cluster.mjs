// One member of a Redis-linked cluster for the scale-out bench (bench/scale-out.mjs). Same contract as
// ours-node.mjs (READY <port>, stdin gc, SIGTERM); REDIS_URL and BENCH_REDIS_PREFIX pick the cluster.
// OLS_DIST points at another build of the package (default ../../dist).
import { pathToFileURL } from "node:url";
import { serveBenchControl } from "./control.mjs";

const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
const ext = process.env.OLS_DIST_EXT ?? ".js";
const pkg = await import(pathToFileURL(`${dist}/node${ext}`).href);
const createRedisBackplane =
  pkg.createRedisBackplane ?? (await import(pathToFileURL(`${dist}/redis-backplane${ext}`).href)).createRedisBackplane;

const errors = { count: 0 };
const onError = (error, context) => {
  if (++errors.count <= 5) console.error(`[ours onError] ${context?.stage ?? "?"}: ${error?.stack ?? error}`);
};
const backplane = createRedisBackplane({
  url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  keyPrefix: process.env.BENCH_REDIS_PREFIX,
  onError,
});
const server = pkg.createServer({
  port: 0,
  hostname: "127.0.0.1",
  path: "/live",
  presenceThrottleMs: Number(process.env.BENCH_PRESENCE_THROTTLE_MS ?? 100),
  // History off as in ours-node.mjs (so no warning about in-memory history either).
  // Load clients send as fast as the server takes them: that is what is measured, not the rate limit.
  rateLimit: false,
  chat: { historyLimit: 0 },
  backplane,
  onError,
});
server.on("listening", async () => {
  await backplane.ready();
  serveBenchControl(server.address().port, (done) => server.close(done));
});
