/**
 * Targets for the room streams suite (test/suites/streams-failover.suite.ts): instances of one runtime
 * (child processes from the sources) on a private Redis or a private Redis Cluster, which the suite may
 * restart empty. Nothing here touches the shared Redis.
 */
import { afterAll } from "vitest";
import { startChild, type Runtime } from "../fixtures/child.ts";
import { STREAMS_API_SECRET, type StreamsTarget } from "../suites/streams-failover.suite.ts";
import { startPrivateRedisCluster, type PrivateRedisCluster } from "./redis-cluster.ts";
import { startPrivateRedis, type PrivateRedis } from "./redis-server.ts";

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

/** A private redis-server and a private Redis Cluster for this file (undefined when not installed); stopped after it. */
export async function privateRedises(): Promise<{ single?: PrivateRedis; cluster?: PrivateRedisCluster }> {
  const single = await startPrivateRedis();
  let cluster: PrivateRedisCluster | undefined;
  try {
    cluster = await startPrivateRedisCluster();
  } catch (error) {
    console.warn(`[skip] room streams on a Redis Cluster: ${error}`);
  }
  afterAll(async () => {
    await single?.stop();
    await cluster?.stop();
  });
  return { single, cluster };
}

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
