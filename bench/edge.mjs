// Rooms on local workerd (Miniflare) beside our Node server, in the same run, with the same load client
// (this process, `ws`). Figures only: local workerd is one process on this machine, not Cloudflare.
//
//   npx tsdown && node bench/edge.mjs [--duration 4] [--joiners 2000] [--idle 2000]
//
// With bench/load-client.mjs (the raw client every bench uses), against our Node server
// (bench/servers/ours-node.mjs), the Worker bench/servers/edge-worker.mjs on workerd, and a bare Durable
// Object that relays each frame (workerd's own cost of a fan-out):
// fan-out 1→199: one sender, 199 receivers in one room, 16 broadcasts in flight; deliveries per second
//   (workerd three times: clients naming the room in the URL, plain /live relayed by the Worker, and
//   `?room=` with room streams off, so no SQLite write per message).
// join: `joiners` clients join one room in batches of 100; s until the last room_joined, frames received,
//   server CPU s (workerd: its process).
// idle memory: `idle` sockets in rooms of 100 (?room=), then no traffic until workerd evicted the rooms'
//   objects (hibernation); workerd's RSS growth per connection, before and after.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { rolldown } from "rolldown";
import WebSocket from "ws";
import { runLoad, startServer, stopServer } from "./children.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const DURATION_S = arg("duration", 4);
const JOINERS = arg("joiners", 2000);
const IDLE = arg("idle", 2000);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startNode() {
  const server = await startServer("ours-node.mjs", {}, { raiseFileLimit: true });
  return { name: "Node", port: server.port, pid: server.pid, url: `ws://127.0.0.1:${server.port}/live`, stop: () => stopServer(server) };
}

async function startWorkerd(bindings = {}) {
  const bundle = await rolldown({
    input: join(ROOT, "bench/servers/edge-worker.mjs"),
    platform: "browser",
    resolve: { conditionNames: ["workerd", "worker", "browser", "import", "default"] },
    logLevel: "silent",
  });
  const { output } = await bundle.generate({ format: "esm" });
  await bundle.close();
  const before = new Set(workerdPids());
  const mf = new Miniflare({
    modules: true,
    script: output[0].code,
    host: "127.0.0.1",
    port: 0,
    compatibilityDate: "2025-07-01",
    durableObjects: { ROOMS: { className: "LiveRoom", useSQLite: true } },
    bindings,
  });
  const url = await mf.ready;
  const pid = workerdPids().find((p) => !before.has(p));
  return { name: "workerd", port: Number(url.port), url: `ws://127.0.0.1:${url.port}/live`, pid, stop: () => mf.dispose() };
}

/** A bare Durable Object that sends each frame to every other socket it holds: workerd's own cost of a fan-out. */
const BARE_ROOM = `
export class Room {
  constructor(state) { this.state = state; }
  async fetch() { const p = new WebSocketPair(); this.state.acceptWebSocket(p[1]); return new Response(null, { status: 101, webSocket: p[0] }); }
  webSocketMessage(ws, msg) {
    if (String(msg).includes('"join_room"')) return ws.send('{"type":"room_joined","payload":{}}');
    for (const other of this.state.getWebSockets()) if (other !== ws) other.send(msg);
  }
}
export default { fetch(req, env) { return env.ROOM.get(env.ROOM.idFromName("a")).fetch(req); } };`;

async function startBareDurableObject() {
  const mf = new Miniflare({
    modules: true,
    script: BARE_ROOM,
    host: "127.0.0.1",
    port: 0,
    compatibilityDate: "2025-07-01",
    durableObjects: { ROOM: "Room" },
  });
  const url = await mf.ready;
  const pid = workerdPids().at(-1);
  return { name: "bare", port: Number(url.port), pid, url: `ws://127.0.0.1:${url.port}/live`, stop: () => mf.dispose() };
}

function workerdPids() {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return (
          readFileSync(`/proc/${d}/comm`, "utf8").trim() === "workerd" &&
          readFileSync(`/proc/${d}/stat`, "utf8").split(" ")[3] === String(process.pid)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

const rssKB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);

/** Open a socket and join `room`; resolves with the socket once room_joined arrived. `onFrame` sees every frame after. */
function member(url, room, onFrame = () => {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on("error", reject);
    ws.on("open", () => ws.send(JSON.stringify({ type: "join_room", payload: { roomId: room, presence: {} } })));
    let joined = false;
    ws.on("message", (data) => {
      const text = String(data);
      onFrame(text);
      if (!joined && text.startsWith('{"type":"room_joined"')) {
        joined = true;
        resolve(ws);
      }
    });
  });
}

/** `path` names the room for workerd's objects: the load client's rooms are `room-<index>`. */
const fanout = async (server, path = "/live") =>
  (await runLoad("fanout", { receivers: 199, window: 16, durationMs: DURATION_S * 1000, warmupMs: 1000 }, [{ ...server, path }]))
    .deliveriesPerSec;
const bigJoin = (server, path = "/live") => runLoad("bigJoin", { joiners: JOINERS, batch: 100 }, [{ ...server, path }], 300_000);

/** On a fresh workerd: RSS growth per socket once `n` sockets joined rooms of 100, and again once their objects were evicted. */
async function idleMemory(n) {
  const server = await startWorkerd();
  try {
    const warm = await member(`${server.url}?room=warm-up`, "warm-up");
    await pause(2000);
    const base = rssKB(server.pid);
    const sockets = [warm];
    for (let i = 0; i < n; i += 100) {
      const room = `idle-${i / 100}`;
      const batch = [];
      for (let k = i; k < Math.min(i + 100, n); k++) batch.push(member(`${server.url}?room=${room}`, room));
      sockets.push(...(await Promise.all(batch)));
    }
    await pause(2000);
    const awake = rssKB(server.pid);
    await pause(25_000); // workerd evicts an idle object ~10 s after its last event
    const hibernated = rssKB(server.pid);
    for (const ws of sockets) ws.terminate();
    return { awakeKB: (awake - base) / n, hibernatedKB: (hibernated - base) / n };
  } finally {
    await server.stop();
  }
}

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "n/a");
const node = await startNode();
const workerd = await startWorkerd();
try {
  const rows = [];
  const nodeFan = await fanout(node);
  const edgeFan = await fanout(workerd, "/live?room=room-0");
  const relayFan = await fanout(workerd);
  const noStreams = await startWorkerd({ STREAMS: "off" });
  const noStreamsFan = await fanout(noStreams, "/live?room=room-0");
  await noStreams.stop();
  const bare = await startBareDurableObject();
  const bareFan = await fanout(bare).catch(() => Number.NaN);
  await bare.stop();
  rows.push(
    `| fan-out 1→199, deliveries/s | ${fmt(nodeFan)} | ${fmt(edgeFan)} (?room=), ${fmt(relayFan)} (relayed /live) | ${fmt(edgeFan / nodeFan, 2)} / ${fmt(relayFan / nodeFan, 2)} |`,
    `| … streams off (no SQLite write per message), ?room=, deliveries/s | | ${fmt(noStreamsFan)} | streams on ÷ off ${fmt(edgeFan / noStreamsFan, 2)} |`,
    `| … a bare Durable Object relaying each frame, deliveries/s | | ${fmt(bareFan)} | ours (?room=) ÷ bare ${fmt(edgeFan / bareFan, 2)} |`,
  );
  const nodeJoin = await bigJoin(node);
  const edgeJoin = await bigJoin(workerd, "/live?room=room-big");
  rows.push(
    `| ${fmt(JOINERS)} join one room (batches of 100): s until the last room_joined | ${fmt(nodeJoin.lastJoinedMs / 1000, 2)} | ${fmt(edgeJoin.lastJoinedMs / 1000, 2)} | ${fmt(edgeJoin.lastJoinedMs / nodeJoin.lastJoinedMs, 2)} |`,
    `| … frames the clients received | ${fmt(nodeJoin.frames)} | ${fmt(edgeJoin.frames)} | |`,
    `| … server CPU s | ${fmt(nodeJoin.serverCpuS, 2)} | ${fmt(edgeJoin.serverCpuS, 2)} | ${fmt(edgeJoin.serverCpuS / nodeJoin.serverCpuS, 2)} |`,
  );
  const mem = await idleMemory(IDLE);
  rows.push(
    `| fresh workerd's RSS per idle connection (${fmt(IDLE)} in rooms of 100), KB: joined / after eviction | | ${fmt(mem.awakeKB, 1)} / ${fmt(mem.hibernatedKB, 1)} | |`,
  );
  const miniflare = JSON.parse(readFileSync(join(ROOT, "node_modules/miniflare/package.json"), "utf8")).version;
  console.log(
    `| ${new Date().toISOString().slice(0, 10)}, Node ${process.version} | Node (ours) | workerd (Miniflare ${miniflare}) | workerd ÷ Node |`,
  );
  console.log("| --- | --- | --- | --- |");
  for (const row of rows) console.log(row);
} finally {
  await node.stop();
  await workerd.stop();
}
