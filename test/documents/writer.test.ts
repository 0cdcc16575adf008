/**
 * The group commit behind "a crash loses at most the last write window": every update is handed to the
 * store at most `windowMs` after it was applied, a window's updates as one row, on a fake clock.
 */
import * as Y from "yjs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DocumentWriter } from "../../src/documents/document-writer.ts";
import { createInMemoryDocumentStorage } from "../../src/storage/document-storage.ts";
import { textUpdate } from "../helpers/documents.ts";

const WINDOW_MS = 500;

function textOf(updates: Uint8Array[]): string {
  const doc = new Y.Doc();
  for (const update of updates) Y.applyUpdate(doc, update);
  return doc.getText("t").toString();
}

describe("document writer (group commit)", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("hands each update to the store at most one window after it was applied, a window's updates as one row", async () => {
    const storage = createInMemoryDocumentStorage();
    const appended: Uint8Array[] = [];
    const append = storage.append.bind(storage);
    storage.append = (name, update) => (appended.push(update), append(name, update));
    const writer = new DocumentWriter(
      "d",
      { storage, windowMs: WINDOW_MS, encodeState: () => new Uint8Array([0, 0]), report: (e) => void e },
      { rows: 0, bytes: 0, through: 0 },
    );
    // Keystrokes through one window: none is written before the window ends, all together at its end.
    writer.add(textUpdate("a"));
    await vi.advanceTimersByTimeAsync(WINDOW_MS - 1);
    writer.add(textUpdate("b"));
    expect(appended).toHaveLength(0);
    expect(writer.unsaved).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(appended).toHaveLength(1);
    expect(writer.unsaved).toBe(0);
    // The next keystroke opens the next window.
    writer.add(textUpdate("c"));
    await vi.advanceTimersByTimeAsync(WINDOW_MS - 1);
    expect(appended).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(appended).toHaveLength(2);
    const { updates } = await storage.load("d");
    expect(textOf(updates).split("").sort().join("")).toBe("abc");
  });
});
