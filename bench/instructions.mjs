// Instructions per room message on Node, counted by valgrind (callgrind): deterministic to a few tenths
// of a percent, so a change of 1-2 % shows even on a busy machine, where wall-clock benches cannot see it.
//
//   npx tsdown && node bench/instructions.mjs                  this build (dist/), ~2 minutes
//   node bench/instructions.mjs dist /tmp/ols-before/dist      several builds, one line each
//   node bench/instructions.mjs --repeat 3 --clients 200 --rooms 20 --rounds 50 --warmup 50
//   node bench/instructions.mjs --tcp dist                     clients over loopback TCP (load-dependent)
//   node bench/instructions.mjs --tail --clients 100 --rooms 1 dist   with the admin page's live tail open on room-0
//   node bench/instructions.mjs --window 10 dist                 each client sends 10 per round (sockets back up)
//   node bench/instructions.mjs --heap --window 10 --rounds 100 dist   no valgrind: what the heap does (below)
//
// One process per build under `valgrind --tool=callgrind node --single-threaded`: the built server
// (`createServer` from <dist>/node.js, as bench/servers/ours-node.mjs starts it) and `clients` raw
// WebSocket clients (bench/wsclient.mjs) joined to `rooms` rooms. Per round every client sends one
// broadcast_event, and the round ends when all clients × (room size − 1) deliveries arrived. Only the
// `rounds` after the `warmup` rounds are counted: the harness calls os.freemem() around them and
// callgrind dumps its counters there (--dump-before=uv_get_free_memory), so start-up, joins and JIT
// warm-up are left out. Printed: instructions ÷ room messages, and the same without garbage collection
// (how much a scavenge costs depends on what is alive when it lands; the rest varies by ~0.3 %). The
// clients' own work is counted too (the same for every build). A build of another commit works if its
// Node entry is `createServer(options)` returning a listening `http.Server` (round 1's, 3addad4, is).
//
// The clients connect through a Unix socket (see `run`); over loopback TCP (`--tcp`) a loaded machine
// changes the count by tens of per cent (ksoftirqd delays deliveries, so reads and writev batches split).
//
// `--heap` runs the same rounds without valgrind and prints, from V8's GC profiler over the counted rounds,
// the bytes scavenges promoted to the old generation per room message, the largest old space and the
// process's peak RSS: a frame kept past a few scavenges (e.g. in a room stream's backlog) shows there, and
// none of it depends on the machine's load. CPU per message is printed too, but that one does.
//
// Inner mode (what valgrind runs): node bench/instructions.mjs --run <dist> <rounds> [clients rooms warmup unix|tcp tail window heap]
import { execFileSync } from "node:child_process";
import { createServer as createNetServer } from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { freemem, tmpdir } from "node:os";
import { GCProfiler } from "node:v8";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { openClient } from "./wsclient.mjs";

const args = process.argv.slice(2);

if (args[0] === "--run") await run(args.slice(1));
else await measure(args);

async function measure(argv) {
  const opt = (name, fallback) => {
    const at = argv.indexOf(name);
    if (at < 0) return fallback;
    const value = Number(argv[at + 1]);
    argv.splice(at, 2);
    return value;
  };
  const clients = opt("--clients", 200);
  const rooms = opt("--rooms", 20);
  const rounds = opt("--rounds", 50);
  const warmup = opt("--warmup", 50);
  const repeat = opt("--repeat", 1);
  const window = opt("--window", 1);
  const heapAt = argv.indexOf("--heap");
  if (heapAt >= 0) argv.splice(heapAt, 1);
  const tcpAt = argv.indexOf("--tcp");
  if (tcpAt >= 0) argv.splice(tcpAt, 1);
  const transport = tcpAt >= 0 ? "tcp" : "unix";
  const tailAt = argv.indexOf("--tail");
  if (tailAt >= 0) argv.splice(tailAt, 1);
  const dists = (argv.length > 0 ? argv : [new URL("../dist", import.meta.url).pathname]).map((d) => resolve(d));
  const script = new URL(import.meta.url).pathname;
  const messages = rounds * clients * window;
  const tail = tailAt >= 0 ? ", the live tail of room-0 open (API on)" : "";
  console.log(
    `${clients} clients in ${rooms} rooms, ${window} in flight per client, ${warmup} warm-up rounds, ${rounds} counted rounds (${messages} room messages)${tail}`,
  );
  for (const dist of dists) {
    for (let i = 0; i < repeat; i++) {
      const inner = [script, "--run", dist, rounds, clients, rooms, warmup, transport, tailAt >= 0 ? "tail" : "", window];
      if (heapAt >= 0) {
        const out = execFileSync("node", ["--single-threaded", ...inner.map(String), "heap"], { encoding: "utf8", maxBuffer: 64 << 20 });
        const h = JSON.parse(out.trim().split("\n").at(-1));
        const mb = (n) => `${(n / 2 ** 20).toFixed(1)} MB`;
        console.log(
          `${dist}: ${(h.promoted / messages).toFixed(0)} B promoted per room message, old space at most ${mb(h.oldSpace)}, ` +
            `peak RSS ${mb(h.maxRss)}; ${h.scavenges} scavenges, ${h.markCompacts} mark-compacts; ` +
            `${((h.cpuUs / messages) * 1000).toFixed(0)} ns CPU per room message (load-dependent)`,
        );
        continue;
      }
      const dir = mkdtempSync(join(tmpdir(), "ols-callgrind-"));
      try {
        const out = join(dir, "callgrind.out");
        execFileSync(
          "valgrind",
          [
            "--tool=callgrind",
            "--dump-before=uv_get_free_memory",
            `--callgrind-out-file=${out}`,
            "node",
            "--single-threaded",
            ...inner.map(String),
          ],
          { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 << 20 },
        );
        // Dump 1: start-up to the end of warm-up; dump 2: the counted rounds.
        const counted = `${out}.2`;
        const total = Number(/^summary: (\d+)/m.exec(readFileSync(counted, "utf8"))?.[1]);
        if (!total) throw new Error(`no instruction total in ${counted}`);
        const annotated = execFileSync("callgrind_annotate", ["--inclusive=yes", "--threshold=100", "--auto=no", counted], {
          encoding: "utf8",
          maxBuffer: 256 << 20,
        });
        const gcLine = annotated.split("\n").find((line) => line.includes("v8::internal::Heap::CollectGarbage("));
        const gc = gcLine ? Number(gcLine.trim().split(" ")[0].replaceAll(",", "")) : 0;
        const k = (n) => `${(n / messages / 1000).toFixed(2)}k`;
        console.log(`${dist}: ${k(total)} instructions per room message, ${k(total - gc)} without GC (GC ${k(gc)})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

async function run([dist, rounds, clients = "200", rooms = "20", warmup = "20", transport = "unix", tail = "", window = "1", heap = ""]) {
  const tcp = transport === "tcp";
  const { createServer } = await import(pathToFileURL(join(dist, "node.js")).href);
  const secret = "bench-secret-bench-secret";
  const server = createServer({
    ...(tail ? { api: { secret } } : {}),
    port: 0,
    hostname: "127.0.0.1",
    path: "/live",
    rateLimit: false,
    heartbeatIntervalMs: 0,
    chat: { historyLimit: 0 },
    onError: (error) => console.error(error),
  });
  await new Promise((done) => server.once("listening", done));
  const port = server.address().port;
  // The clients reach the server through a Unix socket handed to the same http.Server: a write is in the
  // peer's queue when the call returns, whereas loopback TCP may leave delivery to ksoftirqd on a loaded
  // machine, so the server's reads (and its writev batches) split differently and the count follows the load.
  const socketPath = tcp ? undefined : join(tmpdir(), `ols-instructions-${process.pid}.sock`);
  const unix = socketPath && createNetServer((socket) => server.emit("connection", socket));
  if (unix) await new Promise((done) => unix.listen(socketPath, done));
  const n = Number(clients);
  const roomCount = Number(rooms);
  const perRoom = n / roomCount;
  if (!Number.isInteger(perRoom) || perRoom < 2) throw new Error("clients must be a multiple of rooms, at least 2 per room");

  let delivered = 0;
  let expected = 0;
  let joining = true;
  let joined = 0;
  let lastFrameAt = 0;
  let wake = () => {};
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const onFrame = (buf, start, end) => {
      lastFrameAt = performance.now();
      // `{"type":"b…`: a broadcast_event (anything else, e.g. late presence news, is not a delivery).
      if (!joining) return void (buf[start + 9] === 98 && delivered++);
      if (buf.toString("utf8", start, Math.min(end, start + 30)).includes('"room_joined"')) joined++;
    };
    sockets.push(await openClient({ host: "127.0.0.1", port, socketPath, path: "/live", onFrame, onBatch: () => wake() }));
  }
  const until = (done) =>
    new Promise((resolve) => {
      wake = () => done() && resolve();
      wake();
    });
  sockets.forEach((s, i) => {
    const presence = { name: `c${i}`, x: 0, y: 0 };
    s.send(JSON.stringify({ type: "join_room", payload: { roomId: `room-${i % roomCount}`, presence } }));
  });
  await until(() => joined === n);
  // Let the joins' presence news go out before counting deliveries: 1 s without a frame.
  while (performance.now() - lastFrameAt < 1000) await new Promise((done) => setTimeout(done, 250));
  joining = false;
  if (tail) {
    // The tail's reader is counted too (an admin page elsewhere would not be): an upper bound of its cost.
    const res = await fetch(`http://127.0.0.1:${port}/api/rooms/room-0/tail`, { headers: { authorization: `Bearer ${secret}` } });
    const reader = res.body.getReader();
    void (async () => {
      while (!(await reader.read()).done);
    })();
  }

  const frame = '{"type":"broadcast_event","payload":{"event":"tick","payload":{"t":1234.567,"s":42}}}';
  const round = async () => {
    delivered = 0;
    expected = n * (perRoom - 1) * Number(window);
    for (let w = 0; w < Number(window); w++) for (const s of sockets) s.send(frame);
    await until(() => delivered >= expected);
  };
  for (let r = 0; r < Number(warmup); r++) await round();
  freemem(); // callgrind dumps here (--dump-before=uv_get_free_memory): what came before is not counted
  const heapWatch = heap && watchHeap();
  for (let r = 0; r < Number(rounds); r++) await round();
  freemem();
  if (heapWatch) console.log(JSON.stringify(heapWatch()));
  if (socketPath) rmSync(socketPath, { force: true });
  process.exit(0);
}

/** `--heap`: V8's GC profiler from now on; the returned function stops it and sums up (see the head comment). */
function watchHeap() {
  const profiler = new GCProfiler();
  const cpu = process.cpuUsage();
  profiler.start();
  const used = (stats, name) => stats.heapSpaceStatistics.find((s) => s.spaceName === name)?.spaceUsedSize ?? 0;
  const size = (stats, name) => stats.heapSpaceStatistics.find((s) => s.spaceName === name)?.spaceSize ?? 0;
  return () => {
    const { statistics } = profiler.stop();
    const out = { promoted: 0, oldSpace: 0, scavenges: 0, markCompacts: 0, maxRss: 0, cpuUs: 0 };
    for (const gc of statistics) {
      if (gc.gcType === "Scavenge") {
        out.scavenges++;
        out.promoted += used(gc.afterGC, "old_space") - used(gc.beforeGC, "old_space");
      } else if (gc.gcType === "MarkSweepCompact") out.markCompacts++;
      out.oldSpace = Math.max(out.oldSpace, size(gc.beforeGC, "old_space"));
    }
    const spent = process.cpuUsage(cpu);
    out.cpuUs = spent.user + spent.system;
    out.maxRss = process.resourceUsage().maxRSS * 1024;
    return out;
  };
}
