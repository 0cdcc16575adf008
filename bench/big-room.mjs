#!/usr/bin/env node
// Big-room bench (issue 16): one room with thousands of members, this build against an older one in the
// same run, ratios new ÷ old.
//
//   node bench/big-room.mjs --old-dist DIR [--scenario join,move,all-move] [--joiners 2000] [--batch 100]
//       [--members 5000] [--movers 200] [--hz 30] [--move-s 10] [--all-members 200] [--all-hz 60]
//       [--observers 50] [--repeat 1]
//
// Scenarios (defaults are the issue's values):
//   join      `joiners` clients join one room in batches of `batch`: frames and bytes the clients receive,
//             time until the last room_joined, server CPU seconds
//   move      `members` in one room, `movers` of them move a cursor at `hz` for `move-s`: server CPU per
//             second, frames/s and MB/s received, p50/p99 move → arrival (on `observers` clients), and the
//             share of resting positions delivered
//   all-move  `all-members` members, every one moving at `all-hz` for `move-s`: the same figures
//   lone      bench/run.mjs's lone-200 (one broadcast in flight, 199 receivers, 2 s): p50/p99, no regression
//   arrive-burst, arrive-20s, arrive-60s, arrive-poisson
//             `joiners` clients arrive in one room: connect-and-join bursts of `batch` (the next after the
//             previous one's room_joined), one join every 20 s / joiners or 60 s / joiners, or Poisson
//             arrivals over 20 s. Frames, MB, p50/p99 join → shown to another member, server CPU seconds,
//             and how many clients end with the exact member list. Add `--hog` to run each with a busy loop
//             pinned to core 0 (taskset), as a slow or shared machine spreads even a burst.
// `--old-dist` (or OLS_OLD_DIST) is a built dist/ of the code to compare with, e.g. main before issue 16:
//   git archive <commit> | tar -x -C /tmp/old && ln -s $PWD/node_modules /tmp/old/ && (cd /tmp/old && npx tsdown)
// Without it only this build runs. Servers: bench/servers/ours-node.mjs with OLS_DIST.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawn } from "node:child_process";
import { ROOT, runLoad, startServer, stopServer } from "./children.mjs";

/** A busy loop pinned to core 0 for the length of one run; stopped by its PID, and by itself after 10 minutes. */
function startHog() {
  const loop = "const end = Date.now() + 600000; while (Date.now() < end) {}";
  const hog = spawn("taskset", ["-c", "0", process.execPath, "-e", loop], { stdio: "ignore" });
  return () => hog.kill("SIGKILL");
}

const NUMERIC = {
  joiners: 2000,
  batch: 100,
  members: 5000,
  movers: 200,
  hz: 30,
  "move-s": 10,
  "all-members": 200,
  "all-hz": 60,
  observers: 50,
  repeat: 1,
};
const FLAGS = new Set(["hog"]);

function parseArgs(argv) {
  const out = { ...NUMERIC, scenario: "join,move,all-move,lone", oldDist: process.env.OLS_OLD_DIST, newDist: join(ROOT, "dist") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => inline ?? argv[++i];
    const name = flag.replace(/^--/, "");
    if (name === "old-dist") out.oldDist = value();
    else if (name === "new-dist") out.newDist = value();
    else if (name === "scenario") out.scenario = value();
    else if (FLAGS.has(name)) out[name] = true;
    else if (name in NUMERIC) {
      const v = Number(value());
      if (!(v > 0)) throw new Error(`--${name} takes a positive number`);
      out[name] = v;
    } else throw new Error(`Unknown argument ${argv[i]}; see the head of bench/big-room.mjs`);
  }
  if (out.oldDist) out.oldDist = resolve(out.oldDist);
  return out;
}

async function runOne(dist, load, params, hog) {
  const server = await startServer("ours-node.mjs", { OLS_DIST: dist }, { raiseFileLimit: true, label: `server (${dist})` });
  const stopHog = hog ? startHog() : undefined;
  try {
    return { result: await runLoad(load, params, [server], 600_000), stderr: server.stderr };
  } catch (err) {
    return { error: String(err?.message ?? err).split("\n")[0], stderr: server.stderr };
  } finally {
    stopHog?.();
    await stopServer(server);
  }
}

const int = (n) => (n == null || Number.isNaN(n) ? "–" : Math.round(n).toLocaleString("en-US"));
const fix = (d) => (n) => (n == null || Number.isNaN(n) ? "–" : n.toFixed(d));
const pct = (r) => (r.total ? `${r.ok}/${r.total} (${((r.ok / r.total) * 100).toFixed(1)} %)` : "–");

const METRICS = {
  bigJoin: [
    ["frames received", (r) => r.frames, int],
    ["MB received", (r) => r.bytes / 1e6, fix(1)],
    ["s until the last room_joined", (r) => r.lastJoinedMs / 1000, fix(2)],
    ["server CPU, s", (r) => r.serverCpuS, fix(2)],
  ],
  fanout: [
    ["p50 latency, ms", (r) => r.latency.p50, fix(2)],
    ["p99 latency, ms", (r) => r.latency.p99, fix(2)],
    ["deliveries/s", (r) => r.deliveriesPerSec, int],
  ],
  arrivals: [
    ["frames received", (r) => r.frames, int],
    ["MB received", (r) => r.bytes / 1e6, fix(1)],
    ["p50 join → shown, ms", (r) => r.latency.p50, fix(1)],
    ["p99 join → shown, ms", (r) => r.latency.p99, fix(1)],
    ["server CPU, s", (r) => r.serverCpuS, fix(2)],
    ["clients with the exact member list", (r) => r.exact, (n, r) => `${int(n)}/${int(r.joiners)}`, false],
  ],
  bigMove: [
    ["server CPU, cores", (r) => r.serverCpu, fix(2)],
    ["frames received/s", (r) => r.framesPerSec, int],
    ["MB received/s", (r) => r.mbPerSec, fix(1)],
    ["p50 move → arrival, ms", (r) => r.latency.p50, fix(1)],
    ["p99 move → arrival, ms", (r) => r.latency.p99, fix(1)],
    ["resting positions delivered", (r) => (r.resting.total ? r.resting.ok / r.resting.total : null), (_n, r) => pct(r.resting), false],
  ],
};

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const moveMs = o["move-s"] * 1000;
  const scenarios = {
    join: { load: "bigJoin", params: { joiners: o.joiners, batch: o.batch } },
    move: { load: "bigMove", params: { members: o.members, movers: o.movers, hz: o.hz, moveMs, observers: o.observers, batch: o.batch } },
    // The existing lone-200 scenario (bench/run.mjs): a lone broadcast must not get slower.
    "arrive-burst": { load: "arrivals", params: { joiners: o.joiners, pattern: "burst", batch: o.batch } },
    "arrive-20s": { load: "arrivals", params: { joiners: o.joiners, pattern: "uniform", spanMs: 20_000 } },
    "arrive-60s": { load: "arrivals", params: { joiners: o.joiners, pattern: "uniform", spanMs: 60_000 } },
    "arrive-poisson": { load: "arrivals", params: { joiners: o.joiners, pattern: "poisson", spanMs: 20_000 } },
    lone: { load: "fanout", params: { receivers: 199, window: 1, durationMs: 2000, warmupMs: 500 } },
    "all-move": {
      load: "bigMove",
      params: {
        members: o["all-members"],
        movers: o["all-members"],
        hz: o["all-hz"],
        moveMs,
        observers: Math.min(o.observers, o["all-members"]),
        batch: o.batch,
      },
    },
  };
  const wanted = o.scenario.split(",");
  for (const w of wanted) if (!scenarios[w]) throw new Error(`Unknown scenario ${w}; known: ${Object.keys(scenarios).join(", ")}`);
  const builds = [["new", o.newDist], ...(o.oldDist ? [["old", o.oldDist]] : [])];
  const lines = [
    `## Big room (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)`,
    "",
    `new = ${o.newDist}${o.oldDist ? `, old = ${o.oldDist}` : " (no --old-dist: this build only)"}; best of ${o.repeat}; ratio = new ÷ old${o.hog ? "; a busy loop pinned to core 0 throughout" : ""}.`,
    "",
    "| scenario | metric | new | old | ratio |",
    "|---|---|---:|---:|---:|",
  ];
  const notes = [];
  const raw = {};
  for (const name of wanted) {
    const { load, params } = scenarios[name];
    const best = {};
    for (let rep = 0; rep < o.repeat; rep++) {
      for (const [label, dist] of rep % 2 === 0 ? builds : [...builds].reverse()) {
        process.stderr.write(`big-room: ${name} ${label}${o.repeat > 1 ? ` #${rep + 1}` : ""}… `);
        const run = await runOne(dist, load, params, o.hog);
        process.stderr.write(run.error ? `FAILED (${run.error})\n` : "done\n");
        const cpu = (r) => (load === "fanout" ? r?.result?.latency?.p50 : (r?.result?.serverCpu ?? r?.result?.serverCpuS)) ?? Infinity;
        if (!best[label] || (!best[label].result && run.result) || (run.result && cpu(run) < cpu(best[label]))) best[label] = run;
      }
    }
    raw[name] = { params, ...best };
    for (const [metric, get, fmt, withRatio = true] of METRICS[load]) {
      const cell = (run) => (!run ? "–" : run.error ? "FAILED" : fmt(get(run.result), run.result));
      const a = best.new?.result ? get(best.new.result) : null;
      const b = best.old?.result ? get(best.old.result) : null;
      const ratio = withRatio && a != null && b ? `${(a / b).toFixed(3)}×` : "";
      lines.push(`| ${name} ${JSON.stringify(params)} | ${metric} | ${cell(best.new)} | ${cell(best.old)} | ${ratio} |`);
    }
    for (const [label, run] of Object.entries(best)) {
      const r = run.result;
      if (run.error) notes.push(`${name} / ${label}: FAILED: ${run.error}`);
      if (r && Object.keys(r.closes ?? {}).length)
        notes.push(`${name} / ${label}: server closed client sockets: ${JSON.stringify(r.closes)}`);
      if (r && Object.keys(r.errors ?? {}).length) notes.push(`${name} / ${label}: error frames: ${JSON.stringify(r.errors)}`);
      if (r?.misses?.length)
        notes.push(`${name} / ${label}: resting position misses (first ${r.misses.length}): ${JSON.stringify(r.misses)}`);
      if (run.stderr?.length) notes.push(`${name} / ${label}: server stderr: ${run.stderr.slice(0, 3).join(" | ")}`);
    }
  }
  if (notes.length) lines.push("", "Notes:", "", ...notes.map((n) => `- ${n}`));
  const text = lines.join("\n");
  console.log(text);
  mkdirSync(join(ROOT, ".bench"), { recursive: true });
  writeFileSync(join(ROOT, ".bench/big-room.md"), `${text}\n`);
  writeFileSync(join(ROOT, ".bench/big-room.json"), `${JSON.stringify({ opts: o, raw }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`big-room: ${err?.message ?? err}`);
    process.exit(1);
  },
);
