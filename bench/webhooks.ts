/**
 * Webhooks: what an event costs the engine's path (the lifecycle call), queued and dropped, against
 * `JSON.stringify` of the same message in the same run; and how fast a local receiver is fed, by
 * `concurrency` and by how many rooms the events spread over (one room's events go one at a time).
 *
 *   npx tsdown bench/webhooks.ts -d node_modules/.ols-bench --no-dts && node node_modules/.ols-bench/webhooks.js
 *
 * Env: BENCH_EVENTS (100000 for the call cost, a tenth of it for delivery).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createWebhooks } from "../src/webhooks/webhooks.ts";

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process!.env;
const EVENTS = Number(env.BENCH_EVENTS ?? 100_000);
const quiet = () => {};

const receiver = createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(204).end());
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

const message = (i: number) => ({
  id: `01J${i}`,
  roomId: `room-${i % 100}`,
  connectionId: "c-1234",
  userId: "u-1",
  name: "Ada",
  message: "hello there, this is a chat message of a usual length",
  createdAt: 1764450000000 + i,
});

/** ns per call of `fn(i)` over `n` calls, best of 3. */
function perCall(n: number, fn: (i: number) => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, ((performance.now() - started) * 1e6) / n);
  }
  return best;
}

// The call cost: a receiver URL nobody answers quickly is not needed; the loop is synchronous, so no POST
// starts before it ends. Queued: room for every event; dropped: a full queue.
const messages = Array.from({ length: EVENTS }, (_, i) => message(i));
let sink = 0;
const baseline = perCall(EVENTS, (i) => {
  sink += JSON.stringify(messages[i]).length;
});
const queuing = createWebhooks({ url, secret: "s", maxQueue: EVENTS * 3 + 1, maxQueueBytes: 2 ** 31, closeTimeoutMs: 0 }, quiet);
const queued = perCall(EVENTS, (i) => queuing.lifecycle.chatStored!(messages[i]!));
const bodyBytes = queuing.stats().queuedBytes / queuing.stats().queued;
await queuing.close();
const full = createWebhooks({ url, secret: "s", maxQueue: 1, closeTimeoutMs: 0 }, quiet);
full.lifecycle.chatStored!(messages[0]!);
const dropped = perCall(EVENTS, (i) => full.lifecycle.chatStored!(messages[i]!));
await full.close();

console.log(`| lifecycle call (chat.stored) | ns per call | ÷ JSON.stringify of the message |`);
console.log(`| --- | ---: | ---: |`);
console.log(`| JSON.stringify (baseline) | ${baseline.toFixed(0)} | 1.00× |`);
console.log(`| queued (uuid, JSON, UTF-8, push) | ${queued.toFixed(0)} | ${(queued / baseline).toFixed(2)}× |`);
console.log(`| dropped (queue full) | ${dropped.toFixed(0)} | ${(dropped / baseline).toFixed(2)}× |`);
console.log(`\nbody: ${bodyBytes.toFixed(0)} bytes per chat.stored event (sink ${sink % 10})\n`);

/** Events per second delivered to the local receiver. */
async function deliver(concurrency: number, rooms: number): Promise<number> {
  const n = Math.max(1000, Math.floor(EVENTS / 10));
  const hooks = createWebhooks({ url, secret: "s", concurrency, maxQueue: n + 1 }, quiet);
  const started = performance.now();
  for (let i = 0; i < n; i++) hooks.lifecycle.emptied!(`room-${i % rooms}`);
  while (hooks.stats().delivered < n) await new Promise((resolve) => setTimeout(resolve, 5));
  const rate = n / ((performance.now() - started) / 1000);
  await hooks.close();
  return rate;
}

console.log(`| delivery to a local receiver | events/s | ÷ concurrency 1 |`);
console.log(`| --- | ---: | ---: |`);
const one = await deliver(1, 100);
for (const [concurrency, rooms] of [
  [1, 100],
  [4, 100],
  [16, 100],
  [4, 1],
] as const) {
  const rate = concurrency === 1 && rooms === 100 ? one : await deliver(concurrency, rooms);
  console.log(`| concurrency ${concurrency}, ${rooms} room${rooms > 1 ? "s" : ""} | ${rate.toFixed(0)} | ${(rate / one).toFixed(2)}× |`);
}
receiver.close();
receiver.closeAllConnections();
