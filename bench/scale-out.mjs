#!/usr/bin/env node
// Scale-out bench: the same load against one instance and against two instances linked by Redis.
//
//   node bench/scale-out.mjs [--duration s] [--repeat n] [--scenario fanout-200,rooms-1000x100,local-4x25,fanout-1000,rooms-1000]
//                            [--clients n] [--baseline-dist dir] [--pin]
//
// --pin: every server on CPU 0, the load client (and this script) on CPU 1, Redis where the OS puts it.
// One instance and two instances then get the same one core, and the load client takes none of it: the
// ratio is what splitting a room across instances costs, not how four processes share two cores.
//
// local-4x25: 4 instances, each hosting its own 25 of 100 rooms (all members of a room on one instance),
// every member sending. Measures Redis bytes sent to the instances per room message (INFO
// total_net_output_bytes ÷ instances) and server CPU per delivery. With --baseline-dist (a build of an
// older version, e.g. the single `P:bus` channel) the same 4-instance run is repeated on that build.
// --clients scales every scenario's client count down for smoke runs.
// REDIS_URL may list several Redis Cluster nodes (redis://127.0.0.1:7000,redis://127.0.0.1:7001,…): the
// instances then use the cluster, Redis figures are summed over the listed nodes, and each node's share of
// the bytes and CPU is printed below the table (list every master to see every shard).
//
// fanout-1000 and rooms-1000 (issue 27): one sender to 999 receivers, and 3,000 clients in 1,000 rooms of 3,
// on one instance with Redis and on 3 instances (run them with REDIS_URL listing a 3-master cluster).
// Configurations, in the same run, best of --repeat each (other processes only ever slow a run down):
//   single      bench/servers/ours-node.mjs, no backplane
//   single+redis one ours-node-cluster.mjs instance with the Redis backplane
//   2 instances two ours-node-cluster.mjs instances, clients spread round-robin (bench/load-client.mjs)
// Redis cost comes from INFO: `publish` calls/s sampled during the run ÷ room messages/s sent by the
// load client (steady state), and Redis CPU over the run. Needs Redis at REDIS_URL (redis://127.0.0.1:6379).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pin, ROOT, runLoad, startServer, stopServer } from "./children.mjs";
import { Redis } from "ioredis";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const SCENARIOS = [
  {
    name: "fanout-200",
    load: "fanout",
    params: { receivers: 199, window: 16 },
    configs: ["single", "single+redis", "2 instances", "single (baseline)", "2 instances (baseline)"],
  },
  { name: "rooms-1000x100", load: "rooms", params: { clients: 1000, rooms: 100, window: 10 } },
  // Issue 27's cluster figure: 3 instances on a 3-master Redis Cluster (REDIS_URL listing the masters).
  { name: "fanout-1000", load: "fanout", params: { receivers: 999, window: 16 }, configs: ["single+redis", "3 instances"] },
  { name: "rooms-1000", load: "rooms", params: { clients: 3000, rooms: 1000, window: 10 }, configs: ["single+redis", "3 instances"] },
  {
    name: "local-4x25",
    load: "rooms",
    params: { clients: 1000, rooms: 100, window: 10, localRooms: true },
    configs: ["4 instances", "4 instances (baseline)"],
  },
];

function parseArgs(argv) {
  const out = { duration: 5, warmup: 1, repeat: 2, scenario: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => inline ?? argv[++i];
    if (flag === "--duration") out.duration = Number(value());
    else if (flag === "--warmup") out.warmup = Number(value());
    else if (flag === "--repeat") out.repeat = Number(value());
    else if (flag === "--scenario") out.scenario = value();
    else if (flag === "--clients") out.clients = Number(value());
    else if (flag === "--baseline-dist") out.baselineDist = value();
    else if (flag === "--pin") out.pin = true;
    else throw new Error(`Unknown argument ${argv[i]}`);
  }
  return out;
}

/** The built package (`npm run bench` runs tsdown first). */
async function distDir() {
  return { dir: join(ROOT, "dist"), ext: ".js" };
}

/** One node's counters; `redis` is one client or an array (one per cluster node), summed, with `nodes` kept. */
async function redisStats(redis, section = "all") {
  if (Array.isArray(redis)) {
    const nodes = await Promise.all(redis.map((r) => redisStats(r, section)));
    const sum = (k) => nodes.reduce((a, n) => a + (Number.isNaN(n[k]) ? 0 : n[k]), 0);
    return { publish: sum("publish"), netOut: sum("netOut"), hset: sum("hset"), cpu: sum("cpu"), t: Date.now(), nodes };
  }
  const info = await redis.info(section);
  const num = (re) => Number(re.exec(info)?.[1] ?? NaN);
  const calls = (name) => num(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m"));
  return {
    publish: (calls("publish") || 0) + (calls("spublish") || 0),
    netOut: num(/^total_net_output_bytes:(\d+)/m),
    hset: calls("hset"),
    cpu: num(/^used_cpu_user:([\d.]+)/m) + num(/^used_cpu_sys:([\d.]+)/m),
    t: Date.now(),
  };
}

/** Samples `publish` calls while the load runs; the steady-state rate is the median of the busier half. */
function samplePublishes(redis) {
  const rates = [];
  let last;
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const s = await redisStats(redis, "commandstats");
      if (last) rates.push(((s.publish - last.publish) * 1000) / (s.t - last.t));
      last = s;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return async () => {
    stop = true;
    await done;
    const busy = rates.sort((a, b) => a - b).slice(Math.floor(rates.length / 2));
    return busy[Math.floor(busy.length / 2)] ?? NaN;
  };
}

async function runConfig(config, scenario, opts, dist, redis, rep) {
  const prefix = `olsbench:${process.pid}:${scenario.name}:${config.name.replace(/\W+/g, "")}:${rep}`;
  const env = { OLS_DIST: config.baseline ? opts.baselineDist : dist.dir, OLS_DIST_EXT: dist.ext, REDIS_URL, BENCH_REDIS_PREFIX: prefix };
  const servers = [];
  for (let i = 0; i < config.instances; i++) servers.push(await startServer(config.file, env));
  if (opts.pin) for (const s of servers) pin(s.pid, "0");
  const params = { ...scenario.params, durationMs: opts.duration * 1000, warmupMs: opts.warmup * 1000 };
  if (opts.clients) params.clients = Math.min(params.clients ?? opts.clients, opts.clients);
  const before = await redisStats(redis);
  const stopSampling = config.redis ? samplePublishes(redis) : null;
  let result;
  let error;
  try {
    result = await runLoad(scenario.load, params, servers);
  } catch (e) {
    error = String(e.message).split("\n")[0];
  }
  const publishRate = stopSampling ? await stopSampling() : NaN;
  const after = await redisStats(redis);
  await Promise.all(servers.map(stopServer));
  const seconds = (after.t - before.t) / 1000;
  return {
    config: config.name,
    scenario: scenario.name,
    result,
    error,
    publishPerMessage: config.redis && result ? publishRate / result.sentPerSec : null,
    publishRate,
    hsetCalls: after.hset - before.hset,
    // Everything Redis wrote to its clients over the run (the bench's own INFO replies are a few kB), per instance.
    redisBytesPerInstance: config.redis ? (after.netOut - before.netOut) / config.instances : null,
    redisBytesPerMessage: config.redis && result ? (after.netOut - before.netOut) / config.instances / (result.sentPerSec * seconds) : null,
    perShard: after.nodes?.map((n, i) => ({ bytes: n.netOut - before.nodes[i].netOut, cpu: (n.cpu - before.nodes[i].cpu) / seconds })),
    cpuPerDeliveryUs: result
      ? ((result.serverCpus ?? [result.serverCpu]).reduce((a, b) => a + b, 0) * 1e6) / result.deliveriesPerSec
      : null,
    redisCpu: config.redis ? (after.cpu - before.cpu) / seconds : null,
    stderr: servers.flatMap((s) => s.stderr),
  };
}

const CONFIGS = [
  { name: "single", file: "ours-node.mjs", instances: 1, redis: false },
  { name: "single+redis", file: "ours-node-cluster.mjs", instances: 1, redis: true },
  { name: "2 instances", file: "ours-node-cluster.mjs", instances: 2, redis: true },
  { name: "single (baseline)", file: "ours-node.mjs", instances: 1, redis: false, baseline: true },
  { name: "2 instances (baseline)", file: "ours-node-cluster.mjs", instances: 2, redis: true, baseline: true },
  { name: "3 instances", file: "ours-node-cluster.mjs", instances: 3, redis: true },
  { name: "4 instances", file: "ours-node-cluster.mjs", instances: 4, redis: true },
  { name: "4 instances (baseline)", file: "ours-node-cluster.mjs", instances: 4, redis: true, baseline: true },
];
const DEFAULT_CONFIGS = ["single", "single+redis", "2 instances"];
/** The configurations a scenario runs: its own list, else the default three; the baseline only with --baseline-dist. */
const configsOf = (scenario, opts) =>
  CONFIGS.filter((c) => (scenario.configs ?? DEFAULT_CONFIGS).includes(c.name) && (!c.baseline || opts.baselineDist));

const fmt = (n, d = 0) =>
  n == null || Number.isNaN(n) ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const wanted = opts.scenario ? opts.scenario.split(",") : SCENARIOS.map((s) => s.name);
  const dist = await distDir();
  if (opts.pin) pin(process.pid, "1"); // the load client is forked from here and inherits it
  const urls = REDIS_URL.split(",").map((u) => u.trim());
  const redis = urls.length > 1 ? urls.map((u) => new Redis(u)) : new Redis(REDIS_URL);
  const lines = [
    `## Scale-out bench (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)`,
    "",
    `Node ${process.version}; ${opts.duration} s windows, best of ${opts.repeat}. One load-client process; ${opts.pin ? "servers pinned to CPU 0, the load client to CPU 1, Redis unpinned" : "the servers, Redis and the load client share 2 cores"}.`,
    "",
    "| scenario | setup | deliveries/s | vs single | p50 ms (per instance) | p99 ms | CPU servers / client / other | server CPU µs per delivery | Redis PUBLISH per room message | Redis bytes out per instance per room message | Redis CPU |",
    "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
  ];
  const notes = [];
  const pairedRatios = {};
  for (const scenario of SCENARIOS.filter((s) => wanted.includes(s.name))) {
    const best = {};
    const perRep = {};
    for (let rep = 0; rep < opts.repeat; rep++) {
      const configs = configsOf(scenario, opts);
      for (const config of rep % 2 ? [...configs].reverse() : configs) {
        process.stderr.write(`scale-out: ${scenario.name} ${config.name} #${rep + 1}… `);
        const run = await runConfig(config, scenario, opts, dist, redis, rep);
        const r = run.result;
        process.stderr.write(
          run.error
            ? `FAILED ${run.error}\n`
            : `${fmt(r.deliveriesPerSec)}/s p50 ${fmt(r.latency.p50, 2)} p99 ${fmt(r.latency.p99, 2)}${r.latencyByTarget?.length ? ` (p50 per instance ${r.latencyByTarget.map((l) => fmt(l.p50, 2)).join("/")})` : ""} publish/msg ${fmt(run.publishPerMessage, 2)} CPU ${(r.serverCpus ?? [r.serverCpu]).map((c) => fmt(c, 2)).join("+")} / ${fmt(r.clientCpu, 2)} / other ${fmt(r.otherCpu, 2)}\n`,
        );
        if (run.error) notes.push(`${scenario.name} / ${config.name}: ${run.error}`);
        if (run.perShard && config.redis)
          notes.push(
            `${scenario.name} / ${config.name} #${rep + 1}: per shard (bytes out, CPU cores): ${run.perShard.map((n) => `${fmt(n.bytes)} B, ${fmt(n.cpu, 3)}`).join("; ")}`,
          );
        if (r?.undelivered > 0)
          notes.push(`${scenario.name} / ${config.name} #${rep + 1}: ${r.undelivered} deliveries missing after the drain`);
        if (run.stderr.length) notes.push(`${scenario.name} / ${config.name}: server stderr: ${run.stderr.slice(0, 2).join(" | ")}`);
        if (r) (perRep[config.name] ??= [])[rep] = r.deliveriesPerSec;
        const prev = best[config.name];
        if (r && (!prev || r.deliveriesPerSec > prev.result.deliveriesPerSec)) best[config.name] = run;
      }
    }
    // Each repeat's two-instance figure over its own single-instance figure: the machine's drift between
    // repeats cancels out, so the median of these is steadier than the ratio of bests.
    const paired = (two, one) => perRep[two]?.map((v, i) => v / perRep[one]?.[i]).filter((x) => Number.isFinite(x)) ?? [];
    const describe = (xs) =>
      xs.length
        ? `median ${[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(2)}× (${xs.map((x) => x.toFixed(2)).join(", ")})`
        : "";
    const ours = paired("2 instances", "single");
    const theirs = paired("2 instances (baseline)", "single (baseline)");
    if (ours.length)
      pairedRatios[scenario.name] =
        `2 instances ÷ single, per repeat: ${describe(ours)}${theirs.length ? `; baseline: ${describe(theirs)}` : ""}`;
    for (const config of configsOf(scenario, opts)) {
      const run = best[config.name];
      const r = run?.result;
      if (!r) continue;
      // Baseline rows are compared with the baseline's own single instance.
      const single = best[config.baseline ? "single (baseline)" : "single"]?.result?.deliveriesPerSec;
      lines.push(
        `| ${scenario.name} | ${config.name} | ${fmt(r.deliveriesPerSec)} | ${single ? `${(r.deliveriesPerSec / single).toFixed(2)}×` : "–"} | ${fmt(r.latency.p50, 2)}${r.latencyByTarget?.length ? ` (${r.latencyByTarget.map((l) => fmt(l.p50, 2)).join(" / ")})` : ""} | ${fmt(r.latency.p99, 2)} | ${(r.serverCpus ?? [r.serverCpu]).map((c) => fmt(c, 2)).join(" + ")} / ${fmt(r.clientCpu, 2)} / ${fmt(r.otherCpu, 2)} | ${fmt(run.cpuPerDeliveryUs, 1)} | ${config.redis ? fmt(run.publishPerMessage, 2) : "–"} | ${config.redis ? fmt(run.redisBytesPerMessage, 0) : "–"} | ${config.redis ? fmt(run.redisCpu, 2) : "–"} |`,
      );
    }
  }
  await Promise.all([redis].flat().map((r) => r.quit()));
  for (const [scenario, reps] of Object.entries(pairedRatios)) notes.push(`${scenario}: ${reps}`);
  lines.push("", ...notes.map((n) => `- ${n}`));
  const text = `${lines.join("\n")}\n`;
  process.stdout.write(text);
  mkdirSync(join(ROOT, ".bench"), { recursive: true });
  writeFileSync(join(ROOT, ".bench/scale-out.md"), text);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
