import * as encoding from "lib0/encoding";
import type { DocumentStorage } from "../storage/document-storage.ts";
import type { DocumentWire } from "./document-wire.ts";
import { backgroundTimeout } from "../util/async.ts";
import { DocumentWriter } from "./document-writer.ts";
import { LiveDocument, type LiveDocumentHooks } from "./live-document.ts";
import type { DocumentMetrics } from "./document-metrics.ts";
import type { DocumentPeers } from "./document-peers.ts";

/** Why a document could not be opened; the socket side closes with 4503. */
export class DocumentUnavailable extends Error {
  constructor(
    message: string,
    readonly reason: "capacity" | "storage" | "closing",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Tries to store a leaving document's last updates before it is dropped with them. */
const UNLOAD_WRITE_TRIES = 3;

interface Entry {
  name: string;
  refs: number;
  loading: Promise<LiveDocument>;
  doc?: LiveDocument;
  timer?: ReturnType<typeof setTimeout>;
  gone?: boolean;
}

export interface RegistryDeps {
  storage: DocumentStorage;
  writeWindowMs: number;
  unloadAfterMs: number;
  maxDocuments: number;
  hooks: LiveDocumentHooks;
  metrics: DocumentMetrics;
  /** Other instances holding the same documents (a backplane with documents). */
  peers?: DocumentPeers;
  /** The runtime's direct frame writes, if it has them (documents.ts passes them to every session). */
  wire?: DocumentWire;
  /** `documents.fanoutDuty` (see live-document.ts). */
  fanoutDuty?: number;
  report(error: unknown): void;
}

/**
 * The documents loaded in this process: each loaded once however many clients open it at the same time,
 * and unloaded `unloadAfterMs` after its last client left, its pending writes flushed first. Every path
 * ends in one of the two: a failed load removes the entry and rejects every waiter; a client that leaves
 * while the load runs is counted out, and the document unloads once loaded if nobody is left.
 */
export class DocumentRegistry {
  private readonly entries = new Map<string, Entry>();
  private closing = false;

  constructor(private readonly deps: RegistryDeps) {}

  get size(): number {
    return this.entries.size;
  }

  /** The loaded document, if it is. */
  peek(name: string): LiveDocument | undefined {
    return this.entries.get(name)?.doc;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Open `name` for one more client; pair every successful call with one {@link release}. */
  async acquire(name: string): Promise<LiveDocument> {
    if (this.closing) throw new DocumentUnavailable("The server is shutting down", "closing");
    let entry = this.entries.get(name);
    if (!entry) {
      if (this.entries.size >= this.deps.maxDocuments) {
        throw new DocumentUnavailable(`${this.deps.maxDocuments} documents are loaded (documents.maxDocuments)`, "capacity");
      }
      entry = { name, refs: 0 } as Entry;
      entry.loading = this.load(entry);
      this.entries.set(name, entry);
    }
    entry.refs++;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    try {
      return await entry.loading;
    } catch (error) {
      entry.refs--;
      throw error;
    }
  }

  /** One client of `name` is done with it. */
  release(name: string): void {
    const entry = this.entries.get(name);
    if (!entry || entry.refs === 0) return;
    entry.refs--;
    if (entry.refs === 0 && entry.doc) this.scheduleUnload(entry);
  }

  /** Write every loaded document's pending updates. */
  async flushAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.doc?.writer?.flush()));
  }

  /** Flush and unload everything (shutdown); later acquires fail. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.entries.values()].map(async (entry) => {
        clearTimeout(entry.timer);
        await entry.loading.catch(() => {});
        await this.unload(entry, 1);
      }),
    );
  }

  private async load(entry: Entry): Promise<LiveDocument> {
    const { storage, metrics } = this.deps;
    const started = Date.now();
    const { peers } = this.deps;
    const doc = new LiveDocument(entry.name, this.deps.hooks, namePrefix(entry.name), {
      frame: this.deps.wire?.frame,
      duty: this.deps.fanoutDuty,
    });
    try {
      await peers?.attach(doc);
      const stored = await storage.load(entry.name);
      doc.load(stored.updates);
      const bytes = stored.updates.reduce((n, u) => n + u.byteLength, 0);
      doc.writer = new DocumentWriter(
        entry.name,
        {
          storage,
          windowMs: this.deps.writeWindowMs,
          encodeState: () => doc.encodeState(),
          report: this.deps.report,
          stored: (n, ms) => metrics.stored(n, ms),
        },
        { rows: stored.updates.length, bytes, through: stored.through },
      );
      await peers?.catchUp(doc);
    } catch (cause) {
      peers?.detach(doc);
      doc.destroy();
      if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
      entry.gone = true;
      this.deps.report(cause);
      throw new DocumentUnavailable("The document could not be loaded from storage", "storage", { cause });
    }
    metrics.loaded(Date.now() - started);
    entry.doc = doc;
    // Everyone who asked may have left while it loaded.
    queueMicrotask(() => {
      if (entry.refs === 0 && !entry.gone) this.scheduleUnload(entry);
    });
    return doc;
  }

  private scheduleUnload(entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = backgroundTimeout(() => {
      entry.timer = undefined;
      void this.unload(entry, UNLOAD_WRITE_TRIES);
    }, this.deps.unloadAfterMs);
  }

  private async unload(entry: Entry, tries: number): Promise<void> {
    const doc = entry.doc;
    if (!doc || entry.gone) return;
    const writer = doc.writer!;
    for (let attempt = 1; ; attempt++) {
      await writer.flush();
      if (writer.unsaved === 0 || attempt >= tries) break;
      await new Promise((resolve) => backgroundTimeout(() => resolve(undefined), this.deps.writeWindowMs * 2 ** attempt));
    }
    // A client came back while the writes ran: it keeps the document.
    if ((entry.refs > 0 && !this.closing) || entry.gone) return;
    if (writer.unsaved > 0) {
      this.deps.report(new Error(`Document unloaded with ${writer.unsaved} updates the storage did not take`));
    }
    entry.gone = true;
    clearTimeout(entry.timer);
    if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
    this.deps.peers?.detach(doc);
    doc.destroy();
    this.deps.metrics.unloaded();
  }
}

/** The Hocuspocus framing of a name: a varString. */
function namePrefix(name: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, name);
  return encoding.toUint8Array(encoder);
}
