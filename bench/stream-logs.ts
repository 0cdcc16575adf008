// What room streams keep per idle room on one instance, measured on RoomStreams alone (no sockets, no
// rooms: the whole-server figure of bench/streams.mjs is dominated by the sockets' share and noisy).
//   node --import ./test/fixtures/ts-register.mjs --expose-gc bench/stream-logs.ts [rooms] [src dir]
// R rooms each get a log as a join makes it (`position`: offset 0, an epoch), heap after − before (forced
// GC) ÷ R; then one message in each, expired and swept while the rooms are still in use, ÷ R again: an
// idle room whose backlog emptied must not keep its arrays. `src dir` (default ../src) measures another
// checkout's source, e.g. `git archive main src | tar -x -C /tmp/main`.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROOMS = Number(process.argv[2] ?? 100_000);
const src = resolve(process.argv[3] ?? new URL("../src", import.meta.url).pathname);
const { RoomStreams } = await import(pathToFileURL(`${src}/engine/streams.ts`).href);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const ttlMs = 1000;
const streams = new RoomStreams({ size: 256, ttlMs, maxBytes: 64 * 1024 * 1024 }, () => true);
const ids = Array.from({ length: ROOMS }, (_, i) => `idle-room-${i}`);
const before = heap();
for (const id of ids) streams.position(id);
const idle = heap();
const frame = '{"type":"broadcast_event","payload":{"roomId":"r","connectionId":"c","event":"e","payload":{}}}';
for (const id of ids) streams.append(id, frame);
streams.sweep(Date.now() + ttlMs + 1);
const emptied = heap();
const perRoom = (bytes: number) => `${(bytes / ROOMS).toFixed(1)} B`;
console.log(`${src}: per idle room's log ${perRoom(idle - before)}; after a message expired and was swept ${perRoom(emptied - before)}`);
