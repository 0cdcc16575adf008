/**
 * A write window's updates merged as they come, a few at a time: `Y.mergeUpdates` costs the square of how
 * many it is given, so no call may get a whole window (4,000 keystrokes took 289 ms in one call).
 */
import * as Y from "yjs";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { mergeAll, UpdateMerger } from "../../src/documents/update-merger.ts";
import { DocumentWriter } from "../../src/documents/document-writer.ts";
import { createInMemoryDocumentStorage } from "../../src/storage/document-storage.ts";

/** How many updates each `Y.mergeUpdates` call was given, in this file. */
const calls: number[] = [];
vi.mock("yjs", async (original) => {
  const actual = await original<typeof import("yjs")>();
  return {
    ...actual,
    mergeUpdates: (updates: Uint8Array[]) => (calls.push(updates.length), actual.mergeUpdates(updates)),
  };
});

/** `count` keystrokes by `editors` clients into one text, with a deletion every tenth: each one's update. */
function keystrokes(count: number, editors = 50): Uint8Array[] {
  const server = new Y.Doc();
  const updates: Uint8Array[] = [];
  server.on("update", (update: Uint8Array) => updates.push(update));
  const docs = Array.from({ length: editors }, () => new Y.Doc());
  for (let i = 0; i < count; i++) {
    const doc = docs[i % editors]!;
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server, Y.encodeStateVector(doc)));
    const text = doc.getText("t");
    const before = Y.encodeStateVector(doc);
    if (i % 10 === 9 && text.length > 0) text.delete(text.length - 1, 1);
    else text.insert(text.length, String.fromCharCode(97 + (i % 26)));
    Y.applyUpdate(server, Y.encodeStateAsUpdate(doc, before));
  }
  return updates;
}

const textOf = (update: Uint8Array) => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, update);
  return doc.getText("t").toString();
};

describe("update merger", () => {
  beforeEach(() => void (calls.length = 0));

  it("merges any number of updates into the document one mergeUpdates call over all of them gives, 16 at most per call", () => {
    const updates = keystrokes(700);
    const sizes = [1, 2, 15, 16, 17, 255, 256, 257, 700];
    calls.length = 0;
    const merged = sizes.map((n) => mergeAll(updates.slice(0, n)));
    expect(Math.max(...calls)).toBeLessThanOrEqual(16);
    for (const [i, n] of sizes.entries()) expect(textOf(merged[i]!)).toBe(textOf(Y.mergeUpdates(updates.slice(0, n))));
  });

  it("counts what it holds, takes it all as one update, and keeps an update added back with its count", () => {
    const updates = keystrokes(300);
    const merger = new UpdateMerger();
    expect(merger.take()).toBeUndefined();
    for (const update of updates.slice(0, 200)) merger.add(update);
    expect(merger.size).toBe(200);
    const first = merger.take()!;
    expect(first.count).toBe(200);
    expect(merger.size).toBe(0);
    // A failed write adds its merge back: it still counts as 200, and the next take holds both.
    merger.add(first.update, first.count);
    for (const update of updates.slice(200)) merger.add(update);
    expect(merger.size).toBe(300);
    const all = merger.take()!;
    expect(Math.max(...calls)).toBeLessThanOrEqual(16);
    expect(all.count).toBe(300);
    expect(textOf(all.update)).toBe(textOf(Y.mergeUpdates(updates)));
  });

  it("writes a window of 4,000 keystrokes as one row without giving mergeUpdates more than 16 at once", async () => {
    const updates = keystrokes(4000);
    calls.length = 0;
    const storage = createInMemoryDocumentStorage();
    const writer = new DocumentWriter(
      "d",
      { storage, windowMs: 60_000, encodeState: () => new Uint8Array([0, 0]), report: (e) => void e },
      { rows: 0, bytes: 0, through: 0 },
    );
    for (const update of updates) writer.add(update);
    expect(writer.unsaved).toBe(4000);
    await writer.flush();
    const mostPerCall = Math.max(...calls);
    expect(writer.unsaved).toBe(0);
    const { updates: rows } = await storage.load("d");
    expect(rows).toHaveLength(1);
    expect(textOf(rows[0]!)).toBe(textOf(Y.mergeUpdates(updates)));
    expect(mostPerCall).toBeLessThanOrEqual(16);
  });
});
