import type { DocumentWire } from "./document-wire.ts";
import { encodeUpdate } from "./sync-messages.ts";
import { mergeAll } from "./update-merger.ts";

/** What a batch needs of a session (see {@link DocumentSession} in live-document.ts). */
export interface BatchSession {
  readonly prefix?: Uint8Array;
  sendRaw(bytes: Uint8Array): void;
  writeFrame?(frame: Uint8Array): void;
}

/** A batch's updates in one framing: each update's message, and their frames back to back. */
interface Framed {
  all: Uint8Array;
  payloads: Uint8Array[];
}

/**
 * The updates a document applied since its last fan-out, each with its origin, and how they reach each
 * session:
 * - A session the runtime writes frames to ({@link DocumentWire}) gets every update as its own sync
 *   message, all in one write (one syscall, and no `Y.mergeUpdates`): the frames are built once per batch,
 *   and a session whose own updates are in it gets the others' frames only.
 * - Any other session gets the batch merged into one update message, built once (`mergeAll`):
 *   all but its one sender when the batch has one origin; everyone, senders included, when it has several
 *   (Yjs ignores what a client already has).
 * A Hocuspocus session whose address is the document's name shares the name-prefixed framing; one with
 * a session address of its own gets the merged message behind its address.
 */
export class FanoutBatch {
  private updates: Uint8Array[] = [];
  private origins: unknown[] = [];

  get size(): number {
    return this.updates.length;
  }

  add(update: Uint8Array, origin: unknown): void {
    this.updates.push(update);
    this.origins.push(origin);
  }

  /** Send the batch to `sessions` and start a new one. `docPrefix` is the document's own address. */
  send(sessions: Iterable<BatchSession>, docPrefix: Uint8Array, wire: DocumentWire["frame"] | undefined): void {
    const { updates, origins } = this;
    if (updates.length === 0) return;
    this.updates = [];
    this.origins = [];
    const senders = new Set(origins);
    const sole = senders.size === 1 ? origins[0] : undefined;
    let plain: Framed | undefined;
    let named: Framed | undefined;
    let merged: Uint8Array | undefined;
    let mergedNamed: Uint8Array | undefined;
    for (const session of sessions) {
      const prefix = session.prefix;
      if (wire && session.writeFrame && (prefix === undefined || prefix === docPrefix)) {
        const framed = prefix === undefined ? (plain ??= frameAll(updates, undefined, wire)) : (named ??= frameAll(updates, prefix, wire));
        if (!senders.has(session)) session.writeFrame(framed.all);
        else if (session !== sole) session.writeFrame(wire(framed.payloads.filter((_, i) => origins[i] !== session)));
        continue;
      }
      if (session === sole) continue;
      merged ??= encodeUpdate(mergeAll(updates));
      if (prefix === undefined) session.sendRaw(merged);
      else if (prefix === docPrefix) session.sendRaw((mergedNamed ??= concat(prefix, merged)));
      else session.sendRaw(concat(prefix, merged));
    }
  }
}

function frameAll(updates: Uint8Array[], prefix: Uint8Array | undefined, wire: DocumentWire["frame"]): Framed {
  const payloads = updates.map((update) => (prefix ? concat(prefix, encodeUpdate(update)) : encodeUpdate(update)));
  return { all: wire(payloads), payloads };
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
