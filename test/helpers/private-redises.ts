/**
 * A private redis-server and a private Redis Cluster for one test file, stopped after it: for tests that
 * restart or flush Redis, or need a cluster, without touching the shared Redis.
 */
import { afterAll } from "vitest";
import { startPrivateRedisCluster, type PrivateRedisCluster } from "./redis-cluster.ts";
import { startPrivateRedis, type PrivateRedis } from "./redis-server.ts";

/** Both (either undefined when not installed; the cluster's absence is a warning naming `what`). */
export async function privateRedises(what: string): Promise<{ single?: PrivateRedis; cluster?: PrivateRedisCluster }> {
  const single = await startPrivateRedis();
  let cluster: PrivateRedisCluster | undefined;
  try {
    cluster = await startPrivateRedisCluster();
  } catch (error) {
    console.warn(`[skip] ${what} on a Redis Cluster: ${error}`);
  }
  afterAll(async () => {
    await single?.stop();
    await cluster?.stop();
  });
  return { single, cluster };
}
