/**
 * `document.updated`: at most one event per document per window. The first change of a document arms
 * the window; changes inside it only count; when it ends, one event goes out with the document's state
 * vector at that moment (so the receiver learns the newest state, not the first). A change after that
 * arms a new window: two events of one document are always at least `windowMs` apart.
 */
import { backgroundTimeout } from "../util/async.ts";
import { toBase64 } from "../util/base64.ts";

/** The `data` of a `document.updated` event. */
export interface DocumentUpdatedData {
  /** The document name. */
  name: string;
  /** Its Yjs state vector when the event was made, base64 (`Y.encodeStateVector`). */
  stateVector: string;
  /** Updates applied to it since its previous event (from clients and the server API). */
  updates: number;
}

interface Pending {
  timer: ReturnType<typeof setTimeout>;
  updates: number;
  stateVector: () => Uint8Array;
}

export class DocumentUpdateDebounce {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly windowMs: number,
    private readonly emit: (name: string, data: DocumentUpdatedData) => void,
  ) {}

  /** `name` changed; `stateVector` reads its state vector when the window ends. */
  changed(name: string, stateVector: () => Uint8Array): void {
    const entry = this.pending.get(name);
    if (entry) {
      entry.updates++;
      entry.stateVector = stateVector;
      return;
    }
    const timer = backgroundTimeout(() => this.fire(name), this.windowMs);
    this.pending.set(name, { timer, updates: 1, stateVector });
  }

  /** Sends every pending event now (shutdown: the server will not be there when the windows end). */
  flush(): void {
    for (const name of [...this.pending.keys()]) this.fire(name);
  }

  private fire(name: string): void {
    const entry = this.pending.get(name);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(name);
    this.emit(name, { name, stateVector: toBase64(entry.stateVector()), updates: entry.updates });
  }
}

/** A loaded document's change listener that feeds `changed`, skipping the load itself (applied with the document as origin). */
export function documentChangeListener(changed: (name: string, stateVector: () => Uint8Array) => void) {
  return (doc: { readonly name: string; stateVector(): Uint8Array }, _update: Uint8Array, origin: unknown): void => {
    if (origin !== doc) changed(doc.name, () => doc.stateVector());
  };
}
