#!/usr/bin/env node
// What one heartbeat ping and its pong cost the server (issue 27):
//   node bench/heartbeat-cost.mjs N intervalMs windowS DIST [DIST…]     (REPS=2 by default)
// Per build (each DIST a built dist/), interleaved: bench/servers/ours-node.mjs with `heartbeatIntervalMs`
// = intervalMs, N idle joined clients (one bench/connections-client.mjs process, rooms of 100), server CPU
// over windowS; then the same with the heartbeat off. (on − off) ÷ pings = server CPU per ping and pong, and
// the kernel's share of it (stime). Only 127.0.0.1; every child stopped by its PID.
import { fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT } from "./children.mjs";
const [N, interval, win] = process.argv.slice(2, 5).map(Number);
const dists = process.argv.slice(5).map((d) => resolve(d));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpu = (pid) => {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};
const sys = (pid) => {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[12]) / 100;
};
async function run(dist, hb) {
  const srv = spawn(process.execPath, [join(ROOT, "bench/servers/ours-node.mjs")], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, OLS_DIST: dist, BENCH_SERVER_OPTIONS: JSON.stringify({ heartbeatIntervalMs: hb }) },
  });
  const port = await new Promise((r) => srv.stdout.setEncoding("utf8").once("data", (d) => r(Number(/READY (\d+)/.exec(d)[1]))));
  const c = fork(join(ROOT, "bench/connections-client.mjs"), { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  c.send({ cmd: "config", config: { host: "127.0.0.1", port, from: 0, to: N, perRoom: 100, concurrency: 100 } });
  const r = await new Promise((res) => {
    c.on("message", (m) => m.type === "connected" && res(m));
    c.send({ cmd: "connect" });
  });
  await sleep(2000);
  const a = cpu(srv.pid),
    ca = cpu(c.pid),
    sa = sys(srv.pid);
  await sleep(win * 1000);
  const b = cpu(srv.pid),
    cb = cpu(c.pid),
    sb = sys(srv.pid);
  const closes = await new Promise((res) => {
    c.on("message", (m) => m.type === "closes" && res(m.closes));
    c.send({ cmd: "closes" });
  });
  c.kill("SIGKILL");
  srv.kill("SIGTERM");
  await sleep(500);
  return { server: b - a, sys: sb - sa, client: cb - ca, failures: r.failures, closes };
}
for (let rep = 0; rep < Number(process.env.REPS ?? 2); rep++)
  for (const d of dists) {
    const on = await run(d, interval);
    const off = await run(d, 0);
    const rounds = (win * 1000) / interval;
    console.log(
      `${d.split("/").slice(-2).join("/")} on ${on.server.toFixed(2)}s (sys ${on.sys.toFixed(2)}) off ${off.server.toFixed(2)}s → ${(((on.server - off.server) / (rounds * N)) * 1e6).toFixed(1)} µs/ping (client ${on.client.toFixed(2)}s, fail ${on.failures}, closes ${on.closes}) load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]}`,
    );
  }
process.exit(0);
