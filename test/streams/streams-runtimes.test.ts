/** Room streams across Bun and Deno instances, on a single Redis and on a Redis Cluster (see the suite). */
import { privateRedises } from "../helpers/private-redises.ts";
import { onCluster, onSingle } from "../helpers/streams-targets.ts";
import { streamsFailoverSuite } from "../suites/streams-failover.suite.ts";

const { single, cluster } = await privateRedises("room streams");
for (const runtime of ["bun", "deno"] as const) {
  if (single) streamsFailoverSuite(`${runtime} on a single Redis`, onSingle(runtime, single));
  if (cluster) streamsFailoverSuite(`${runtime} on a Redis Cluster`, onCluster(runtime, cluster));
}
