// Bun side of bench/bun-census.mjs: our Bun server (or, with RELAY=1, the bare Bun.serve relay) answering
// each stdin line with its RSS and JavaScriptCore heap statistics after a full GC ("snap": sizes by class).
import { heapStats } from "bun:jsc";
const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
if (process.env.RELAY) await import("./baseline-bun.mjs");
else {
  const { createServer } = await import(`file://${dist}/bun.js`);
  const server = createServer({ port: 0, hostname: "127.0.0.1", path: "/live", rateLimit: false, chat: { historyLimit: 0 } });
  console.log(`READY ${server.port}`);
}
let line = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => {
  line += c;
  let nl;
  while ((nl = line.indexOf("\n")) !== -1) {
    const cmd = line.slice(0, nl).trim();
    line = line.slice(nl + 1);
    if (cmd === "snap") {
      Bun.gc(true);
      const snap = Bun.generateHeapSnapshot();
      const by = {};
      const n = snap.nodes,
        names = snap.nodeClassNames;
      for (let i = 0; i < n.length; i += 4) {
        const k = names[n[i + 2]];
        const e = (by[k] ??= [0, 0]);
        e[0]++;
        e[1] += n[i + 1];
      }
      console.log(JSON.stringify(by));
      continue;
    }
    Bun.gc(true);
    Bun.gc(true);
    const h = heapStats();
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(require("node:fs").readFileSync("/proc/self/status", "utf8"))[1]);
    console.log(JSON.stringify({ rss, heapSize: h.heapSize, cap: h.heapCapacity, extra: h.extraMemorySize, counts: h.objectTypeCounts }));
  }
});
