#!/usr/bin/env node
// Presence across Redis (issue 16): `clients` members of one room split over two instances, all moving
// at `hz`, this build against an older one in the same run. Counts, not time: Redis PUBLISH commands
// and their payload bytes per second while the members move, Redis input/output bytes per second, and
// the share of resting positions delivered (must be 100 %).
//
//   node bench/presence-redis.mjs [--old-dist DIR] [--clients 200] [--hz 60] [--move-s 5] [--throttle-ms 0]
//
// A private redis-server on a free loopback port (nothing else talks to it, MONITOR counts the payload
// bytes); servers: bench/servers/ours-node-cluster.mjs with OLS_DIST. `--old-dist` as in big-room.mjs.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { Redis } from "ioredis";
import { ROOT, runLoad, startServer, stopServer } from "./children.mjs";

const opts = { clients: 200, hz: 60, "move-s": 5, "throttle-ms": 0, oldDist: process.env.OLS_OLD_DIST, newDist: join(ROOT, "dist") };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].replace(/^--/, "");
  const value = argv[++i];
  if (name === "old-dist") opts.oldDist = resolve(value);
  else if (name === "new-dist") opts.newDist = resolve(value);
  else if (name in opts) opts[name] = Number(value);
  else throw new Error(`Unknown argument --${name}; see the head of bench/presence-redis.mjs`);
}

const freePort = () =>
  new Promise((done) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });

async function startRedis() {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  process.on("exit", () => child.kill("SIGKILL"));
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: null, maxRetriesPerRequest: 0 });
    probe.on("error", () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { url, child };
    } catch {
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error("private redis-server did not start");
}

async function counters(redis, publishBytes) {
  const info = await redis.info("all");
  const num = (re) => Number(re.exec(info)?.[1] ?? 0);
  return {
    t: performance.now(),
    publish: num(/^cmdstat_publish:calls=(\d+)/m),
    hset: num(/^cmdstat_hset:calls=(\d+)/m),
    netIn: num(/^total_net_input_bytes:(\d+)/m),
    netOut: num(/^total_net_output_bytes:(\d+)/m),
    publishBytes: publishBytes.n,
    records: publishBytes.records,
    entries: publishBytes.entries,
  };
}

/** One build: two instances, the presence load, Redis counters sampled every 250 ms. */
async function runBuild(label, dist, redisUrl) {
  const prefix = `olsbench:${process.pid}:${label}`;
  const env = { OLS_DIST: dist, REDIS_URL: redisUrl, BENCH_REDIS_PREFIX: prefix, BENCH_PRESENCE_THROTTLE_MS: String(opts["throttle-ms"]) };
  const servers = [await startServer("ours-node-cluster.mjs", env), await startServer("ours-node-cluster.mjs", env)];
  const redis = new Redis(redisUrl);
  const monitor = await redis.monitor();
  const publishBytes = { n: 0, records: 0, entries: 0 };
  monitor.on("monitor", (_t, args) => {
    if (args[0]?.toLowerCase() !== "publish") return;
    publishBytes.n += Buffer.byteLength(args[1]) + Buffer.byteLength(args[2] ?? "");
    publishBytes.records += (args[2] ?? "").split('["ols1",').length - 1;
    publishBytes.entries += (args[2] ?? "").split('{"connectionId":').length - 1;
  });
  const samples = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await counters(redis, publishBytes));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const params = { clients: opts.clients, hz: opts.hz, moveMs: opts["move-s"] * 1000, quietMs: 1500 };
  let result;
  let error;
  try {
    result = await runLoad("presence", params, servers, 300_000);
  } catch (e) {
    error = String(e?.message ?? e).split("\n")[0];
  }
  sampling = false;
  await sampler;
  monitor.disconnect();
  redis.disconnect();
  await Promise.all(servers.map(stopServer));
  // Steady state: the median rate of the busier half of the 250 ms samples (the moving phase).
  const rate = (key) => {
    const rates = [];
    for (let i = 1; i < samples.length; i++)
      rates.push(((samples[i][key] - samples[i - 1][key]) * 1000) / (samples[i].t - samples[i - 1].t));
    const busy = rates.sort((a, b) => a - b).slice(Math.floor(rates.length / 2));
    return busy[Math.floor(busy.length / 2)] ?? Number.NaN;
  };
  const total = (key) => samples.at(-1)[key] - samples[0][key];
  return {
    label,
    error,
    resting: result?.resting,
    sentPerSec: result?.sentPerSec,
    publishPerSec: rate("publish"),
    publishBytesPerSec: rate("publishBytes"),
    recordsPerSec: rate("records"),
    hsetPerSec: rate("hset"),
    netInPerSec: rate("netIn"),
    netOutPerSec: rate("netOut"),
    publishTotal: total("publish"),
    publishBytesTotal: total("publishBytes"),
    recordsTotal: total("records"),
    entriesTotal: total("entries"),
    stderr: servers.flatMap((s) => s.stderr),
  };
}

const int = (n) => (n == null || Number.isNaN(n) ? "–" : Math.round(n).toLocaleString("en-US"));
const { url, child } = await startRedis();
try {
  const builds = [
    ["old", opts.oldDist],
    ["new", opts.newDist],
  ].filter(([, dist]) => dist);
  const runs = {};
  for (const [label, dist] of builds) {
    process.stderr.write(`presence-redis: ${label}… `);
    runs[label] = await runBuild(label, dist, url);
    process.stderr.write(runs[label].error ? `FAILED (${runs[label].error})\n` : "done\n");
  }
  const rows = [
    ["updates sent by the clients /s", (r) => r.sentPerSec],
    ["PUBLISH /s", (r) => r.publishPerSec],
    ["records (room messages) in them /s", (r) => r.recordsPerSec],
    ["PUBLISH payload bytes /s", (r) => r.publishBytesPerSec],
    ["HSET /s", (r) => r.hsetPerSec],
    ["Redis input bytes /s", (r) => r.netInPerSec],
    ["Redis output bytes /s (includes the MONITOR feed)", (r) => r.netOutPerSec],
    ["PUBLISH, whole run", (r) => r.publishTotal],
    ["PUBLISH payload bytes, whole run", (r) => r.publishBytesTotal],
    ["records, whole run", (r) => r.recordsTotal],
    ["presence entries carried, whole run", (r) => r.entriesTotal],
    ["PUBLISH payload bytes per entry", (r) => r.publishBytesTotal / r.entriesTotal],
    ["PUBLISH payload bytes per update sent", (r) => r.publishBytesTotal / (r.sentPerSec * opts["move-s"])],
  ];
  const lines = [
    `## Presence across Redis: ${opts.clients} members on 2 instances, ${opts.hz} Hz for ${opts["move-s"]} s, presenceThrottleMs ${opts["throttle-ms"]}`,
    "",
    "| metric | new | old | new ÷ old |",
    "|---|---:|---:|---:|",
  ];
  for (const [name, get] of rows) {
    const n = get(runs.new ?? {});
    const o = runs.old ? get(runs.old) : undefined;
    lines.push(`| ${name} | ${int(n)} | ${int(o)} | ${o ? (n / o).toFixed(3) : "–"} |`);
  }
  const resting = (r) => (r?.resting ? `${r.resting.ok}/${r.resting.total}` : "–");
  lines.push(`| resting positions delivered | ${resting(runs.new)} | ${resting(runs.old)} | |`);
  console.log(lines.join("\n"));
  for (const r of Object.values(runs)) if (r.stderr.length) console.log(`\n${r.label} stderr: ${r.stderr.join(" | ")}`);
} finally {
  child.kill("SIGKILL");
}
