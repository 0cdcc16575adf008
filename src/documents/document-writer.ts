import type { DocumentStorage } from "../storage/document-storage.ts";
import { backgroundTimeout } from "../util/async.ts";
import { UpdateMerger } from "./update-merger.ts";

/** Below this many tail bytes a snapshot is not worth writing, whatever the row count. */
const MIN_COMPACT_BYTES = 64 * 1024;
/** Tail rows that trigger a snapshot, so a load reads few rows. */
const COMPACT_ROWS = 100;

export interface WriterDeps {
  storage: DocumentStorage;
  windowMs: number;
  /** The document's whole state, for a snapshot. */
  encodeState(): Uint8Array;
  report(error: unknown): void;
  /** Called after each write with its bytes and duration (metrics). */
  stored?(bytes: number, ms: number): void;
}

/**
 * One document's writes: updates collect for `windowMs` and go out merged as one row (the store then
 * batches rows of many documents into one INSERT); writes of one document run one after another. When the
 * tail grows past the last snapshot's size (or {@link COMPACT_ROWS} rows) a new snapshot replaces it, so
 * stored bytes stay within the encoded document plus the tail. A failed write keeps its updates for the next.
 */
export class DocumentWriter {
  /** Updates not yet handed to the store, merged as they come (see update-merger.ts). */
  private readonly pending = new UpdateMerger();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private tailRows: number;
  private tailBytes: number;
  private snapshotBytes: number;

  constructor(
    private readonly name: string,
    private readonly deps: WriterDeps,
    loaded: { rows: number; bytes: number; through: number },
    private through = loaded.through,
  ) {
    // A loaded document with more than one row is compacted with its first write.
    this.tailRows = loaded.rows > 1 ? COMPACT_ROWS : 0;
    this.tailBytes = loaded.rows > 1 ? loaded.bytes : 0;
    this.snapshotBytes = loaded.rows === 1 ? loaded.bytes : 0;
  }

  /** Updates not yet handed to the store. */
  get unsaved(): number {
    return this.pending.size;
  }

  add(update: Uint8Array): void {
    this.pending.add(update);
    this.timer ??= backgroundTimeout(() => void this.flush(), this.deps.windowMs);
  }

  /** Write what is pending now; resolves when it (and every earlier write) is stored or has failed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.take();
    if (!batch) return this.chain;
    this.chain = this.chain.then(() => this.write(batch.update, batch.count));
    return this.chain;
  }

  /** `update` is `count` updates merged. */
  private async write(update: Uint8Array, count: number): Promise<void> {
    const started = Date.now();
    try {
      await this.deps.storage.append(this.name, update);
    } catch (error) {
      this.pending.add(update, count);
      this.deps.report(error);
      return;
    }
    this.deps.stored?.(update.byteLength, Date.now() - started);
    this.tailRows++;
    this.tailBytes += update.byteLength;
    if (this.tailRows >= COMPACT_ROWS || this.tailBytes >= Math.max(MIN_COMPACT_BYTES, this.snapshotBytes)) await this.compact();
  }

  private async compact(): Promise<void> {
    const snapshot = this.deps.encodeState();
    try {
      await this.deps.storage.compact(this.name, snapshot, this.through);
    } catch (error) {
      this.deps.report(error);
      return;
    }
    this.tailRows = 0;
    this.tailBytes = 0;
    this.snapshotBytes = snapshot.byteLength;
  }
}
