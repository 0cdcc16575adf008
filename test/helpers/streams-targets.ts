/**
 * Targets for the room streams suite (test/suites/streams-failover.suite.ts): instances of one runtime
 * (child processes from the sources) on a private Redis or a private Redis Cluster, which the suite may
 * restart empty. Nothing here touches the shared Redis.
 */
import { startChild, type Runtime } from "../fixtures/child.ts";
import { STREAMS_API_SECRET, type StreamsTarget } from "../suites/streams-failover.suite.ts";
import type { PrivateRedisCluster } from "./redis-cluster.ts";
import type { PrivateRedis } from "./redis-server.ts";

/** Start instances of `runtime` on Redis at `url()`. */
const instancesOf = (runtime: Runtime, url: () => string) => async (prefix: string) => {
  const f = await startChild(runtime, "standalone", {
    redisPrefix: prefix,
    redisUrl: url(),
    rateLimit: false,
    apiSecret: STREAMS_API_SECRET,
  });
  return { port: Number(new URL(f.httpUrl).port), wsUrl: f.wsUrl, httpUrl: f.httpUrl, stop: f.stop, kill: f.kill! };
};

/** `runtime` on a single Redis: losing data restarts it empty. */
export function onSingle(runtime: Runtime, redis: PrivateRedis): StreamsTarget {
  return {
    start: instancesOf(runtime, () => redis.url),
    loseData: async () => {
      await redis.kill();
      await redis.start();
    },
  };
}

/** `runtime` on a Redis Cluster: losing data restarts the node that holds the room's slot, empty. */
export function onCluster(runtime: Runtime, cluster: PrivateRedisCluster): StreamsTarget {
  return {
    start: instancesOf(runtime, () => cluster.url),
    loseData: cluster.canRestart
      ? async (roomId) => {
          const i = cluster.ports.indexOf(cluster.portOf(`{${roomId}}`));
          await cluster.kill(i);
          await cluster.start(i);
        }
      : undefined,
  };
}
