// The load client of bench/docs.mjs, forked by it: editors on Yjs documents over the y-websocket protocol
// (ours at /yjs/<name>, y-websocket's server at /<name>) or Hocuspocus's (one socket per editor, the name
// in every message). Each editor keeps its own Y.Doc, types one character at its end `hz` times a second
// and never applies the others' updates (so the client's cost stays small and the same for every server).
// A delivered update is recognised by its structs' (client, clock), which every server keeps when it
// re-encodes the update: every one from another editor counts as delivered, and one from an editor of this
// process is also timed against its send (with several processes, latency is sampled on the pairs of
// editors that share one; the server cannot tell them apart).
//
// Messages from the parent: { type: "open", kind, port, path, docs: [{ name, editors }] } → { type: "opened" };
// { type: "run", hz, warmupMs, measureMs, phase } → { type: "result", sent, delivered, seconds, hist, timed }
// (`phase` in [0, 1): where in the tick period this process's editors start, so that several processes
// interleave; `hist`: latencies as [bucket, count] pairs, see `bucketOf`);
// { type: "big", kind, port, path, names, update } (base64) → { type: "bigDone" }.
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import WebSocket from "ws";

const editors = [];
/** sentAt's key: client id (32 bits) × KEY + clock, exact below 2^53 while a clock stays under 2^20. */
const KEY = 1 << 20;
const sentAt = new Map();
let measuring = false;
let delivered = 0;
/** Latency histogram: bucket `b` holds latencies in [GROWTH^b, GROWTH^(b+1)) µs (2 % wide), merged by the parent. */
const GROWTH = 1.02;
const bucketOf = (ms) => Math.max(0, Math.floor(Math.log(Math.max(1, ms * 1000)) / Math.log(GROWTH)));
let hist = new Map();
let timed = 0;

function frame(kind, name, write) {
  const e = encoding.createEncoder();
  if (kind === "hp") encoding.writeVarString(e, name);
  write(e);
  return encoding.toUint8Array(e);
}

const step1 = (kind, name) =>
  frame(kind, name, (e) => {
    encoding.writeVarUint(e, 0);
    encoding.writeVarUint(e, 0);
    encoding.writeVarUint8Array(e, Y.encodeStateVector(new Y.Doc()));
  });
const updateFrame = (kind, name, update) =>
  frame(kind, name, (e) => {
    encoding.writeVarUint(e, 0);
    encoding.writeVarUint(e, 2);
    encoding.writeVarUint8Array(e, update);
  });
const authFrame = (name) =>
  frame("hp", name, (e) => {
    encoding.writeVarUint(e, 2);
    encoding.writeVarUint(e, 0);
    encoding.writeVarString(e, "");
  });

/** Sync messages: [type 0][subtype][update]; an update's first struct group gives (client, clock). */
function onMessage(kind, data, waiter, self) {
  const bytes = data instanceof Buffer ? data : Buffer.from(data);
  const d = decoding.createDecoder(bytes);
  if (kind === "hp") decoding.readVarString(d);
  const type = decoding.readVarUint(d);
  if (type !== 0 && type !== 4) return; // Hocuspocus answers a step 1 with type 4 (sync reply)
  const sub = decoding.readVarUint(d);
  if (sub === 1) waiter?.();
  if (sub !== 2 || !measuring) return;
  const update = decoding.readVarUint8Array(d);
  const now = performance.now();
  // One client's one struct (an editor's keystroke as relayed): read its (client, clock) directly.
  const u = decoding.createDecoder(update);
  if (decoding.readVarUint(u) === 1 && decoding.readVarUint(u) === 1) {
    const client = decoding.readVarUint(u);
    if (client !== self.id) count(client * KEY + decoding.readVarUint(u), now);
    return;
  }
  // Hocuspocus 4 merges a turn's updates into one message (ours too, on runtimes it cannot write frames
  // to directly): every (client, clock) in it counts.
  const { from, to } = Y.parseUpdateMeta(update);
  for (const [client, start] of from) {
    const end = to.get(client) ?? start;
    // A merged frame may carry the receiver's own updates back (Hocuspocus; ours when several typed): not a delivery.
    if (client === self.id) continue;
    for (let clock = start; clock < end; clock++) count(client * KEY + clock, now);
  }
}

function count(key, now) {
  delivered++;
  const at = sentAt.get(key);
  if (at === undefined) return; // an editor of another process
  const bucket = bucketOf(now - at);
  hist.set(bucket, (hist.get(bucket) ?? 0) + 1);
  timed++;
}

function openSocket(kind, port, path, name) {
  const url = kind === "hp" ? `ws://127.0.0.1:${port}${path}` : `ws://127.0.0.1:${port}${path}/${encodeURIComponent(name)}`;
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const socket = { ws, synced: undefined, id: -1 };
  ws.binaryType = "nodebuffer";
  ws.on("message", (data) => onMessage(kind, data, () => socket.synced?.(), socket));
  return new Promise((resolve, reject) => {
    ws.once("error", reject);
    ws.once("open", () => {
      if (kind === "hp") ws.send(authFrame(name));
      const synced = new Promise((r) => (socket.synced = r));
      ws.send(step1(kind, name));
      synced.then(() => resolve(socket));
    });
  });
}

async function open({ kind, port, path, docs }) {
  for (const { name, editors: count } of docs) {
    for (let i = 0; i < count; i++) {
      const socket = await openSocket(kind, port, path, name);
      const { ws } = socket;
      const doc = new Y.Doc();
      socket.id = doc.clientID;
      const text = doc.getText("t");
      doc.on("update", (update) => ws.send(updateFrame(kind, name, update)));
      editors.push({ doc, text, ws });
    }
  }
}

function type(editor) {
  const { doc, text } = editor;
  const clock = Y.getState(doc.store, doc.clientID);
  sentAt.set(doc.clientID * KEY + clock, performance.now());
  text.insert(text.length, "x");
}

async function run({ hz, warmupMs, measureMs, phase = 0 }) {
  const period = 1000 / hz;
  const timers = editors.map((editor, i) =>
    setTimeout(
      () => {
        editor.timer = setInterval(() => type(editor), period);
      },
      ((i + phase) * period) / editors.length,
    ),
  );
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const sentBefore = sentAt.size;
  delivered = 0;
  hist = new Map();
  timed = 0;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, measureMs));
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  for (const t of timers) clearTimeout(t);
  for (const e of editors) clearInterval(e.timer);
  return { sent: sentAt.size - sentBefore, delivered, seconds, hist: [...hist], timed };
}

/** One socket per name, each sends `update` (one big document) and waits for the server's answer to a step 1. */
async function big({ kind, port, path, names, update }) {
  const bytes = Buffer.from(update, "base64");
  for (const name of names) {
    const socket = await openSocket(kind, port, path, name);
    socket.ws.send(updateFrame(kind, name, bytes));
    const synced = new Promise((r) => (socket.synced = r));
    socket.ws.send(step1(kind, name));
    await synced;
    editors.push(socket);
  }
}

process.on("message", async (msg) => {
  if (msg.type === "open") {
    await open(msg);
    process.send({ type: "opened" });
  } else if (msg.type === "run") process.send({ type: "result", ...(await run(msg)) });
  else if (msg.type === "big") {
    await big(msg);
    process.send({ type: "bigDone" });
  }
});
