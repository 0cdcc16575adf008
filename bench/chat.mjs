// Chat persistence through the server: 50 clients in 10 rooms send `send_chat` for a few seconds,
// for each storage, with group commit and with one INSERT per message. Reports stored messages/s
// (echoes acknowledged to their senders), send→echo latency, and then checks the database: every
// acknowledged message is stored, in the order its room saw it.
// Each store runs once without and once with a `clientMessageId` on every send (exactly-once sends,
// `appendOnce`); the table states what idempotency costs as a ratio. With `--hooks both` (the default) each
// store's group-commit run is repeated with a no-op `beforeChat` hook, and the table states what it costs.
//
//   node bench/chat.mjs [--duration s] [--stores memory,sqlite,postgres,mysql] [--window n] [--client-ids off|on|both] [--hooks off|both]
//
// Run `npx tsdown` first (npm run bench does). Servers run as child processes on 127.0.0.1.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";

const ROOT = join(import.meta.dirname, "..");
const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const CLIENTS = 50;
const ROOMS = 10;

function parseArgs(argv) {
  const out = { duration: 4, stores: ["memory", "sqlite", "postgres", "mysql"], window: 1, clientIds: "both", hooks: "both" };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => inline ?? argv[++i];
    if (flag === "--duration") out.duration = Number(value());
    else if (flag === "--stores") out.stores = value().split(",");
    else if (flag === "--window") out.window = Number(value());
    else if (flag === "--client-ids") out.clientIds = value();
    else if (flag === "--hooks") out.hooks = value();
  }
  if (!["off", "both"].includes(out.hooks)) throw new Error(`--hooks must be off or both, got ${out.hooks}`);
  if (!["off", "on", "both"].includes(out.clientIds)) throw new Error(`--client-ids must be off, on or both, got ${out.clientIds}`);
  return out;
}

const children = new Set();
const killAll = () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
};
process.on("exit", killAll);

/** Start the bench chat server; resolves with its port once it prints READY. */
function startServer(env) {
  const child = spawn(process.execPath, [join(ROOT, "bench/servers/ours-node-chat.mjs")], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      const m = /READY (\d+)/.exec(String(d));
      if (m) resolve({ child, port: Number(m[1]), stderr: () => err });
    });
    child.once("exit", (code) => reject(new Error(`chat server exited (${code}): ${err.trim().split("\n").slice(-3).join(" | ")}`)));
    setTimeout(() => reject(new Error(`chat server did not start: ${err}`)), 20_000).unref();
  });
}

function stopServer(server) {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null) return resolve();
    server.child.once("exit", () => resolve());
    server.child.kill("SIGTERM");
    setTimeout(() => server.child.kill("SIGKILL"), 8000).unref();
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function runOnce(store, batch, ids, opts, dir, hook = false) {
  const tableName = `ols_bench_${store}_${batch ? "b" : "s"}${ids ? "i" : ""}_${Math.random().toString(36).slice(2, 7)}`;
  const storageUrl = { memory: "memory", sqlite: `sqlite:${join(dir, `${tableName}.db`)}`, postgres: DATABASE_URL, mysql: MYSQL_URL }[
    store
  ];
  const server = await startServer({
    STORAGE_URL: storageUrl,
    STORAGE_TABLE: tableName,
    STORAGE_BATCH: batch ? "1" : "0",
    BENCH_HOOKS: hook ? "noop" : "",
  });
  try {
    const load = await connectLoad(server.port, { ...opts, ids }, tableName);
    const t0 = performance.now();
    load.start();
    await new Promise((r) => setTimeout(r, opts.duration * 1000));
    load.stop();
    const elapsed = (performance.now() - t0) / 1000;
    await load.settle();
    const acked = load.clients.reduce((n, c) => n + c.acked, 0);
    const errors = load.clients.reduce((n, c) => n + c.errors, 0);
    const lat = load.latencies.sort((a, b) => a - b);
    const check = store === "memory" ? { stored: "n/a", lost: 0, orderOk: true } : await verify(storageUrl, tableName, load.clients);
    load.close();
    return {
      store,
      batch,
      ids,
      hook,
      perSec: acked / elapsed,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      acked,
      errors,
      ...check,
    };
  } finally {
    await stopServer(server);
    await dropTable(store, tableName);
  }
}

/**
 * The load: clients learn their connection id from `room_joined`, then keep `window` in flight. With
 * `ids`, every send carries a fresh `clientMessageId` (a client-made UUID, as real clients send).
 */
async function connectLoad(port, { window, ids }, tag) {
  const url = `ws://127.0.0.1:${port}/live`;
  const latencies = [];
  let sending = false;
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => {
      const c = {
        room: `${tag}-r${i % ROOMS}`,
        seq: 0,
        inflight: 0,
        acked: 0,
        errors: 0,
        sendTimes: new Map(),
        ackedIds: [],
        roomOrder: [],
      };
      const send = () => {
        while (sending && c.inflight < window) {
          const text = `c${i}-${c.seq++}`;
          c.sendTimes.set(text, performance.now());
          c.inflight++;
          const payload = { message: text, metadata: { seq: c.seq } };
          if (ids) payload.clientMessageId = crypto.randomUUID();
          c.ws.send(JSON.stringify({ type: "send_chat", payload }));
        }
      };
      c.pump = send;
      return new Promise((resolve, reject) => {
        c.ws = new WebSocket(url);
        c.ws.on("error", reject);
        c.ws.on("open", () => c.ws.send(JSON.stringify({ type: "join_room", payload: { roomId: c.room } })));
        c.ws.on("message", (data) => {
          const msg = JSON.parse(String(data));
          if (msg.type === "room_joined") {
            c.connectionId = msg.payload.connectionId;
            resolve(c);
          } else if (msg.type === "chat_message") {
            c.roomOrder.push(msg.payload.id);
            if (msg.payload.connectionId !== c.connectionId) return;
            const t = c.sendTimes.get(msg.payload.message);
            if (t === undefined) return;
            c.sendTimes.delete(msg.payload.message);
            latencies.push(performance.now() - t);
            c.inflight--;
            c.acked++;
            c.ackedIds.push(msg.payload.id);
            send();
          } else if (msg.type === "error") {
            c.errors++;
            c.inflight--;
            send();
          }
        });
      });
    }),
  );
  return {
    clients,
    latencies,
    start() {
      sending = true;
      for (const c of clients) c.pump();
    },
    stop() {
      sending = false;
    },
    async settle() {
      const deadline = Date.now() + 10_000;
      while (clients.some((c) => c.inflight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100)); // let the last fan-out reach every member
    },
    close() {
      for (const c of clients) c.ws.terminate();
    },
  };
}

/** Every acknowledged message is in the table, and each room's stored order is the order its members saw. */
async function verify(storageUrl, tableName, clients) {
  const { createChatStorageFromUrl } = await import("../dist/node.js");
  const storage = await createChatStorageFromUrl(storageUrl, { tableName });
  try {
    let stored = 0;
    let lost = 0;
    let orderOk = true;
    for (const room of new Set(clients.map((c) => c.room))) {
      const ids = (await storage.getHistory(room, 10_000_000)).map((m) => m.id);
      stored += ids.length;
      const have = new Set(ids);
      const members = clients.filter((c) => c.room === room);
      for (const c of members) for (const id of c.ackedIds) if (!have.has(id)) lost++;
      // The order every member saw is the stored order (restricted to what it saw).
      for (const c of members) {
        const seen = new Set(c.roomOrder);
        const storedSeen = ids.filter((id) => seen.has(id));
        if (storedSeen.length !== c.roomOrder.length || storedSeen.some((id, k) => id !== c.roomOrder[k])) orderOk = false;
      }
    }
    return { stored, lost, orderOk };
  } finally {
    await storage.close?.();
  }
}

async function dropTable(store, tableName) {
  try {
    if (store === "postgres") {
      const { default: postgres } = await import("postgres");
      const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop table if exists "${tableName}"`);
      await sql.end();
    } else if (store === "mysql") {
      const mysql = await import("mysql2/promise");
      const conn = await mysql.createConnection(MYSQL_URL);
      await conn.query(`drop table if exists \`${tableName}\``);
      await conn.end();
    }
  } catch (error) {
    console.error(`bench chat: could not drop ${tableName}: ${error.message}`);
  }
}

const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
const ms = (n) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : "–");

export async function runChatBench(argv = []) {
  const opts = parseArgs(argv);
  const dir = mkdtempSync(join(tmpdir(), "ols-bench-chat-"));
  const rows = [];
  const idModes = { off: [false], on: [true], both: [false, true] }[opts.clientIds];
  try {
    for (const store of opts.stores) {
      const pair = {};
      for (const batch of [true, false]) {
        if (store === "memory" && !batch) continue;
        const variants = idModes.map((ids) => ({ ids, hook: false }));
        if (batch && opts.hooks === "both") variants.push({ ids: false, hook: true });
        for (const { ids, hook } of variants) {
          const key = `${batch ? "batch" : "single"}${ids ? "Ids" : ""}${hook ? "Hook" : ""}`;
          process.stderr.write(
            `bench: chat ${store} ${batch ? "group commit" : "one INSERT per message"}${ids ? " + clientMessageId" : ""}${hook ? " + no-op beforeChat" : ""}… `,
          );
          try {
            const r = await runOnce(store, batch, ids, opts, dir, hook);
            pair[key] = r;
            process.stderr.write(
              `${fmt(r.perSec)} msgs/s, p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms, lost ${r.lost}, order ${r.orderOk ? "ok" : "BROKEN"}\n`,
            );
          } catch (error) {
            process.stderr.write(`FAILED (${error.message})\n`);
            pair[key] = { store, batch, ids, hook, error: error.message };
          }
        }
      }
      rows.push(pair);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `### chat persistence: ${CLIENTS} clients in ${ROOMS} rooms, ${opts.window} send_chat in flight each, ${opts.duration} s, Node ${process.version}`,
    "",
    "| storage | mode | clientMessageId | stored msgs/s | p50 send→echo, ms | p99, ms | acknowledged | lost | order | group commit ÷ one-per-message | with ids ÷ without | no-op beforeChat ÷ none |",
    "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
  ];
  const x = (a, b) => (a?.perSec && b?.perSec ? `${(a.perSec / b.perSec).toFixed(2)}×` : "");
  for (const pair of rows) {
    for (const key of ["batch", "batchIds", "batchHook", "single", "singleIds"]) {
      const r = pair[key];
      if (!r) continue;
      const mode = `${r.batch ? "group commit" : "one INSERT per message"}${r.hook ? " + no-op beforeChat" : ""}`;
      const ids = r.ids ? "on every send" : "none";
      // Group commit against one INSERT per message, and idempotency's cost, each within the same other setting.
      const batchRatio = r.batch && !r.hook ? x(r, pair[r.ids ? "singleIds" : "single"]) : "";
      const idsRatio = r.ids ? x(r, pair[r.batch ? "batch" : "single"]) : "";
      const hookRatio = r.hook ? x(r, pair.batch) : "";
      lines.push(
        r.error
          ? `| ${r.store} | ${mode} | ${ids} | failed: ${r.error} | | | | | | | | |`
          : `| ${r.store} | ${mode} | ${ids} | ${fmt(r.perSec)} | ${ms(r.p50)} | ${ms(r.p99)} | ${fmt(r.acked)} | ${r.lost} | ${r.orderOk ? "ok" : "BROKEN"} | ${batchRatio} | ${idsRatio} | ${hookRatio} |`,
      );
    }
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runChatBench(process.argv.slice(2)).then(
    (text) => {
      console.log(text);
      process.exit(0);
    },
    (error) => {
      console.error(`bench chat: ${error?.stack ?? error}`);
      killAll();
      process.exit(1);
    },
  );
}
