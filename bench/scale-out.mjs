#!/usr/bin/env node
// Scale-out bench: the same load against one instance and against two instances linked by Redis.
//
//   node bench/scale-out.mjs [--duration s] [--repeat n] [--scenario fanout-200,rooms-1000x100,local-4x25,fanout-1000,rooms-1000]
//                            [--clients n] [--baseline-dist dir] [--pin] [--procs n] [--timeout s]
//
// --procs n: the clients spread over n load processes (each a share of the rooms, or of fan-out's
// receivers, the sender in the last one), started together; counts summed, latency histograms merged.
// One process could not keep up with 3,000 clients in 1,000 rooms on a loaded machine. --timeout (s,
// default 180) bounds a run: one that does not finish is reported with where each process was.
// --window n: messages each sender (fan-out) or room keeps in flight, instead of the scenario's own
// (16 for fan-out, 10 per room): on a loaded machine a small window measures scheduling delays (every
// hop waits for a core), a larger one what the processes can carry.
// --cluster: start a private 3-master Redis Cluster (bench/redis-cluster.mjs: loopback, random ports,
// stopped by PID at the end) and use it instead of REDIS_URL.
// Every run's `uptime` load average is printed with it; the table gives each configuration's median
// over --repeat and its range.
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
// Redis cost comes from INFO at the edges of the load client's measured window: PUBLISH (and, with room
// streams, script) calls ÷ room messages the load client sent in it, bytes out, and CPU per shard. Needs Redis at REDIS_URL (redis://127.0.0.1:6379).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pin, ROOT, runLoad, startServer, stopServer } from "./children.mjs";
import { Redis } from "ioredis";
import { startRedisCluster } from "./redis-cluster.mjs";

let REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const SCENARIOS = [
  {
    name: "fanout-200",
    load: "fanout",
    params: { receivers: 199, window: 16 },
    configs: ["single", "single+redis", "2 instances", "single (baseline)", "2 instances (baseline)"],
  },
  { name: "rooms-1000x100", load: "rooms", params: { clients: 1000, rooms: 100, window: 10 } },
  // Issue 27's cluster figure: 3 instances on a 3-master Redis Cluster (REDIS_URL listing the masters).
  // With --baseline-dist, the same two on that build in the same run (before/after).
  {
    name: "fanout-1000",
    load: "fanout",
    params: { receivers: 999, window: 16 },
    configs: ["single+redis", "3 instances", "single+redis (baseline)", "3 instances (baseline)"],
  },
  {
    name: "rooms-1000",
    load: "rooms",
    params: { clients: 3000, rooms: 1000, window: 10 },
    configs: ["single+redis", "3 instances", "single+redis (baseline)", "3 instances (baseline)"],
  },
  {
    name: "local-4x25",
    load: "rooms",
    params: { clients: 1000, rooms: 100, window: 10, localRooms: true },
    configs: ["4 instances", "4 instances (baseline)"],
  },
];

function parseArgs(argv) {
  const out = { duration: 5, warmup: 1, repeat: 2, scenario: null, procs: 1, timeout: 180 };
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
    else if (flag === "--procs") out.procs = Number(value());
    else if (flag === "--cluster") out.cluster = true;
    else if (flag === "--window") out.window = Number(value());
    else if (flag === "--timeout") out.timeout = Number(value());
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
    return {
      publish: sum("publish"),
      evals: sum("evals"),
      netOut: sum("netOut"),
      netIn: sum("netIn"),
      hset: sum("hset"),
      cpu: sum("cpu"),
      t: Date.now(),
      nodes,
    };
  }
  const info = await redis.info(section);
  const num = (re) => Number(re.exec(info)?.[1] ?? NaN);
  const calls = (name) => num(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m"));
  return {
    publish: (calls("publish") || 0) + (calls("spublish") || 0),
    // Room streams sequence a room's batch in one script call, which makes the PUBLISH inside it.
    evals: (calls("eval") || 0) + (calls("evalsha") || 0),
    netOut: num(/^total_net_output_bytes:(\d+)/m),
    netIn: num(/^total_net_input_bytes:(\d+)/m),
    hset: calls("hset"),
    cpu: num(/^used_cpu_user:([\d.]+)/m) + num(/^used_cpu_sys:([\d.]+)/m),
    t: Date.now(),
  };
}

/** `uptime`'s 1-minute load average (other helpers share the machine). */
const loadAverage = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

/**
 * Redis's counters at the edges of the load client's measured window (it reports them as it opens and
 * closes it): PUBLISH and script calls, bytes out and CPU over the same seconds as the deliveries, not
 * over the connecting and joining before them.
 */
function redisWindow(redis) {
  const at = {};
  return {
    onWindow: (edge) => {
      at[edge] = redisStats(redis);
    },
    read: async () => (at.start && at.end ? { before: await at.start, after: await at.end } : undefined),
  };
}

/** Per room message sent in the window, and per second, from two snapshots of Redis's counters. */
function redisCosts(config, result, w) {
  if (!config.redis || !result || !w) return {};
  const { before, after } = w;
  const seconds = (after.t - before.t) / 1000;
  const messages = result.sentPerSec * result.seconds;
  return {
    publishPerMessage: (after.publish - before.publish) / messages,
    evalsPerMessage: (after.evals - before.evals) / messages,
    hsetCalls: after.hset - before.hset,
    // Everything Redis wrote to its clients in the window (the bench's own INFO replies are a few kB), per instance.
    redisBytesPerMessage: (after.netOut - before.netOut) / config.instances / messages,
    // What the instances sent Redis (commands, scripts' arguments) per room message.
    redisBytesInPerMessage: (after.netIn - before.netIn) / messages,
    perShard: after.nodes?.map((n, i) => ({ bytes: n.netOut - before.nodes[i].netOut, cpu: (n.cpu - before.nodes[i].cpu) / seconds })),
    redisCpu: (after.cpu - before.cpu) / seconds,
    // Redis CPU (every shard's summed) per room message: what a message costs the cluster.
    redisUsPerMessage: ((after.cpu - before.cpu) * 1e6) / messages,
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
  if (opts.window) params.window = opts.window;
  // Fewer clients, as many per room.
  if (params.rooms) params.rooms = Math.max(1, Math.round((params.rooms * params.clients) / scenario.params.clients));
  const loadAvg = loadAverage();
  const window = redisWindow(redis);
  let result;
  let error;
  try {
    result = await runLoad(scenario.load, params, servers, opts.timeout * 1000, { procs: opts.procs, onWindow: window.onWindow });
  } catch (e) {
    error = String(e.message).split("\n")[0];
  }
  const costs = redisCosts(config, result, await window.read());
  await Promise.all(servers.map(stopServer));
  return {
    config: config.name,
    scenario: scenario.name,
    result,
    error,
    loadAvg,
    ...costs,
    cpuPerDeliveryUs: result
      ? ((result.serverCpus ?? [result.serverCpu]).reduce((a, b) => a + b, 0) * 1e6) / result.deliveriesPerSec
      : null,
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
  { name: "single+redis (baseline)", file: "ours-node-cluster.mjs", instances: 1, redis: true, baseline: true },
  { name: "3 instances (baseline)", file: "ours-node-cluster.mjs", instances: 3, redis: true, baseline: true },
  { name: "4 instances", file: "ours-node-cluster.mjs", instances: 4, redis: true },
  { name: "4 instances (baseline)", file: "ours-node-cluster.mjs", instances: 4, redis: true, baseline: true },
];
const DEFAULT_CONFIGS = ["single", "single+redis", "2 instances"];
/** The configurations a scenario runs: its own list, else the default three; the baseline only with --baseline-dist. */
const configsOf = (scenario, opts) =>
  CONFIGS.filter((c) => (scenario.configs ?? DEFAULT_CONFIGS).includes(c.name) && (!c.baseline || opts.baselineDist));

const fmt = (n, d = 0) =>
  n == null || Number.isNaN(n) ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

const median = (xs) => {
  const v = xs.filter((x) => x != null && !Number.isNaN(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : NaN;
};
/** `median (min–max)` of `xs`, or the one value. */
const spread = (xs, d = 0) => {
  const v = xs.filter((x) => x != null && !Number.isNaN(x));
  if (v.length <= 1) return fmt(v[0], d);
  return `${fmt(median(v), d)} (${fmt(Math.min(...v), d)}–${fmt(Math.max(...v), d)})`;
};
const cpus = (r) => r.serverCpus ?? [r.serverCpu];

/** One run's line on stderr, as it finishes. */
function runLine(run) {
  const r = run.result;
  if (run.error) return `FAILED ${run.error} (load ${run.loadAvg})\n`;
  const perTarget = r.latencyByTarget?.length ? ` (p50 per instance ${r.latencyByTarget.map((l) => fmt(l.p50, 2)).join("/")})` : "";
  const shards = run.perShard ? ` shards CPU ${run.perShard.map((n) => fmt(n.cpu, 3)).join("/")}` : "";
  return `${fmt(r.deliveriesPerSec)}/s p50 ${fmt(r.latency.p50, 2)} p99 ${fmt(r.latency.p99, 2)}${perTarget} publish/msg ${fmt(run.publishPerMessage, 2)} evals/msg ${fmt(run.evalsPerMessage, 2)} CPU ${cpus(
    r,
  )
    .map((c) => fmt(c, 2))
    .join(
      "+",
    )} / ${fmt(r.clientCpu, 2)}${r.clientCpus ? ` (${r.clientCpus.map((c) => fmt(c, 2)).join("+")})` : ""} / other ${fmt(r.otherCpu, 2)}${shards} undelivered ${r.undelivered} load ${run.loadAvg}\n`;
}

/** A configuration's row: medians over its runs with their ranges; CPU split from the median run. */
function tableRow(scenario, config, runs, baseRuns) {
  const ok = runs.filter((run) => run.result);
  if (!ok.length) return `| ${scenario.name} | ${config.name} | failed: ${runs[0]?.error ?? "–"} |||||||||||||`;
  const rate = (run) => run.result.deliveriesPerSec;
  const mid = [...ok].sort((a, b) => rate(a) - rate(b))[Math.floor((ok.length - 1) / 2)];
  const base = baseRuns?.filter((run) => run.result).map(rate);
  const vs = base?.length && baseRuns !== runs ? `${(median(ok.map(rate)) / median(base)).toFixed(2)}×` : "–";
  const r = mid.result;
  const shards = ok[0].perShard?.map((_, i) => fmt(median(ok.map((run) => run.perShard[i].cpu)), 3)).join(" / ");
  const redis = (get, d) => (config.redis ? spread(ok.map(get), d) : "–");
  return `| ${scenario.name} | ${config.name} | ${spread(ok.map(rate))} | ${vs} | ${spread(
    ok.map((run) => run.result.latency.p50),
    1,
  )} | ${spread(
    ok.map((run) => run.result.latency.p99),
    1,
  )} | ${spread(
    runs.map((run) => run.loadAvg),
    1,
  )} | ${cpus(r)
    .map((c) => fmt(c, 2))
    .join(
      " + ",
    )} / ${fmt(r.clientCpu, 2)} / ${fmt(r.otherCpu, 2)} | ${fmt(median(ok.map((run) => run.cpuPerDeliveryUs)), 1)} | ${redis((run) => run.publishPerMessage, 2)} | ${redis((run) => run.evalsPerMessage, 2)} | ${config.redis ? fmt(median(ok.map((run) => run.redisBytesInPerMessage))) : "–"} | ${config.redis ? fmt(median(ok.map((run) => run.redisBytesPerMessage))) : "–"} | ${config.redis ? (shards ?? fmt(median(ok.map((run) => run.redisCpu)), 3)) : "–"} | ${redis((run) => run.redisUsPerMessage, 1)} |`;
}

/** Notes on one run: failures, shards, missing deliveries, servers' stderr. */
function runNotes(scenario, config, run, rep) {
  const notes = [];
  const r = run.result;
  const at = `${scenario.name} / ${config.name} #${rep + 1}`;
  if (run.error) notes.push(`${at}: ${run.error}`);
  if (run.perShard && config.redis)
    notes.push(`${at}: per shard (bytes out, CPU cores): ${run.perShard.map((n) => `${fmt(n.bytes)} B, ${fmt(n.cpu, 3)}`).join("; ")}`);
  if (r?.undelivered > 0) notes.push(`${at}: ${r.undelivered} deliveries missing after the drain`);
  if (run.stderr.length) notes.push(`${at}: server stderr: ${run.stderr.slice(0, 2).join(" | ")}`);
  return notes;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const wanted = opts.scenario ? opts.scenario.split(",") : SCENARIOS.map((s) => s.name);
  const dist = await distDir();
  if (opts.pin) pin(process.pid, "1"); // the load client is forked from here and inherits it
  const cluster = opts.cluster ? await startRedisCluster(3) : undefined;
  if (cluster) REDIS_URL = cluster.url;
  const urls = REDIS_URL.split(",").map((u) => u.trim());
  const redis = urls.length > 1 ? urls.map((u) => new Redis(u)) : new Redis(REDIS_URL);
  const lines = [
    `## Scale-out bench (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)`,
    "",
    `Node ${process.version}; ${opts.duration} s windows; median of ${opts.repeat} runs (range in brackets). ${opts.procs} load-client process${opts.procs > 1 ? "es" : ""}${opts.window ? `; ${opts.window} messages in flight per sender or room` : ""}; ${opts.pin ? "servers pinned to CPU 0, the load client to CPU 1, Redis unpinned" : "the servers, Redis and the load client share 2 cores"}. ${urls.length > 1 ? `Redis Cluster of ${urls.length} listed nodes.` : ""}`,
    "",
    "| scenario | setup | deliveries/s | vs base | p50 ms | p99 ms | load avg (1 min) | CPU servers / client / other (median run) | server CPU µs per delivery | Redis PUBLISH per room message | Redis script calls per room message | Redis bytes in per room message | Redis bytes out per instance per room message | Redis CPU (per shard, cores) | Redis CPU µs per room message (all shards) |",
    "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const notes = [];
  for (const scenario of SCENARIOS.filter((s) => wanted.includes(s.name))) {
    const configs = configsOf(scenario, opts);
    const runs = Object.fromEntries(configs.map((c) => [c.name, []]));
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const config of rep % 2 ? [...configs].reverse() : configs) {
        process.stderr.write(`scale-out: ${scenario.name} ${config.name} #${rep + 1}… `);
        const run = await runConfig(config, scenario, opts, dist, redis, rep);
        process.stderr.write(runLine(run));
        notes.push(...runNotes(scenario, config, run, rep));
        runs[config.name][rep] = run;
      }
    }
    // Each repeat's figure over its own base's (single, else single+redis): the machine's drift between
    // repeats cancels out, so the median of these is steadier than the ratio of medians.
    const baseOf = (config) => {
      const suffix = config.baseline ? " (baseline)" : "";
      return runs[`single${suffix}`] ? `single${suffix}` : `single+redis${suffix}`;
    };
    const pairedNote = (name, baseName, what, get) => {
      const paired = (runs[name] ?? []).map((run, i) => get(run) / get(runs[baseName]?.[i])).filter((x) => Number.isFinite(x));
      if (paired.length)
        notes.push(
          `${scenario.name}: ${name} ÷ ${baseName}, ${what} per repeat: median ${median(paired).toFixed(2)}× (${paired.map((x) => x.toFixed(2)).join(", ")})`,
        );
    };
    const rate = (run) => run?.result?.deliveriesPerSec;
    for (const config of configs) {
      const base = runs[baseOf(config)];
      lines.push(tableRow(scenario, config, runs[config.name], base));
      if (base && base !== runs[config.name]) pairedNote(config.name, baseOf(config), "deliveries/s", rate);
      // This build against the baseline's same setup: what a change did, in the same run.
      if (!config.baseline && runs[`${config.name} (baseline)`] && config.redis)
        pairedNote(config.name, `${config.name} (baseline)`, "Redis CPU per room message", (run) => run?.redisUsPerMessage);
    }
  }
  await Promise.all([redis].flat().map((r) => r.quit()));
  await cluster?.stop();
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
