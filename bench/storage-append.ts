/**
 * Chat storage append throughput: N concurrent appenders over R rooms for D seconds, per store, with
 * group commit (batch) and with one INSERT per message (batch: false). Afterwards every acknowledged
 * message must be in the store, in each room's call order.
 *
 *   npx tsdown bench/storage-append.ts -d node_modules/.ols-bench --no-dts && node node_modules/.ols-bench/storage-append.mjs
 *
 * Env: DATABASE_URL, MYSQL_URL, BENCH_SECONDS (5), BENCH_APPENDERS (200), BENCH_ROOMS (10).
 */
import type { ChatStorage } from "../src/storage/chat-storage.ts";
import { createInMemoryChatStorage } from "../src/storage/memory.ts";
import { createMySQLChatStorage } from "../src/storage/mysql.ts";
import { createPostgresChatStorage } from "../src/storage/postgres.ts";
import { createSQLiteChatStorage } from "../src/storage/sqlite.ts";
import "../test/helpers/sqlite-driver.ts";

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process!.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 5);
const APPENDERS = Number(env.BENCH_APPENDERS ?? 200);
const ROOMS = Number(env.BENCH_ROOMS ?? 10);
const DATABASE_URL = env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

interface Result {
  store: string;
  mode: string;
  appended: number;
  perSecond: number;
  p50: number;
  p99: number;
  lost: number;
  outOfOrder: boolean;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

async function run(store: string, mode: string, storage: ChatStorage): Promise<Result> {
  const rooms = Array.from({ length: ROOMS }, (_, i) => `bench-${mode}-${Date.now().toString(36)}-${i}`);
  const calls = rooms.map(() => [] as string[]);
  const acked = new Set<string>();
  const latencies: number[] = [];
  let seq = 0;
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: APPENDERS }, async (_, a) => {
      const r = a % ROOMS;
      while (performance.now() < end) {
        const id = `${a}-${seq++}`;
        calls[r]!.push(id);
        const t = performance.now();
        await storage.append(rooms[r]!, { id, connectionId: `c${a}`, message: `message ${id} from appender ${a}`, createdAt: Date.now() });
        latencies.push(performance.now() - t);
        acked.add(id);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  let lost = 0;
  let outOfOrder = false;
  for (const [r, room] of rooms.entries()) {
    const stored = (await storage.getHistory(room, calls[r]!.length + 10)).map((m) => m.id);
    const expected = calls[r]!.filter((id) => acked.has(id));
    const storedSet = new Set(stored);
    lost += expected.filter((id) => !storedSet.has(id)).length;
    if (stored.join() !== expected.join()) outOfOrder = true;
  }
  latencies.sort((x, y) => x - y);
  return {
    store,
    mode,
    appended: acked.size,
    perSecond: Math.round(acked.size / elapsed),
    p50: pct(latencies, 0.5),
    p99: pct(latencies, 0.99),
    lost,
    outOfOrder,
  };
}

const tableName = `ols_bench_${Date.now().toString(36)}`;
const { mkdtempSync, rmSync } = await import("node:fs");
const { tmpdir } = await import("node:os");
const { join } = await import("node:path");
const dir = mkdtempSync(join(tmpdir(), "ols-bench-"));

const stores: Array<[string, (batch: boolean) => Promise<ChatStorage>]> = [
  ["memory", async () => createInMemoryChatStorage({ historyLimit: 10_000_000 })],
  ["sqlite", async (batch) => createSQLiteChatStorage(join(dir, "chat.db"), { tableName, batch, historyLimit: 100 })],
  ["postgres", (batch) => createPostgresChatStorage(DATABASE_URL, { tableName, batch })],
  ["mysql", (batch) => createMySQLChatStorage(MYSQL_URL, { tableName, batch })],
];

const results: Result[] = [];
for (const [store, make] of stores) {
  for (const batch of store === "memory" ? [true] : [true, false]) {
    let storage: ChatStorage;
    try {
      storage = await make(batch);
    } catch (error) {
      console.error(`${store}: skipped (${(error as Error).message})`);
      break;
    }
    const result = await run(store, batch ? "batch" : "one-per-message", storage);
    await storage.close?.();
    results.push(result);
    console.error(JSON.stringify(result));
  }
}

// Clean up the bench tables.
try {
  const postgres = (await import("postgres")).default;
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await sql.unsafe(`drop table if exists "${tableName}"`);
  await sql.end();
} catch {}
try {
  const { createPool } = await import("mysql2/promise");
  const pool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
  await pool.query(`drop table if exists \`${tableName}\``);
  await pool.end();
} catch {}
rmSync(dir, { recursive: true, force: true });

console.log(
  `\n${APPENDERS} concurrent appenders, ${ROOMS} rooms, ${SECONDS} s per run (Node ${(globalThis as { process?: { version: string } }).process!.version})\n`,
);
console.log("| store | mode | appends/s | p50 ms | p99 ms | lost | order |");
console.log("|---|---|---:|---:|---:|---:|---|");
for (const r of results) {
  console.log(
    `| ${r.store} | ${r.mode} | ${r.perSecond.toLocaleString("en-US")} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.lost} | ${r.outOfOrder ? "WRONG" : "ok"} |`,
  );
}
for (const store of ["sqlite", "postgres", "mysql"]) {
  const b = results.find((r) => r.store === store && r.mode === "batch");
  const s = results.find((r) => r.store === store && r.mode !== "batch");
  if (b && s) console.log(`${store}: group commit ${(b.perSecond / s.perSecond).toFixed(1)}× one-insert-per-message`);
}
