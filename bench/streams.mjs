// Room streams: how long a rejoiner takes to get 1,000 missed events, and what an idle room costs.
//   node --expose-gc bench/streams.mjs [--events 1000] [--rooms 2000] [--repeat 5]
// Replay: one server (this build, in process), a sender sends N events to a room, then a client joins
// with since { offset: 0 } and the time from its join_room to its N-th replayed frame is measured
// (median of --repeat). Memory: R rooms of one idle member each, joined with streams on and then with
// streams: false in a fresh server; (heap on - heap off) / R is what a room's empty stream costs (median
// of --repeat; the sockets' much larger share makes it noisy: bench/stream-logs.ts measures the logs alone).
import { pathToFileURL } from "node:url";
import WebSocket from "ws";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const EVENTS = arg("events", 1000);
const ROOMS = arg("rooms", 2000);
const REPEAT = arg("repeat", 5);
const dist = process.env.OLS_DIST ?? new URL("../dist", import.meta.url).pathname;
const { createServer } = await import(pathToFileURL(`${dist}/node.js`).href);

function listen(options) {
  return new Promise((resolve) => {
    const server = createServer({ port: 0, hostname: "127.0.0.1", heartbeatIntervalMs: 0, rateLimit: false, ...options });
    server.once("listening", () => resolve(server));
  });
}
const close = (server) => new Promise((resolve) => server.close(() => resolve()));

function open(url) {
  const ws = new WebSocket(url);
  const waiting = [];
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    for (const w of waiting.splice(0)) w(msg);
  });
  const next = (pred) =>
    new Promise((resolve) => {
      const check = (msg) => (pred(msg) ? resolve(msg) : waiting.push(check));
      waiting.push(check);
    });
  return new Promise((resolve) =>
    ws.once("open", () => resolve({ ws, next, send: (t, p) => ws.send(JSON.stringify({ type: t, payload: p })) })),
  );
}

async function replayOnce(url, room) {
  const sender = await open(url);
  sender.send("join_room", { roomId: room });
  const { payload: joined } = await sender.next((m) => m.type === "room_joined");
  for (let n = 1; n <= EVENTS; n++)
    sender.send("broadcast_event", { event: "n", payload: { n }, ...(n === EVENTS ? { clientMessageId: "last" } : {}) });
  await sender.next((m) => m.type === "event_ack");
  const rejoiner = await open(url);
  let count = 0;
  let done;
  const all = new Promise((resolve) => (done = resolve));
  rejoiner.ws.on("message", (data) => {
    if (data.toString().startsWith('{"type":"broadcast_event"') && ++count === EVENTS) done(performance.now());
  });
  const started = performance.now();
  rejoiner.send("join_room", { roomId: room, since: { offset: joined.offset, epoch: joined.epoch } });
  const ended = await all;
  sender.ws.close();
  rejoiner.ws.close();
  return ended - started;
}

/** A forced GC that also lets freed sockets' close callbacks and weak references settle first. */
async function settledHeap() {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    global.gc();
  }
  return process.memoryUsage().heapUsed;
}

/** The heap growth with R rooms of one idle member each, in a fresh server with streams on or off. */
async function heapWithRooms(streams) {
  const server = await listen({ streams: streams ? { size: 256 } : false });
  const url = `ws://127.0.0.1:${server.address().port}/live`;
  const clients = [];
  const before = await settledHeap();
  for (let i = 0; i < ROOMS; i++) {
    const c = await open(url);
    c.send("join_room", { roomId: `idle-${i}` });
    await c.next((m) => m.type === "room_joined");
    clients.push(c);
  }
  const after = await settledHeap();
  for (const c of clients) c.ws.close();
  await close(server);
  return after - before;
}

const server = await listen({ streams: { size: Math.max(EVENTS, 256) } });
const url = `ws://127.0.0.1:${server.address().port}/live`;
await replayOnce(url, "warm-up");
const times = [];
for (let i = 0; i < REPEAT; i++) times.push(await replayOnce(url, `replay-${i}`));
await close(server);
times.sort((a, b) => a - b);
console.log(
  `replay of ${EVENTS} missed events: median ${times[times.length >> 1].toFixed(1)} ms (runs: ${times.map((t) => t.toFixed(1)).join(", ")})`,
);

if (typeof global.gc !== "function") {
  console.log("memory per idle room: run with --expose-gc");
} else {
  const perRoom = [];
  for (let i = 0; i < REPEAT; i++) perRoom.push(((await heapWithRooms(true)) - (await heapWithRooms(false))) / ROOMS);
  perRoom.sort((a, b) => a - b);
  console.log(
    `memory per idle room with an empty stream (streams on - off, ${ROOMS} rooms): median ${perRoom[perRoom.length >> 1].toFixed(0)} B (runs: ${perRoom.map((b) => b.toFixed(0)).join(", ")})`,
  );
}
process.exit(0);
