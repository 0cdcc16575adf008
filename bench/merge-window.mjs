// What merging a write window's updates costs: one `Y.mergeUpdates` call over all of them (the writer before
// src/documents/update-merger.ts) against merging 16 at a time, then the results 16 at a time (its `mergeAll`,
// written again here: it is not exported).
// The updates are N keystrokes by 50 clients typing at the end of one text, as the server's doc emits them.
//   node bench/merge-window.mjs [N=4000]
import * as Y from "yjs";

const N = Number(process.argv[2] ?? 4000);
const server = new Y.Doc();
const updates = [];
server.on("update", (update) => updates.push(update));
const clients = Array.from({ length: 50 }, () => new Y.Doc());
for (let i = 0; i < 2000 + N; i++) {
  const client = clients[i % 50];
  const text = client.getText("t");
  let update;
  client.once("update", (u) => (update = u));
  text.insert(text.length, "x");
  Y.applyUpdate(server, update);
  if (i % 7 === 0) for (const other of clients) Y.applyUpdate(other, Y.encodeStateAsUpdate(server, Y.encodeStateVector(other)));
}
const window = updates.slice(-N);
const byLevels = (list) => {
  while (list.length > 1) {
    const next = [];
    for (let i = 0; i < list.length; i += 16) next.push(list.length - i === 1 ? list[i] : Y.mergeUpdates(list.slice(i, i + 16)));
    list = next;
  }
  return list[0];
};
const time = (what, merge) => {
  const started = performance.now();
  const merged = merge(window);
  console.log(`${what.padEnd(28)} ${(performance.now() - started).toFixed(1).padStart(7)} ms  ${merged.byteLength} bytes`);
  return merged;
};
for (let round = 0; round < 3; round++) {
  console.log(`round ${round + 1}, ${N} updates`);
  const flat = time("one Y.mergeUpdates call", (list) => Y.mergeUpdates(list));
  const levels = time("16 at a time, by levels", byLevels);
  const a = new Y.Doc();
  const b = new Y.Doc();
  Y.applyUpdate(a, flat);
  Y.applyUpdate(b, levels);
  if (a.getText("t").toString() !== b.getText("t").toString()) throw new Error("the two merges differ");
}
