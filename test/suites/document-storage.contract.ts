/**
 * The DocumentStorage contract, run against every store by test/documents/storage-*.test.ts. A store gets
 * a fresh table per `make(tableName)`; `shared` stores can open the same table twice, as two instances do.
 */
import { afterAll, describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { DocumentStorage } from "../../src/storage/document-storage.ts";

export interface DocumentStorageTarget {
  make(tableName: string): Promise<DocumentStorage>;
  /** Two `make` calls with one table name see the same rows. */
  shared: boolean;
  dropTable?(tableName: string): Promise<void>;
}

const textOf = (updates: Uint8Array[]) => {
  const doc = new Y.Doc();
  for (const u of updates) Y.applyUpdate(doc, u);
  return doc.getText("t").toString();
};

/** A doc and the updates it produced, one per edit. */
function typing(edits: string[]): { doc: Y.Doc; updates: Uint8Array[] } {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on("update", (u: Uint8Array) => updates.push(u));
  for (const e of edits) doc.getText("t").insert(doc.getText("t").length, e);
  return { doc, updates };
}

export function documentStorageContract(label: string, target: DocumentStorageTarget): void {
  describe(`document storage contract (${label})`, () => {
    const tables: string[] = [];
    const opened: DocumentStorage[] = [];
    const open = async (table?: string) => {
      const name = table ?? `ols_docs_${Math.random().toString(36).slice(2, 10)}`;
      if (!tables.includes(name)) tables.push(name);
      const storage = await target.make(name);
      opened.push(storage);
      return { storage, table: name };
    };
    afterAll(async () => {
      for (const s of opened) await s.close().catch(() => {});
      for (const t of tables) await target.dropTable?.(t);
    });

    it("loads an unknown document as no updates", async () => {
      const { storage } = await open();
      expect(await storage.load("nothing-here")).toEqual({ updates: [], through: 0 });
    });

    it("gives back every appended update, byte for byte, per document", async () => {
      const { storage } = await open();
      const { updates } = typing(["a", "b", "c"]);
      const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
      await Promise.all([...updates.map((u) => storage.append("doc-1", u)), storage.append("doc-2", binary)]);
      const loaded = await storage.load("doc-1");
      expect(loaded.updates).toHaveLength(3);
      expect(textOf(loaded.updates)).toBe("abc");
      expect(loaded.through).toBeGreaterThan(0);
      const other = await storage.load("doc-2");
      expect(other.updates).toHaveLength(1);
      expect([...other.updates[0]!]).toEqual([...binary]);
    });

    it("replaces the rows a snapshot holds with the snapshot", async () => {
      const { storage } = await open();
      const { doc, updates } = typing(["one ", "two ", "three"]);
      for (const u of updates) await storage.append("d", u);
      const { through } = await storage.load("d");
      await storage.compact("d", Y.encodeStateAsUpdate(doc), through);
      const after = await storage.load("d");
      expect(after.updates).toHaveLength(1);
      expect(textOf(after.updates)).toBe("one two three");
      const [info] = (await storage.list()).filter((d) => d.name === "d");
      expect(info!.bytes).toBe(after.updates[0]!.byteLength);
    });

    it("lists stored documents with their bytes", async () => {
      const { storage } = await open();
      await storage.append("x", new Uint8Array([1, 2, 3]));
      await storage.append("y", new Uint8Array([4]));
      await storage.append("y", new Uint8Array([5, 6]));
      const list = await storage.list();
      expect(list.map((d) => [d.name, d.bytes]).sort()).toEqual([
        ["x", 3],
        ["y", 3],
      ]);
    });

    if (target.shared) {
      it("keeps rows another instance appended after the snapshot's load", async () => {
        const { storage: first, table } = await open();
        const { storage: second } = await open(table);
        const a = typing(["mine "]);
        await first.append("s", a.updates[0]!);
        const { through } = await first.load("s");
        // The other instance writes after the first one loaded: the first one's snapshot does not hold it.
        const b = new Y.Doc();
        Y.applyUpdate(b, a.updates[0]!);
        const theirs: Uint8Array[] = [];
        b.on("update", (u: Uint8Array) => theirs.push(u));
        b.getText("t").insert(5, "theirs");
        await second.append("s", theirs[0]!);
        await first.compact("s", Y.encodeStateAsUpdate(a.doc), through);
        expect(textOf((await second.load("s")).updates)).toBe("mine theirs");
      });
    }
  });
}
