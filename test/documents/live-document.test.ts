import { afterEach, describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import { FANOUT_DUTY, LiveDocument, MAX_HOLD_MS, REMOTE_ORIGIN, type DocumentSession } from "../../src/documents/live-document.ts";
import { resolveDocumentOptions } from "../../src/documents/options.ts";
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

  describe("pacing and frames", () => {
    afterEach(() => void vi.useRealTimers());

    /** Frames as a test wire writes them: each payload behind its length (one byte: they are short). */
    const testWire = (payloads: readonly Uint8Array[]) => Uint8Array.from(payloads.flatMap((p) => [p.length, ...p]));
    const unframe = (bytes: Uint8Array) => {
      const out: Uint8Array[] = [];
      for (let at = 0; at < bytes.length; at += 1 + bytes[at]!) out.push(bytes.subarray(at + 1, at + 1 + bytes[at]!));
      return out;
    };
    /** A session written to by frames: records each write and the updates in it. */
    function framed(onWrite = () => {}) {
      const session = recorder();
      const writes: Uint8Array[][] = [];
      return Object.assign(session, {
        writes,
        writeFrame(bytes: Uint8Array) {
          onWrite();
          const messages = unframe(bytes);
          writes.push(messages);
          for (const message of messages) session.sendRaw(message);
        },
      });
    }

    it("writes a batch to a framed session as one write of one frame per update, leaving out its own", async () => {
      const live = new LiveDocument("d", { changed() {} }, new Uint8Array([1, 100]), { frame: testWire });
      const [a, b, watcher] = [framed(), framed(), framed()];
      live.sessions.add(a).add(b).add(watcher);
      const [a1, b1, a2] = keystrokes(3);
      live.apply(a1!, a);
      live.apply(b1!, b);
      live.apply(a2!, a);
      await until(() => watcher.writes.length > 0, "the batch");
      expect(watcher.writes).toEqual([[expect.any(Uint8Array), expect.any(Uint8Array), expect.any(Uint8Array)]]);
      expect(a.writes).toHaveLength(1);
      expect(textOf(a.updates)).toBe(textOf([b1!]));
      expect(b.writes).toHaveLength(1);
      expect(textOf(b.updates)).toBe(textOf([a1!, a2!]));
      live.destroy();
    });

    it(`holds updates for ${FANOUT_DUTY}x as long as fan-outs take, then sends them together; quick fan-outs hold nothing`, () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate"] });
      let clock = 0;
      const cost = 1; // writing to the slow session takes this long on the document's clock
      expect(FANOUT_DUTY * cost).toBeLessThan(MAX_HOLD_MS);
      const slow = framed(() => void (clock += cost));
      const live = new LiveDocument("d", { changed() {} }, new Uint8Array([1, 100]), { frame: testWire, now: () => clock });
      const sender = framed();
      live.sessions.add(sender).add(slow);
      const [first, second, third, fourth] = keystrokes(4);
      live.apply(first!, sender);
      vi.advanceTimersByTime(0);
      expect(slow.writes).toHaveLength(1); // an idle document: the end of the turn
      // The fan-out took `cost`: nothing more goes out until FANOUT_DUTY × cost after it started.
      live.apply(second!, sender);
      vi.advanceTimersByTime(0);
      live.apply(third!, sender);
      vi.advanceTimersByTime(FANOUT_DUTY * cost - cost - 1);
      expect(slow.writes).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(slow.writes).toHaveLength(2);
      expect(slow.writes[1]).toHaveLength(2); // second and third, one frame each, one write
      // Once its fan-outs take no time (the average falls), a document sends each turn's updates at its end.
      live.sessions.delete(slow);
      for (let i = 0; i < 40; i++) {
        clock += MAX_HOLD_MS;
        live.apply(keystrokes(1)[0]!, slow);
        vi.advanceTimersByTime(MAX_HOLD_MS);
      }
      const before = sender.writes.length;
      live.apply(fourth!, slow);
      vi.advanceTimersByTime(0);
      expect(sender.writes).toHaveLength(before + 1);
      live.apply(keystrokes(1)[0]!, slow);
      vi.advanceTimersByTime(0);
      expect(sender.writes).toHaveLength(before + 2);
      live.destroy();
    });
  });

  it("takes documents.fanoutDuty of at least 1, defaulting to FANOUT_DUTY", () => {
    expect(resolveDocumentOptions({}, "/live")!.fanoutDuty).toBe(FANOUT_DUTY);
    expect(resolveDocumentOptions({ fanoutDuty: 1 }, "/live")!.fanoutDuty).toBe(1);
    expect(() => resolveDocumentOptions({ fanoutDuty: 0.5 }, "/live")).toThrow(/fanoutDuty must be at least 1/);
    expect(() => resolveDocumentOptions({ fanoutDuty: Number.NaN }, "/live")).toThrow(/fanoutDuty/);
  });
});
