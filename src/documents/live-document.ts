import * as Y from "yjs";
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from "y-protocols/awareness";
import { backgroundTimeout, nextTurn } from "../util/async.ts";
import type { DocumentWriter } from "./document-writer.ts";
import type { AwarenessSource } from "../cluster/backplane.ts";
import { RemoteAwareness } from "./remote-awareness.ts";
import { encodeAwareness, encodeUpdate } from "./sync-messages.ts";

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
}

/**
 * A busy document fans out at most one update frame per this interval: updates arriving faster are merged
 * (Y.mergeUpdates) into the next frame, so 50 editors typing at 10 Hz cost each socket about 100 writes a
 * second instead of 490, for at most this much added latency; a quiet document's update goes out at the
 * end of the turn that applied it. Measured in bench/README.md, "Documents".
 */
const FANOUT_INTERVAL_MS = 10;

/** A turn's updates came from several origins. */
const MIXED = Symbol("openlivesync.mixed-origins");

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
  /**
   * Updates applied since the last fan-out, sent merged as one frame per session: at the end of the turn,
   * or when the last fan-out was less than {@link FANOUT_INTERVAL_MS} ago, that long after it. `origin` is
   * the one origin they all had, else {@link MIXED}: then every session gets the frame, its own changes
   * included (Yjs ignores what it has).
   */
  private turn: { updates: Uint8Array[]; origin: unknown } | undefined;
  private lastFanout = 0;
  private destroyed = false;
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
  ) {
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
    const turn = this.turn;
    if (!turn) {
      this.turn = { updates: [update], origin };
      const wait = this.lastFanout + FANOUT_INTERVAL_MS - performance.now();
      if (wait > 0) backgroundTimeout(this.flushTurn, wait);
      else nextTurn(this.flushTurn);
      return;
    }
    turn.updates.push(update);
    if (turn.origin !== origin) turn.origin = MIXED;
  }

  private readonly flushTurn = (): void => {
    const turn = this.turn;
    this.turn = undefined;
    if (!turn || this.destroyed) return;
    this.lastFanout = performance.now();
    const { updates } = turn;
    this.broadcast(encodeUpdate(updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates)), turn.origin);
  };

  /** Load stored rows (merged into one update first: one integration instead of one per row). */
  load(updates: Uint8Array[]): void {
    if (updates.length === 0) return;
    const merged = updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates);
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

  broadcast(frame: Uint8Array, except: unknown): void {
    let prefixed: Uint8Array | undefined;
    for (const session of this.sessions) {
      if (session === except) continue;
      const prefix = session.prefix;
      if (prefix === undefined) session.sendRaw(frame);
      else if (prefix === this.prefix) session.sendRaw((prefixed ??= concat(prefix, frame)));
      else session.sendRaw(concat(prefix, frame));
    }
  }

  destroy(): void {
    this.destroyed = true;
    this.awareness.destroy();
    this.doc.destroy();
  }
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
