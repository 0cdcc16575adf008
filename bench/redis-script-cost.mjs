#!/usr/bin/env node
// What one room-streams sequencing call costs Redis, sent as EVAL (the script's 1.2 KB body each time,
// hashed by Redis each time) or as EVALSHA (ioredis `defineCommand`, what src/cluster/redis-driver.ts's
// `runScript` does): Redis CPU (INFO used_cpu_user + used_cpu_sys) and bytes in per call, on a private
// redis-server (loopback, random port, stopped by PID). CPU time of one process, interleaved rounds.
//
//   node bench/redis-script-cost.mjs [--calls 20000] [--batch 1,8] [--rounds 3]
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { Redis } from "ioredis";
import { ROOT } from "./children.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const CALLS = Number(arg("--calls", 20000));
const BATCHES = arg("--batch", "1,8").split(",").map(Number);
const ROUNDS = Number(arg("--rounds", 3));

// The script as the package sends it (the TypeScript template literal's `\\n` is Lua's `\n`).
const source = readFileSync(join(ROOT, "src/cluster/redis-streams.ts"), "utf8");
const SEQUENCE = /const SEQUENCE = `([\s\S]*?)`;/
  .exec(source)[1]
  .replaceAll("\\\\n", "\\n")
  .replace(/\$\{SEQ_TTL_MS\}/, String(24 * 60 * 60 * 1000));

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
  stdio: "ignore",
});
process.on("exit", () => server.kill("SIGKILL"));
for (
  let i = 0;
  spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "ping"], { encoding: "utf8" }).stdout?.trim() !== "PONG";
  i++
) {
  if (i > 200) throw new Error("redis-server did not start");
  await new Promise((r) => setTimeout(r, 50));
}
const redis = new Redis({ port, host: "127.0.0.1" });
redis.defineCommand("olsSequence", { lua: SEQUENCE });

const stats = async () => {
  const info = await redis.info();
  const num = (re) => Number(re.exec(info)[1]);
  return { cpu: num(/^used_cpu_user:([\d.]+)/m) + num(/^used_cpu_sys:([\d.]+)/m), bytesIn: num(/^total_net_input_bytes:(\d+)/m) };
};

const frame = (i) =>
  `{"type":"broadcast_event","payload":{"roomId":"room-${i % 100}","connectionId":"c1","event":"tick","payload":{"t":1,"s":${i}}}}`;
/** One call's arguments for room `r`: `batch` records, as src/cluster/redis-streams.ts's `sequence` builds them. */
function args(r, batch, i) {
  const keys = [`b:seq:{r${r}}`, `b:log:{r${r}}`, `b:ch:{r${r}}`];
  const out = ["epoch", "300000", "256", String(Date.now()), "publish", String(batch)];
  for (let k = 0; k < batch; k++) {
    const f = frame(i + k);
    const at = f.indexOf('"payload":{') + 11;
    out.push(`["ols1","","e","r${r}","c1"]`, f.slice(0, at), f.slice(at), "0", "1", "c1");
  }
  return [3, ...keys, ...out];
}

async function round(mode, batch) {
  const before = await stats();
  const inFlight = [];
  for (let i = 0; i < CALLS; i++) {
    const a = args(i % 100, batch, i);
    inFlight.push(mode === "EVAL" ? redis.eval(SEQUENCE, ...a) : redis.olsSequence(...a));
    if (inFlight.length >= 200) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  const after = await stats();
  return { cpuUs: ((after.cpu - before.cpu) * 1e6) / CALLS, bytesIn: (after.bytesIn - before.bytesIn) / CALLS };
}

const lines = [
  `Redis CPU and bytes in per sequencing call, ${CALLS} calls a round, ${ROUNDS} interleaved rounds (load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]})`,
  "",
  "| records per call | EVAL: µs per call (rounds) | EVALSHA: µs per call (rounds) | EVALSHA ÷ EVAL | bytes in per call, EVAL / EVALSHA |",
  "|---:|---|---|---:|---|",
];
for (const batch of BATCHES) {
  const got = { EVAL: [], EVALSHA: [] };
  await round("EVALSHA", batch); // warm-up: the script cached, the keys made
  for (let r = 0; r < ROUNDS; r++)
    for (const mode of r % 2 ? ["EVALSHA", "EVAL"] : ["EVAL", "EVALSHA"]) got[mode].push(await round(mode, batch));
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const cpu = (mode) => med(got[mode].map((x) => x.cpuUs));
  const list = (mode) => got[mode].map((x) => x.cpuUs.toFixed(1)).join(", ");
  lines.push(
    `| ${batch} | ${cpu("EVAL").toFixed(1)} (${list("EVAL")}) | ${cpu("EVALSHA").toFixed(1)} (${list("EVALSHA")}) | ${(cpu("EVALSHA") / cpu("EVAL")).toFixed(2)} | ${Math.round(got.EVAL[0].bytesIn)} / ${Math.round(got.EVALSHA[0].bytesIn)} |`,
  );
}
console.log(lines.join("\n"));
await redis.quit();
server.kill("SIGKILL");
