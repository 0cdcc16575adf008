#!/usr/bin/env node
// Many concurrent upgrades to the Deno front while each upgrade holds the server's event loop (issue 27):
//   node bench/deno-upgrade-storm.mjs N busyMs [upgradeTimeoutMs]
// N raw clients (bench/wsclient.mjs) connect at once; onAuth busy-waits busyMs per upgrade, so the last
// upgrades wait about N × busyMs. Prints how many opened, the failures by message, the seconds from the
// first connect to the last answer and opened per second over them, and the onError reports.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./children.mjs";
import { openClient } from "./wsclient.mjs";
const [N, busy, upgradeMs] = [Number(process.argv[2] ?? 1000), process.argv[3] ?? "20", process.argv[4] ?? ""];
const server = join(ROOT, "bench/servers/storm-deno.mjs");
const srv = spawn(join(ROOT, "node_modules/.bin/deno"), ["run", "-A", "--no-lock", server, busy, upgradeMs], {
  cwd: ROOT,
  stdio: ["pipe", "pipe", "inherit"],
});
let out = "";
const port = await new Promise((r) =>
  srv.stdout.on("data", (d) => {
    out += d;
    const m = /READY (\d+)/.exec(out);
    if (m) r(Number(m[1]));
  }),
);
const fails = {};
const started = performance.now();
const opened = [];
await Promise.all(
  Array.from({ length: N }, () =>
    openClient({ kind: "raw", host: "127.0.0.1", port, path: "/live", onFrame() {} }).then(
      (c) => opened.push(c),
      (e) => {
        fails[e.message] = (fails[e.message] ?? 0) + 1;
      },
    ),
  ),
);
const seconds = (performance.now() - started) / 1000;
const perS = Math.round(opened.length / seconds);
console.log(JSON.stringify({ N, busy, opened: opened.length, fails, seconds: Number(seconds.toFixed(1)), openedPerS: perS }));
srv.stdin.end();
await new Promise((r) =>
  srv.stdout.on("data", (d) => {
    out += d;
    if (out.includes("errors")) r();
  }),
);
console.log(out.split("\n").find((l) => l.includes("errors")));
for (const c of opened) c.close?.();
srv.kill(); // this script's own child, by its handle
process.exit(0);
