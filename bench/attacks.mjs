#!/usr/bin/env node
// Issue 11's attacks, measured against one build of the server (the CLI of a built dist/, under Node), so
// the README's attack table reads "before" and "after" by the same method:
//
//   node bench/attacks.mjs [--dist DIR] [--attack 1,2,3,5,9,10,12] [--seconds 10]
//   node bench/attacks.mjs --dist /tmp/ols-before/dist          # round 1's build (see bench/README.md)
//
// Each attack starts a fresh server (`node DIR/cli.js --port 0`), runs, and prints one JSON line. Needs
// Postgres (5432, trust, db `test`) for 5 and 10 and MariaDB (3306, root, db `test`) for 3; tables are
// `ols_attack_<n>_<pid>`, dropped afterwards. Linux only (server RSS from /proc). Figures are counts and
// MB, not speeds, but the machine's load still changes how many frames fit in the window.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import WebSocket from "ws";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = Object.fromEntries(process.argv.slice(2).flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1]]] : [])));
const dist = resolve(args.dist ?? join(ROOT, "dist"));
const seconds = Number(args.seconds ?? 10);
const only = (args.attack ?? "1,2,3,5,9,10,12").split(",");
const PG = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL = "mysql://root@127.0.0.1:3306/test";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deep = (depth) => "[".repeat(depth) + "]".repeat(depth);

/** The CLI from `dist` (through bench/servers/cli-with-memory.mjs), its output counted in lines; `stop()` ends it. */
async function startServer(flags = []) {
  const wrapper = join(ROOT, "bench", "servers", "cli-with-memory.mjs");
  const child = spawn(process.execPath, ["--expose-gc", wrapper, "--port", "0", "--host", "127.0.0.1", ...flags], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, OLS_DIST: dist },
  });
  const server = { child, lines: 0, exit: undefined, log: "" };
  const count = (d) => {
    server.log += d;
    server.lines += String(d).split("\n").length - 1;
  };
  child.stderr.on("data", count);
  child.once("exit", (code, signal) => (server.exit = signal ?? code));
  let out = "";
  server.port = await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /:(\d+) \(chat/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", () => reject(new Error(`server exited: ${out}${server.log}`)));
  });
  /** The JS heap after a full GC, MB. */
  server.heapMB = () =>
    new Promise((resolve) => {
      const onData = (d) => {
        const m = /MEM (\{.*\})/.exec(String(d));
        if (!m) return;
        child.stdout.off("data", onData);
        server.lines--; // not the server's own output
        resolve(+(JSON.parse(m[1]).heapUsed / 1048576).toFixed(1));
      };
      child.stdout.on("data", onData);
      child.stdin.write("mem\n");
    });
  child.stdout.on("data", count);
  server.startLines = server.lines;
  server.rssMB = () =>
    server.exit === undefined ? Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))[1]) / 1024 : null;
  server.stop = async () => {
    if (server.exit === undefined) {
      child.kill("SIGTERM");
      await Promise.race([new Promise((r) => child.once("exit", r)), sleep(5000)]);
      if (server.exit === undefined) child.kill("SIGKILL");
    }
  };
  return server;
}

/** A `ws` client that keeps what it receives; `next(type)` waits for the next frame of a type (or an error). */
async function client(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/live`, { perMessageDeflate: false });
  const c = { ws, frames: [], closed: undefined, waiters: [] };
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data));
    c.frames.push(frame);
    c.waiters = c.waiters.filter((w) => !w(frame));
  });
  ws.on("close", (code) => (c.closed = code));
  ws.on("error", () => {});
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  c.send = (type, payload) =>
    ws.readyState === 1 &&
    ws.send(typeof payload === "string" ? `{"type":"${type}","payload":${payload}}` : JSON.stringify({ type, payload }));
  /** The next frame of one of `types` (or that `types(frame)` accepts), or `{ type: "none" }` after `ms`. */
  c.next = (types, ms = 3000) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ type: "none" }), ms);
      const wanted = typeof types === "function" ? types : (f) => types.includes(f.type);
      c.waiters.push((f) => wanted(f) && (clearTimeout(timer), resolve(f), true));
    });
  /** The reply to one's own `send_chat` of `message`: its `chat_message` (others' are skipped) or an error. */
  c.chatReply = (message, ms) => c.next((f) => f.type === "error" || (f.type === "chat_message" && f.payload.message === message), ms);
  return c;
}
const codeOf = (f) => (f.type === "error" ? f.payload.code : f.type);
const tally = (list) => list.reduce((t, k) => ((t[k] = (t[k] ?? 0) + 1), t), {});

/** Item 1: two presence updates 5,000 levels deep from a member of a room with a watcher; does the server live? */
async function attackCrash() {
  const server = await startServer();
  const watcher = await client(server.port);
  watcher.send("join_room", { roomId: "deep-presence" });
  await watcher.next(["room_joined"]);
  const mover = await client(server.port);
  mover.send("join_room", { roomId: "deep-presence" });
  await mover.next(["room_joined"]);
  // Two frames within one throttle window, re-encoded for the watcher when the timer fires.
  const depth = Number(process.env.DEPTH ?? 5000);
  mover.send("update_presence", `{"presence":{"p":${deep(depth)}}}`);
  mover.send("update_presence", `{"presence":{"q":${deep(depth)}}}`);
  const updateReplies = [codeOf(await mover.next(["error"], 1500))];
  // A newcomer makes the server encode the room's presence again.
  const late = await client(server.port).catch(() => null);
  late?.send("join_room", { roomId: "deep-presence" });
  updateReplies.push(late ? codeOf(await late.next(["room_joined", "error"], 2000)) : "refused");
  await sleep(2000);
  const result = {
    replies: updateReplies,
    server: server.exit === undefined ? "running" : `exited (${server.exit})`,
    serverLog: server.log.split("\n").find((l) => /RangeError/.test(l)),
  };
  await server.stop();
  return result;
}

/** Item 2: a deep presence in join_room, then a deep chat metadata, each followed by 20 joiners of that room. */
async function attackPoison() {
  const server = await startServer();
  const result = {};
  const attacker = await client(server.port);
  attacker.send("join_room", `{"roomId":"deep-presence","presence":{"p":${deep(8000)}}}`);
  result.presenceReply = codeOf(await attacker.next(["room_joined", "error"]));
  await sleep(500);
  result.presenceJoiners = await joiners(server, "deep-presence");
  const sender = await client(server.port).catch(() => null);
  if (sender) {
    sender.send("join_room", { roomId: "deep-chat" });
    await sender.next(["room_joined"]);
    sender.send("send_chat", `{"message":"hi","metadata":{"m":${deep(8000)}}}`);
    result.chatReply = codeOf(await sender.chatReply("hi", 2000));
    result.chatJoiners = await joiners(server, "deep-chat");
  }
  result.server = server.exit === undefined ? "running" : `exited (${server.exit})`;
  await server.stop();
  return result;
}

async function joiners(server, roomId) {
  if (server.exit !== undefined) return "server gone";
  const replies = [];
  for (let i = 0; i < 20 && server.exit === undefined; i++) {
    const c = await client(server.port).catch(() => null);
    if (!c) break;
    c.send("join_room", { roomId });
    replies.push(codeOf(await c.next(["room_joined", "error"], 2000)));
    c.ws.terminate();
  }
  return tally(replies);
}

/** Item 3: 5 honest senders and one sending rows MariaDB may refuse (lone surrogate; every other one 40-deep metadata), one chat in flight each. */
async function attackBadRow() {
  const table = `ols_attack_3_${process.pid}`;
  const server = await startServer(["--storage", MYSQL, "--table", table]);
  const run = async (text, until, bad) => {
    const c = await client(server.port);
    c.send("join_room", { roomId: "bad-row" });
    await c.next(["room_joined"]);
    const replies = [];
    for (let n = 0; Date.now() < until && c.closed === undefined; n++) {
      // MariaDB's JSON check refuses metadata nested past 32 levels; lone surrogates reach the driver too.
      const metadata = bad && n % 2 ? `,"metadata":{"m":${deep(40)}}` : "";
      c.send("send_chat", `{"message":"${text}${n}"${metadata}}`);
      const reply = await c.chatReply(JSON.parse(`"${text}${n}"`), 5000);
      replies.push(reply.type === "chat_message" ? "stored" : codeOf(reply));
      await sleep(20);
    }
    c.ws.close();
    return tally(replies);
  };
  const until = Date.now() + seconds * 1000;
  const [attacker, ...honest] = await Promise.all([
    run("\\ud800", until, true),
    ...Array.from({ length: 5 }, (_, i) => run(`honest${i}-`, until, false)),
  ]);
  await server.stop();
  await dropTable("mysql", table);
  const all = tally(honest.flatMap((t) => Object.entries(t).flatMap(([k, v]) => Array(v).fill(k))));
  const sent = Object.values(all).reduce((a, b) => a + b, 0);
  return { attacker, honest: all, honestFailed: `${(((sent - (all.stored ?? 0)) / sent) * 100).toFixed(1)} %` };
}

async function dropTable(kind, table) {
  if (kind === "pg") {
    const sql = postgres(PG, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop table if exists ${table}`);
    await sql.end();
    return;
  }
  spawn("mysql", ["-h", "127.0.0.1", "-u", "root", "test", "-e", `drop table if exists ${table}`], { stdio: "ignore" });
}

/** Samples the server's RSS every 250 ms until stopped; returns the peak. */
function rssPeak(server) {
  let peak = server.rssMB() ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, server.rssMB() ?? 0)), 250);
  return () => (clearInterval(timer), +peak.toFixed(1));
}

async function countRows(table) {
  const sql = postgres(PG, { max: 1, onnotice: () => {} });
  const [{ n }] = await sql.unsafe(`select count(*)::int as n from ${table}`);
  await sql.end();
  return n;
}

/** Item 5: one client sends chats as fast as its socket takes them, against Postgres; then leaves. */
async function attackChatFlood() {
  const table = `ols_attack_5_${process.pid}`;
  const server = await startServer(["--storage", PG, "--table", table]);
  const rssStart = +server.rssMB().toFixed(1);
  const peak = rssPeak(server);
  const c = await client(server.port);
  c.send("join_room", { roomId: "flood" });
  await c.next(["room_joined"]);
  let sent = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until && c.closed === undefined) {
    if (c.ws.bufferedAmount > 1 << 20) await sleep(1);
    else for (let k = 0; k < 100; k++, sent++) c.send("send_chat", `{"message":"flood ${sent}"}`);
    if (sent % 10_000 === 0) await sleep(0);
  }
  c.ws.terminate();
  const rowsAtLeave = await countRows(table);
  await sleep(10_000);
  const rowsTenSecondsLater = await countRows(table);
  const result = {
    sent,
    replies: tally(c.frames.map(codeOf)),
    closedWith: c.closed ?? "open",
    rssStartMB: rssStart,
    rssPeakMB: peak(),
    rowsAtLeave,
    rowsTenSecondsLater,
    server: server.exit === undefined ? "running" : `exited (${server.exit})`,
  };
  await server.stop();
  await dropTable("pg", table);
  return result;
}

/** Item 9: 50 connections each open room after room (join, 5 chats of 2,000 characters, leave), in memory. */
async function attackManyRooms() {
  const server = await startServer();
  const rssStart = +server.rssMB().toFixed(1);
  const heapStart = await server.heapMB();
  const until = Date.now() + seconds * 1000;
  const text = "x".repeat(2000);
  const run = async (i) => {
    const c = await client(server.port);
    let rooms = 0;
    for (; Date.now() < until && c.closed === undefined; rooms++) {
      c.send("join_room", { roomId: `many-${i}-${rooms}` });
      if ((await c.next(["room_joined", "error"])).type !== "room_joined") await sleep(100);
      for (let k = 0; k < 5; k++) c.send("send_chat", { message: text });
      c.send("leave_room", {});
    }
    c.ws.close();
    return { rooms, rateLimited: c.frames.filter((f) => codeOf(f) === "RATE_LIMITED").length };
  };
  const runs = await Promise.all(Array.from({ length: 50 }, (_, i) => run(i)));
  await sleep(3000);
  const result = {
    rooms: runs.reduce((a, r) => a + r.rooms, 0),
    rateLimited: runs.reduce((a, r) => a + r.rateLimited, 0),
    rssStartMB: rssStart,
    rssEndMB: +(server.rssMB() ?? 0).toFixed(1),
    heapStartMB: heapStart,
    heapEndMB: await server.heapMB(),
  };
  await server.stop();
  return result;
}

/** Item 10: 10 senders (one chat in flight each) against Postgres through a proxy cut for 3 s mid-run. */
async function attackStorageCut() {
  const table = `ols_attack_10_${process.pid}`;
  const sockets = new Set();
  let down = false;
  const proxy = net.createServer((inbound) => {
    if (down) return inbound.resetAndDestroy();
    const outbound = net.connect(5432, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => {});
      s.once("close", () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  const url = `postgres://postgres@127.0.0.1:${proxy.address().port}/test`;
  const server = await startServer(["--storage", url, "--table", table]);
  const failed = [];
  let errorText;
  const until = Date.now() + seconds * 1000;
  const run = async (i) => {
    const c = await client(server.port);
    c.send("join_room", { roomId: "cut" });
    await c.next(["room_joined"]);
    for (let n = 0; Date.now() < until && c.closed === undefined; n++) {
      c.send("send_chat", { message: `cut-${i}-${n}` });
      const reply = await c.chatReply(`cut-${i}-${n}`, 15_000);
      if (codeOf(reply) === "STORAGE_ERROR") {
        failed.push(`cut-${i}-${n}`);
        errorText ??= reply.payload.message;
      }
      await sleep(10);
    }
    c.ws.close();
  };
  const cut = (async () => {
    await sleep(3000);
    down = true;
    for (const s of sockets) s.destroy();
    await sleep(3000);
    down = false;
  })();
  await Promise.all([cut, ...Array.from({ length: 10 }, (_, i) => run(i))]);
  await server.stop();
  proxy.close();
  const sql = postgres(PG, { max: 1, onnotice: () => {} });
  const stored = failed.length ? (await sql.unsafe(`select message from ${table} where message = any($1)`, [failed])).length : 0;
  await sql.end();
  await dropTable("pg", table);
  return { storageErrors: failed.length, storedAnyway: stored, errorText };
}

/** Item 12: 200 oversized frames (one connection each) and 300 malformed frames; server log lines meanwhile. */
async function attackLogFlood() {
  const server = await startServer();
  const before = server.lines;
  const big = `{"type":"broadcast_event","payload":{"event":"x","payload":"${"x".repeat(70_000)}"}}`;
  for (let i = 0; i < 200; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = await client(server.port);
        c.ws.send(big);
        await Promise.race([new Promise((r) => c.ws.once("close", r)), sleep(3000)]);
      }),
    );
  }
  const bad = await client(server.port);
  for (let i = 0; i < 300; i++) bad.ws.send(i % 2 ? "{" : '{"type":"nope"}');
  await sleep(2000);
  const result = { oversizedFrames: 200, malformedFrames: 300, logLines: server.lines - before };
  await server.stop();
  return result;
}

const attacks = {
  1: attackCrash,
  2: attackPoison,
  3: attackBadRow,
  5: attackChatFlood,
  9: attackManyRooms,
  10: attackStorageCut,
  12: attackLogFlood,
};
for (const id of only) {
  const fn = attacks[id];
  if (!fn) continue;
  const result = await fn().catch((error) => ({ failed: String(error?.stack ?? error) }));
  console.log(JSON.stringify({ attack: id, dist, ...result }));
}
process.exit(0);
