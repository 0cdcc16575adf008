import * as Y from "yjs";
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from "y-protocols/awareness";
import { backgroundTimeout, nextTurn } from "../util/async.ts";
import type { DocumentWriter } from "./document-writer.ts";
import type { AwarenessSource } from "../cluster/backplane.ts";
import { RemoteAwareness } from "./remote-awareness.ts";
import { encodeAwareness } from "./sync-messages.ts";
import { concat, FanoutBatch } from "./fanout-batch.ts";
import { mergeAll } from "./update-merger.ts";
import type { DocumentWire } from "./document-wire.ts";

/** One client's view of one document: how it may act and how frames reach it. */
export interface DocumentSession {
  readonly access: "write" | "read";
  /** Awareness client ids this session set, removed for the others when it leaves. */
  readonly awarenessIds: Set<number>;
  /**
   * Hocuspocus sessions: their encoded address (the document name, or name\0session id), which goes
   * before every frame. A session whose address is the document's {@link LiveDocument.prefix} shares one
   * prefixed frame per broadcast with the others.
   */
  readonly prefix?: Uint8Array;
  /** Send bytes as they are: a y-websocket frame, or for a session with a prefix, the prefixed frame. */
  sendRaw(bytes: Uint8Array): void;
  /**
   * Write a complete WebSocket frame (built by the document's {@link LiveDocument.frame}) to the socket:
   * set where the runtime offers a {@link DocumentWire}, so a broadcast is framed once for all its sockets.
   */
  writeFrame?(frame: Uint8Array): void;
}

/**
 * A document's update fan-outs take at most 1/FANOUT_DUTY of the time: with `d` ms what its fan-outs take
 * (writing to every socket; a running average, so that one GC pause does not hold the next for long), the
 * next one waits until `FANOUT_DUTY × d` after the last started (at most {@link MAX_HOLD_MS}), and what
 * arrives meanwhile goes out together then. A document whose last fan-out is that long ago sends at the end of
 * the turn that applied the update. So the added latency follows the cost of a fan-out: next to nothing
 * for a handful of sockets or an idle server, more where a fan-out is dear (many sockets, a busy CPU), and
 * the frames per update fall exactly when writing them is what the server is short of. Measured in
 * bench/README.md, "Documents".
 */
export const FANOUT_DUTY = 4;
/** The longest a document holds updates however long its fan-outs take (a busy machine, a huge document). */
export const MAX_HOLD_MS = 10;

/** How a document fans out: the runtime's framing, {@link FANOUT_DUTY} (`documents.fanoutDuty`), its clock (tests). */
export interface FanoutSettings {
  frame?: DocumentWire["frame"];
  duty?: number;
  now?: () => number;
}

/** The origin of changes that came from another instance: applied and fanned out here, never sent back. */
export const REMOTE_ORIGIN = Symbol("openlivesync.remote-document-change");

/** Sends this instance's changes to the other instances holding the document (see document-peers.ts). */
export type DocumentRelay = (kind: "update" | "awareness", data: Uint8Array) => void;

export interface LiveDocumentHooks {
  /** An update changed the document (after it was applied), from a session or from the server side. */
  changed(doc: LiveDocument, update: Uint8Array, origin: unknown): void;
}

/**
 * A loaded document: the Yjs doc, the awareness of its clients, and the sessions it fans out to. Every
 * change, whoever made it, goes to the other sessions once (one frame built per change) and to the writer.
 */
export class LiveDocument {
  readonly doc = new Y.Doc({ gc: true });
  readonly awareness: Awareness;
  /** Which other instance set each remote awareness state (removed here when that instance dies). */
  readonly remoteAwareness: RemoteAwareness;
  readonly sessions = new Set<DocumentSession>();
  writer: DocumentWriter | undefined;
  /** Set while other instances may hold the document too (a backplane with documents). */
  relay: DocumentRelay | undefined;
  /** Updates applied since the last fan-out, sent at the end of the turn or when {@link FANOUT_DUTY} allows. */
  private readonly batch = new FanoutBatch();
  private scheduled = false;
  /** `performance.now()` before which no update fan-out starts (see {@link FANOUT_DUTY}). */
  private nextFanout = 0;
  private destroyed = false;
  /** Frames broadcasts once for the sessions with a `writeFrame` (the runtime's {@link DocumentWire}). */
  private readonly frame: DocumentWire["frame"] | undefined;
  private readonly duty: number;
  private readonly now: () => number;
  /** Running average of this document's fan-out durations (ms); undefined before the first. */
  private fanoutMs: number | undefined;
  /** Encoded size when last measured, and bytes applied since: together an upper bound for the size check. */
  private measured = 0;
  private sinceMeasured = 0;
  /** Set while an awareness update from another instance is applied: who set its states. */
  private source: AwarenessSource | undefined;

  constructor(
    readonly name: string,
    hooks: LiveDocumentHooks,
    /** The name as Hocuspocus frames carry it (a varString). */
    readonly prefix: Uint8Array,
    fanout: FanoutSettings = {},
  ) {
    this.frame = fanout.frame;
    this.duty = fanout.duty ?? FANOUT_DUTY;
    this.now = fanout.now ?? (() => performance.now());
    this.awareness = new Awareness(this.doc);
    this.awareness.setLocalState(null);
    this.remoteAwareness = new RemoteAwareness(this.awareness);
    this.doc.on("update", (update: Uint8Array, origin: unknown) => {
      this.sinceMeasured += update.byteLength;
      this.queue(update, origin);
      if (origin !== REMOTE_ORIGIN) this.relay?.("update", update);
      this.writer?.add(update);
      hooks.changed(this, update, origin);
    });
    this.awareness.on("update", ({ added, updated, removed }: Record<string, number[]>, origin: unknown) => {
      this.remoteAwareness.forget(removed!);
      const source = this.source;
      if (origin === REMOTE_ORIGIN && source && !source.clientIds) {
        this.remoteAwareness.own(source.instanceId, added!);
        this.remoteAwareness.own(source.instanceId, updated!);
      }
      const session = origin as DocumentSession | undefined;
      if (!session || !this.sessions.has(session)) return;
      for (const id of added!) session.awarenessIds.add(id);
      for (const id of updated!) session.awarenessIds.add(id);
      for (const id of removed!) session.awarenessIds.delete(id);
      this.remoteAwareness.forget(added!);
      this.remoteAwareness.forget(updated!);
    });
  }

  private queue(update: Uint8Array, origin: unknown): void {
    this.batch.add(update, origin);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.nextFanout - this.now();
    // Timers have millisecond steps: a shorter hold is the end of the turn.
    if (wait >= 1) backgroundTimeout(this.flush, wait);
    else nextTurn(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.destroyed || this.batch.size === 0) return;
    const start = this.now();
    this.batch.send(this.sessions, this.prefix, this.frame);
    const took = this.now() - start;
    const average = this.fanoutMs === undefined ? took : this.fanoutMs + (took - this.fanoutMs) / 4;
    this.fanoutMs = average;
    this.nextFanout = start + Math.min(this.duty * average, MAX_HOLD_MS);
  };

  /** Load stored rows (merged into one update first: one integration instead of one per row). */
  load(updates: Uint8Array[]): void {
    if (updates.length === 0) return;
    const merged = mergeAll(updates);
    Y.applyUpdate(this.doc, merged, this);
    this.measured = merged.byteLength;
    this.sinceMeasured = 0;
  }

  /** The whole state as one update (a snapshot, or sync step 2 for an empty state vector). */
  encodeState(stateVector?: Uint8Array): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc, stateVector);
  }

  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  /** Whether applying `bytes` more could take the document past `max` (measured only near the bound). */
  wouldExceed(bytes: number, max: number): boolean {
    if (this.measured + this.sinceMeasured + bytes <= max) return false;
    this.measured = Y.encodeStateAsUpdate(this.doc).byteLength;
    this.sinceMeasured = 0;
    return this.measured + bytes > max;
  }

  /** Apply an update checked by the caller; `origin` (a session) does not get it back. */
  apply(update: Uint8Array, origin: unknown): void {
    Y.applyUpdate(this.doc, update, origin);
  }

  /**
   * An awareness update from a session here, or (`REMOTE_ORIGIN`) from another instance: `source` says
   * which, so its clients' states go when it dies.
   */
  applyAwareness(update: Uint8Array, origin: DocumentSession | typeof REMOTE_ORIGIN, source?: AwarenessSource): void {
    this.source = source;
    try {
      applyAwarenessUpdate(this.awareness, update, origin);
    } finally {
      this.source = undefined;
    }
    if (source?.clientIds)
      this.remoteAwareness.own(
        source.instanceId,
        source.clientIds.filter((id) => this.awareness.states.has(id)),
      );
    this.broadcast(encodeAwareness(update), origin);
    if (origin !== REMOTE_ORIGIN) this.relay?.("awareness", update);
  }

  /**
   * A session sent states for `ids`. One that was removed here (its client's old connection left, or that
   * connection's instance died) and comes back at the clock it had, as a reconnecting client re-sends it,
   * is not newer to y-protocols and stays hidden until the client's next change or renewal (15 s). The
   * returned frame, that removal again, makes such a client bump its clock and send its state at once; a
   * client that only echoed another's stale state drops it. Undefined when every state is known.
   */
  removedAwareness(ids: number[]): Uint8Array | undefined {
    const removed = ids.filter((id) => !this.awareness.states.has(id) && this.awareness.meta.has(id));
    return removed.length > 0 ? encodeAwareness(encodeAwarenessUpdate(this.awareness, removed)) : undefined;
  }

  /** The awareness client ids this instance's sessions set. */
  localAwarenessIds(): number[] {
    const ids: number[] = [];
    for (const session of this.sessions) ids.push(...session.awarenessIds);
    return ids;
  }

  /** Instances died: their clients' awareness states are removed, and this instance's clients told. */
  instancesDown(dead: ReadonlySet<string>, checkedAt: number): void {
    const removal = this.remoteAwareness.drop(dead, checkedAt);
    if (removal) this.broadcast(encodeAwareness(removal), undefined);
  }

  /** Every known awareness state as one awareness update, if any. */
  awarenessUpdate(): Uint8Array | undefined {
    const ids = [...this.awareness.getStates().keys()];
    return ids.length === 0 ? undefined : encodeAwarenessUpdate(this.awareness, ids);
  }

  /** Every known awareness state, as one message (for a joiner and for query-awareness). */
  awarenessFrame(): Uint8Array | undefined {
    const update = this.awarenessUpdate();
    return update && encodeAwareness(update);
  }

  /** A session leaves: its awareness states are removed for the others. */
  leave(session: DocumentSession): void {
    if (!this.sessions.delete(session)) return;
    if (session.awarenessIds.size === 0) return;
    const ids = [...session.awarenessIds];
    session.awarenessIds.clear();
    removeAwarenessStates(this.awareness, ids, null);
    // Encoded after the removal: bumped clocks and null states, which is how the others learn of it.
    const removal = encodeAwarenessUpdate(this.awareness, ids);
    this.broadcast(encodeAwareness(removal), session);
    this.relay?.("awareness", removal);
  }

  /**
   * `frame` to every session but `except`: built once (and once prefixed with the document's name for the
   * Hocuspocus sessions that share it), framed once for the sessions the runtime lets us write frames to.
   */
  broadcast(frame: Uint8Array, except: unknown): void {
    let prefixed: Uint8Array | undefined;
    let framed: Uint8Array | undefined;
    let framedPrefixed: Uint8Array | undefined;
    const wire = this.frame && ((payload: Uint8Array) => this.frame!([payload]));
    for (const session of this.sessions) {
      if (session === except) continue;
      const prefix = session.prefix;
      const write = wire && session.writeFrame;
      if (prefix === undefined) {
        if (write) session.writeFrame!((framed ??= wire(frame)));
        else session.sendRaw(frame);
      } else if (prefix === this.prefix) {
        prefixed ??= concat(prefix, frame);
        if (write) session.writeFrame!((framedPrefixed ??= wire(prefixed)));
        else session.sendRaw(prefixed);
      } else session.sendRaw(concat(prefix, frame));
    }
  }

  destroy(): void {
    this.destroyed = true;
    this.awareness.destroy();
    this.doc.destroy();
  }
}
