import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import { LiveDocument, REMOTE_ORIGIN, type DocumentSession } from "../../src/documents/live-document.ts";
import { until } from "../helpers/documents.ts";

/** A session that records the updates it is sent (y-websocket frames: sync, update, payload). */
function recorder(): DocumentSession & { updates: Uint8Array[] } {
  const updates: Uint8Array[] = [];
  return {
    access: "write",
    awarenessIds: new Set(),
    updates,
    sendRaw(frame) {
      const d = decoding.createDecoder(frame);
      if (decoding.readVarUint(d) === 0 && decoding.readVarUint(d) === 2) updates.push(decoding.readVarUint8Array(d));
    },
  };
}

/** `count` one-character inserts, each its own update from its own client. */
const keystrokes = (count: number) =>
  Array.from({ length: count }, (_, i) => {
    const doc = new Y.Doc();
    doc.getText("t").insert(0, String.fromCharCode(97 + i));
    return Y.encodeStateAsUpdate(doc);
  });

function textOf(updates: Uint8Array[]): string {
  const doc = new Y.Doc();
  for (const update of updates) Y.applyUpdate(doc, update);
  return doc.getText("t").toString();
}

describe("LiveDocument fan-out", () => {
  it("sends the updates applied in one turn as one merged frame, and not back to their one sender", async () => {
    const live = new LiveDocument("d", { changed() {} }, new Uint8Array([1, 100]));
    const [sender, other] = [recorder(), recorder()];
    live.sessions.add(sender).add(other);
    for (const update of keystrokes(8)) live.apply(update, sender);
    expect(other.updates).toHaveLength(0);
    await until(() => other.updates.length > 0, "the merged frame");
    expect(other.updates).toHaveLength(1);
    expect(textOf(other.updates).length).toBe(8);
    expect(sender.updates).toHaveLength(0);
    live.destroy();
  });

  it("sends a turn of several senders' updates to every session, and a busy document's next updates after it", async () => {
    const live = new LiveDocument("d", { changed() {} }, new Uint8Array([1, 100]));
    const [a, b, watcher] = [recorder(), recorder(), recorder()];
    live.sessions.add(a).add(b).add(watcher);
    const [fromA, fromB, remote, later] = keystrokes(4);
    live.apply(fromA!, a);
    live.apply(fromB!, b);
    live.apply(remote!, REMOTE_ORIGIN);
    await until(() => watcher.updates.length === 1, "the first frame");
    expect(textOf(a.updates)).toBe(textOf(watcher.updates));
    expect(textOf(b.updates).length).toBe(3);
    live.apply(later!, a);
    await until(() => watcher.updates.length === 2, "the next frame");
    expect(textOf(watcher.updates).length).toBe(4);
    live.destroy();
  });
});
