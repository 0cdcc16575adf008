import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { DocumentMetrics } from "../../src/documents/document-metrics.ts";
import { DocumentRegistry, DocumentUnavailable } from "../../src/documents/document-registry.ts";
import { createInMemoryDocumentStorage, type DocumentStorage } from "../../src/storage/document-storage.ts";
import { until } from "../helpers/documents.ts";

function makeRegistry(storage: DocumentStorage, overrides: { maxDocuments?: number; unloadAfterMs?: number } = {}) {
  const errors: unknown[] = [];
  const registry = new DocumentRegistry({
    storage,
    writeWindowMs: 20,
    unloadAfterMs: overrides.unloadAfterMs ?? 30,
    maxDocuments: overrides.maxDocuments ?? 100,
    hooks: { changed() {} },
    metrics: new DocumentMetrics(),
    report: (error) => errors.push(error),
  });
  return { registry, errors };
}

/** The memory store with its loads counted and a gate to hold them. */
function gatedStorage(base = createInMemoryDocumentStorage()) {
  let open: () => void = () => {};
  let gate: Promise<void> = Promise.resolve();
  const counts = { loads: 0, appends: 0 };
  const storage: DocumentStorage = {
    ...base,
    async load(name) {
      counts.loads++;
      await gate;
      return base.load(name);
    },
    async append(name, update) {
      counts.appends++;
      return base.append(name, update);
    },
    compact: (...args) => base.compact(...args),
    list: () => base.list(),
    close: () => base.close(),
  };
  return {
    storage,
    counts,
    hold: () => (gate = new Promise((resolve) => (open = resolve))),
    release: () => open(),
  };
}

const type = (doc: Y.Doc, text: string) => doc.getText("t").insert(doc.getText("t").length, text);

describe("document registry", () => {
  it("loads a document once for clients that open it at the same time", async () => {
    const { storage, counts } = gatedStorage();
    const { registry } = makeRegistry(storage);
    const [a, b, c] = await Promise.all([registry.acquire("d"), registry.acquire("d"), registry.acquire("d")]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(counts.loads).toBe(1);
  });

  it("unloads after the last client left, its pending writes stored first", async () => {
    const base = createInMemoryDocumentStorage();
    const { registry } = makeRegistry(base, { unloadAfterMs: 10 });
    const doc = await registry.acquire("d");
    type(doc.doc, "kept");
    registry.release("d");
    await until(() => registry.size === 0, "the document to unload");
    const stored = await base.load("d");
    const copy = new Y.Doc();
    for (const u of stored.updates) Y.applyUpdate(copy, u);
    expect(copy.getText("t").toString()).toBe("kept");
  });

  it("unloads a document whose only client left while it loaded", async () => {
    const gated = gatedStorage();
    const { registry } = makeRegistry(gated.storage);
    gated.hold();
    const pending = registry.acquire("d");
    registry.release("d");
    gated.release();
    await pending;
    await until(() => registry.size === 0, "the document to unload after its load");
  });

  it("keeps a document a client reopens during the grace time", async () => {
    const { registry } = makeRegistry(createInMemoryDocumentStorage(), { unloadAfterMs: 50 });
    const first = await registry.acquire("d");
    registry.release("d");
    const again = await registry.acquire("d");
    expect(again).toBe(first);
    await new Promise((r) => setTimeout(r, 100));
    expect(registry.size).toBe(1);
  });

  it("rejects every waiter and forgets the document when the storage fails to load it, then loads it again", async () => {
    const base = createInMemoryDocumentStorage();
    let failing = true;
    const storage: DocumentStorage = {
      ...base,
      load: async (name) => {
        if (failing) throw new Error("database down");
        return base.load(name);
      },
      append: base.append,
      compact: base.compact,
      list: base.list,
      close: base.close,
    };
    const { registry, errors } = makeRegistry(storage);
    const results = await Promise.allSettled([registry.acquire("d"), registry.acquire("d")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(DocumentUnavailable);
    expect(registry.size).toBe(0);
    expect(errors).toHaveLength(1);
    failing = false;
    await registry.acquire("d");
    expect(registry.size).toBe(1);
  });

  it("still unloads, and reports the loss, when the storage refuses every write", async () => {
    const base = createInMemoryDocumentStorage();
    const storage: DocumentStorage = {
      ...base,
      load: base.load,
      append: async () => {
        throw new Error("disk full");
      },
      compact: base.compact,
      list: base.list,
      close: base.close,
    };
    const { registry, errors } = makeRegistry(storage, { unloadAfterMs: 5 });
    const doc = await registry.acquire("d");
    type(doc.doc, "lost");
    registry.release("d");
    await until(() => registry.size === 0, "the document to unload despite the storage", 15_000);
    expect(errors.some((e) => String(e).includes("did not take"))).toBe(true);
  });

  it("refuses a document past maxDocuments", async () => {
    const { registry } = makeRegistry(createInMemoryDocumentStorage(), { maxDocuments: 2 });
    await registry.acquire("a");
    await registry.acquire("b");
    await expect(registry.acquire("c")).rejects.toMatchObject({ reason: "capacity" });
    await registry.acquire("a");
  });

  it("keeps stored bytes within twice the encoded document plus the tail", async () => {
    const base = createInMemoryDocumentStorage();
    const { registry } = makeRegistry(base);
    const doc = await registry.acquire("d");
    for (let i = 0; i < 3000; i++) {
      type(doc.doc, `word${i} `);
      if (i % 7 === 0) doc.doc.getText("t").delete(0, 3);
      if (i % 50 === 0) await doc.writer!.flush();
    }
    await doc.writer!.flush();
    const encoded = Y.encodeStateAsUpdate(doc.doc).byteLength;
    const [info] = await base.list();
    expect(info!.bytes).toBeLessThanOrEqual(2 * encoded + 64 * 1024);
    const rows = (await base.load("d")).updates.length;
    expect(rows).toBeLessThanOrEqual(101);
  });
});
