// A CPU cap for one benchmarked server: a cgroup (v1 `cpu` controller, as this machine mounts it at
// /sys/fs/cgroup/cpu; needs root) whose CFS quota lets the server's threads run `cores` of a core per
// 10 ms period. On a 2-core machine whose load clients need a core of their own, this is how a server is
// made the bottleneck ("where both saturate") instead of the clients: each server gets the same slice.
import { mkdirSync, rmdirSync, writeFileSync } from "node:fs";

const ROOT = "/sys/fs/cgroup/cpu";
/** A short period keeps the throttling's own stalls short (the default 100 ms would add up to ~100 ms). */
const PERIOD_US = 10_000;

/** Moves `pid` (all its threads) into a new cgroup capped at `cores`; returns how to remove it. */
export function capCpu(pid, cores) {
  const dir = `${ROOT}/ols-bench-${pid}`;
  try {
    mkdirSync(dir);
    writeFileSync(`${dir}/cpu.cfs_period_us`, String(PERIOD_US));
    writeFileSync(`${dir}/cpu.cfs_quota_us`, String(Math.round(cores * PERIOD_US)));
    writeFileSync(`${dir}/cgroup.procs`, String(pid));
  } catch (error) {
    throw new Error(`--server-cpu needs root and the cgroup v1 cpu controller at ${ROOT}: ${error.message}`);
  }
  // Called after the process exited: an empty cgroup can be removed.
  return () => rmdirSync(dir);
}
