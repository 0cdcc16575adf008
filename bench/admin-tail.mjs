/**
 * Fan-out in one busy room with the admin page's live tail closed and open: 1 sender, RECEIVERS members,
 * broadcast_event with WINDOW events in flight; frames delivered per second over every receiver, in
 * alternating windows (closed, open, closed, open, ...) against one server child. `--versus DIR` runs
 * the closed windows against another build too (no tail there), to show the cost of the watch check.
 *
 *   npx tsdown && node bench/admin-tail.mjs [--versus /work/ols-before/dist] [--seconds 4] [--rounds 3]
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import WebSocket from "ws";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const SECONDS = Number(arg("seconds", 4));
const ROUNDS = Number(arg("rounds", 3));
const RECEIVERS = 100;
const WINDOW = 32;
const root = join(import.meta.dirname, "..");

async function startServer(dist) {
  const child = spawn(process.execPath, [join(root, "bench/servers/ours-api-node.mjs"), dist], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve) =>
    child.stdout.on("data", (d) => /PORT (\d+)/.test(d) && resolve(Number(/PORT (\d+)/.exec(d)[1]))),
  );
  return { child, port };
}

const open = (url) =>
  new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once("open", () => resolve(ws));
  });
const joinRoom = (ws, roomId) =>
  new Promise((resolve) => {
    ws.on("message", function onJoined(d) {
      if (String(d).startsWith('{"type":"room_joined"')) ws.off("message", onJoined), resolve();
    });
    ws.send(JSON.stringify({ type: "join_room", payload: { roomId } }));
  });

async function measure(port, withTail) {
  const url = `ws://127.0.0.1:${port}/live`;
  const room = `busy-${Math.random().toString(36).slice(2)}`;
  const receivers = await Promise.all(Array.from({ length: RECEIVERS }, () => open(url)));
  for (const r of receivers) await joinRoom(r, room);
  const sender = await open(url);
  await joinRoom(sender, room);
  let tail;
  let tailBytes = 0;
  if (withTail) {
    const ctl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/rooms/${room}/tail`, {
      headers: { authorization: "Bearer bench-secret-bench-secret" },
      signal: ctl.signal,
    });
    const reader = res.body.getReader();
    (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          tailBytes += value.length;
        }
      } catch {}
    })();
    tail = ctl;
  }
  let delivered = 0;
  let inFlight = 0;
  let counting = false;
  const pump = () => {
    while (inFlight < WINDOW) {
      inFlight++;
      sender.send('{"type":"broadcast_event","payload":{"event":"tick","payload":{"n":1}}}');
    }
  };
  receivers.forEach((r, i) => {
    r.on("message", (d) => {
      if (!String(d).startsWith('{"type":"broadcast_event"')) return;
      if (counting) delivered++;
      if (i === 0) {
        inFlight--;
        pump();
      }
    });
  });
  pump();
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  counting = true;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  counting = false;
  tail?.abort();
  for (const ws of [sender, ...receivers]) ws.terminate();
  return { perSecond: Math.round(delivered / SECONDS), tailBytes };
}

const ours = await startServer(join(root, "dist"));
const versusDir = arg("versus");
const before = versusDir ? await startServer(versusDir) : undefined;
const rows = [];
for (let round = 0; round < ROUNDS; round++) {
  const closed = await measure(ours.port, false);
  const opened = await measure(ours.port, true);
  const row = {
    round,
    closed: closed.perSecond,
    open: opened.perSecond,
    openOverClosed: +(opened.perSecond / closed.perSecond).toFixed(3),
    tailMB: +(opened.tailBytes / 1e6).toFixed(1),
  };
  if (before) {
    const b = await measure(before.port, false);
    row.before = b.perSecond;
    row.closedOverBefore = +(closed.perSecond / b.perSecond).toFixed(3);
  }
  rows.push(row);
  console.log(JSON.stringify(row));
}
ours.child.kill();
before?.child.kill();
