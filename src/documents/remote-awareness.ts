import { type Awareness, encodeAwarenessUpdate, removeAwarenessStates } from "y-protocols/awareness";

/**
 * The other instances' clients among a document's awareness states, by client id: when the backplane finds
 * an instance dead (its liveness check, `ttlMs` + `heartbeatMs` at most), that instance's clients' states
 * are removed here and the removal goes to this instance's clients, instead of lingering until y-protocols'
 * 30 s outdated timeout. Like rooms' remote members, a state first seen after the check began is kept.
 */
export class RemoteAwareness {
  private readonly owners = new Map<number, { instanceId: string; since: number }>();

  constructor(private readonly awareness: Awareness) {}

  /** `ids` are states `instanceId`'s clients set. */
  own(instanceId: string, ids: Iterable<number>): void {
    const since = Date.now();
    for (const id of ids) {
      if (this.owners.get(id)?.instanceId !== instanceId) this.owners.set(id, { instanceId, since });
    }
  }

  /** `ids` were removed, or are set by a client of this instance. */
  forget(ids: Iterable<number>): void {
    for (const id of ids) this.owners.delete(id);
  }

  /** The instances whose clients' states are shown. */
  instanceIds(): Set<string> {
    const ids = new Set<string>();
    for (const { instanceId } of this.owners.values()) ids.add(instanceId);
    return ids;
  }

  /**
   * Remove the states of `dead` instances' clients seen before `checkedAt`; returns the removal as an
   * awareness update (null states at their clocks, how clients learn of it), or undefined when none.
   */
  drop(dead: ReadonlySet<string>, checkedAt: number): Uint8Array | undefined {
    const ids: number[] = [];
    for (const [id, { instanceId, since }] of this.owners) {
      if (dead.has(instanceId) && since < checkedAt) ids.push(id);
    }
    this.forget(ids);
    const present = ids.filter((id) => this.awareness.states.has(id));
    if (present.length === 0) return undefined;
    removeAwarenessStates(this.awareness, present, null);
    return encodeAwarenessUpdate(this.awareness, present);
  }
}
