import { sourceOf, type AwarenessSource, type DocumentAnswer, type DocumentLink, type DocumentSink } from "../cluster/backplane.ts";
import { REMOTE_ORIGIN, type LiveDocument } from "./live-document.ts";

/**
 * How long a loading document waits for the other holders' answers before it serves its clients with what
 * storage had (answers that come later are still applied and reach the clients as updates). A holder
 * answers at once; only a lost answer or a badly overloaded holder makes anyone wait this long.
 */
const ANSWER_TIMEOUT_MS = 5000;

/**
 * The other instances holding the same documents, through the backplane's document link. A document that
 * loads here subscribes to its channel before it reads storage, then asks the holders for what they have
 * beyond its state vector (updates not yet stored anywhere), so it starts with stored state merged with
 * every live instance's: Yjs merges, nobody's copy wins. From then on each change made here crosses once
 * (`relay`), and each change from elsewhere is applied with {@link REMOTE_ORIGIN}: fanned out to local
 * clients and written by this instance's writer too, so a holder that dies loses nothing the others hold.
 */
export class DocumentPeers implements DocumentSink {
  /** Documents held here, from the start of their load until they unload. */
  private readonly held = new Map<string, LiveDocument>();

  constructor(
    private readonly link: DocumentLink,
    private readonly report: (error: unknown) => void,
  ) {
    link.listen(this);
  }

  /** `doc` starts loading: hear its channel (resolves once subscribed, so nothing published later is missed). */
  attach(doc: LiveDocument): Promise<void> {
    this.held.set(doc.name, doc);
    doc.relay = (kind, data) => this.link.publish(doc.name, kind, data);
    return this.link.subscribe(doc.name);
  }

  /** After storage was read: merge in what the other holders have beyond it. */
  async catchUp(doc: LiveDocument): Promise<void> {
    await this.exchange(doc, false);
  }

  /** `doc` unloaded (or failed to load). */
  detach(doc: LiveDocument): void {
    if (this.held.get(doc.name) !== doc) return;
    this.held.delete(doc.name);
    doc.relay = undefined;
    this.link.unsubscribe(doc.name);
  }

  update(name: string, update: Uint8Array): void {
    this.held.get(name)?.apply(update, REMOTE_ORIGIN);
  }

  awareness(name: string, update: Uint8Array, source?: AwarenessSource): void {
    this.held.get(name)?.applyAwareness(update, REMOTE_ORIGIN, source);
  }

  answer(name: string, stateVector: Uint8Array): DocumentAnswer | undefined {
    const doc = this.held.get(name);
    if (!doc) return undefined;
    const awareness = doc.awarenessUpdate();
    return { update: doc.encodeState(stateVector), stateVector: doc.stateVector(), awareness, ownClients: doc.localAwarenessIds() };
  }

  remoteInstances(): Set<string> {
    const ids = new Set<string>();
    for (const doc of this.held.values()) for (const id of doc.remoteAwareness.instanceIds()) ids.add(id);
    return ids;
  }

  instancesDown(instanceIds: ReadonlySet<string>, checkedAt: number): void {
    for (const doc of this.held.values()) doc.instancesDown(instanceIds, checkedAt);
  }

  resync(): void {
    for (const doc of this.held.values()) void this.exchange(doc, true).catch(this.report);
  }

  /**
   * Ask the holders for their diffs and apply them; with `giveBack`, also send each holder's lack (after an
   * outage either side may have missed the other's changes; at load nothing here is news to them).
   */
  private async exchange(doc: LiveDocument, giveBack: boolean): Promise<void> {
    const answers = await this.link.fetch(doc.name, doc.stateVector(), ANSWER_TIMEOUT_MS);
    if (this.held.get(doc.name) !== doc) return;
    for (const answer of answers) {
      const { update, awareness } = answer;
      try {
        if (update.byteLength > 0) doc.apply(update, REMOTE_ORIGIN);
        if (awareness) doc.applyAwareness(awareness, REMOTE_ORIGIN, sourceOf(answer));
      } catch (error) {
        this.report(error);
      }
    }
    if (!giveBack) return;
    for (const { stateVector } of answers) {
      if (stateVector.byteLength > 0) this.link.publish(doc.name, "update", doc.encodeState(stateVector));
    }
  }
}
