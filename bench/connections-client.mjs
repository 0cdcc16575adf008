// One lean client process of bench/connections.mjs: raw-socket WebSocket clients (bench/wsclient.mjs)
// for the global indexes [from, to), member `i` in room `floor(i / perRoom)`. Driven over IPC:
//   {cmd:"connect"}            connect and join every client, `concurrency` at a time → {type:"connected", ms, failures}
//   {cmd:"probe", ms, everyMs} client `from` broadcasts its send time every `everyMs` → {type:"probed", latency}
//   {cmd:"active", ms, share}  `share` of the members broadcast once a second → {type:"activeDone", sent, latency}
// Every broadcast received is a latency sample (its payload carries the send time `t`).
import { performance } from "node:perf_hooks";
import { openClient } from "./wsclient.mjs";

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let cfg;
const clients = [];
let samples = [];
let closes = 0;

function summary(values) {
  if (values.length === 0) return { samples: 0, p50: null, p99: null };
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)];
  return { samples: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}

function onFrame(buf, start, end) {
  if (buf[start + 9] !== 0x62) return; // {"type":"b…: a broadcast; presence and room_joined only count
  const at = now();
  const t = JSON.parse(buf.toString("utf8", start, end)).payload?.payload?.t;
  if (typeof t === "number" && samples.length < 2_000_000) samples.push(at - t);
}

async function connectAll() {
  const { host, port, from, to, perRoom, concurrency } = cfg;
  let next = from;
  const failures = [];
  const t0 = performance.now();
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const joined = new Promise((resolve) => (clients[i - from] = { i, joined: resolve }));
      try {
        const api = await openClient({
          host,
          port,
          path: "/live",
          kind: "raw",
          onFrame: (buf, s, e) => {
            if (buf[s + 9] === 0x72)
              clients[i - from].joined(); // {"type":"room_joined"
            else onFrame(buf, s, e);
          },
          onClose: () => closes++,
        });
        clients[i - from].api = api;
        api.send(JSON.stringify({ type: "join_room", payload: { roomId: `room-${Math.floor(i / perRoom)}`, presence: { i } } }));
        await Promise.race([joined, sleep(30_000)]);
      } catch (err) {
        failures.push(String(err?.message ?? err));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ms: performance.now() - t0, failures: failures.length, firstFailure: failures[0] };
}

const broadcast = (c) => c.api?.send(`{"type":"broadcast_event","payload":{"event":"tick","payload":{"t":${now().toFixed(3)}}}}`);

async function probe({ ms, everyMs }) {
  samples = [];
  const sender = clients[0];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    broadcast(sender);
    await sleep(everyMs);
  }
  await sleep(500);
  return summary(samples);
}

/** `share` of the members, spread over the rooms, each broadcasting once a second at its own phase. */
async function active({ ms, share }) {
  samples = [];
  const every = Math.round(1 / share);
  const movers = clients.filter((c) => c.i % every === 0);
  const t0 = performance.now();
  let sent = 0;
  for (const [k, c] of movers.entries()) c.due = t0 + (k / movers.length) * 1000;
  while (performance.now() < t0 + ms) {
    const t = performance.now();
    for (const c of movers) {
      if (c.due > t) continue;
      c.due += 1000;
      broadcast(c);
      sent++;
    }
    await sleep(5);
  }
  await sleep(500);
  return { sent, latency: summary(samples) };
}

process.on("message", async (msg) => {
  if (msg.cmd === "config") cfg = msg.config;
  else if (msg.cmd === "connect") process.send({ type: "connected", ...(await connectAll()) });
  else if (msg.cmd === "probe") process.send({ type: "probed", latency: await probe(msg) });
  else if (msg.cmd === "active") process.send({ type: "activeDone", ...(await active(msg)) });
  else if (msg.cmd === "closes") process.send({ type: "closes", closes });
  else if (msg.cmd === "exit") {
    for (const c of clients) c.api?.destroy();
    process.exit(0);
  }
});
