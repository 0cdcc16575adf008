import { describe, expect, it } from "vitest";
import { createInMemoryChatStorage } from "../../src/storage/memory.ts";

async function filled(n: number, historyLimit = 100) {
  const storage = createInMemoryChatStorage({ historyLimit });
  for (let i = 0; i < n; i++) await storage.append("r", { connectionId: "c", message: `m${i}` });
  return storage;
}
const texts = (list: { message: string }[]) => list.map((m) => m.message);

describe("in-memory chat storage paging", () => {
  it("returns the newest `limit` messages, oldest first", async () => {
    const storage = await filled(10);
    expect(texts(await storage.getHistory("r", 3))).toEqual(["m7", "m8", "m9"]);
  });

  it("counts pages back from the newest message", async () => {
    const storage = await filled(100);
    expect(texts(await storage.getHistory("r", 20, 40))).toEqual(Array.from({ length: 20 }, (_, i) => `m${40 + i}`));
    expect(texts(await storage.getHistory("r", 20, 90))).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    expect(await storage.getHistory("r", 20, 100)).toEqual([]);
  });

  it("keeps at most historyLimit messages per room", async () => {
    const storage = await filled(300, 50);
    const all = await storage.getHistory("r", 1000);
    expect(all).toHaveLength(50);
    expect(all[0]!.message).toBe("m250");
  });

  it("keeps rooms apart and fills id and createdAt", async () => {
    const storage = createInMemoryChatStorage();
    await storage.append("a", { connectionId: "c", message: "in a" });
    await storage.append("b", { connectionId: "c", message: "in b", userId: "u" });
    const [b] = await storage.getHistory("b");
    expect(b).toMatchObject({ roomId: "b", message: "in b", userId: "u", id: expect.any(String), createdAt: expect.any(Number) });
    expect(texts(await storage.getHistory("a"))).toEqual(["in a"]);
    expect(await storage.getHistory("none")).toEqual([]);
  });

  it("keeps exactly historyLimit messages per room at every moment", async () => {
    const storage = createInMemoryChatStorage({ historyLimit: 70 });
    for (let i = 0; i < 300; i++) {
      await storage.append("r", { connectionId: "c", message: `m${i}` });
      const all = await storage.getHistory("r", 1000);
      expect(all).toHaveLength(Math.min(i + 1, 70));
      expect(all.at(-1)!.message).toBe(`m${i}`);
    }
  });

  it("keeps the histories of the maxRooms most recently used rooms and drops the least recently used", async () => {
    const storage = createInMemoryChatStorage({ maxRooms: 3 });
    for (const r of ["a", "b", "c"]) await storage.append(r, { connectionId: "c", message: `in ${r}` });
    await storage.getHistory("a"); // a is used again: b is now the least recently used
    await storage.append("d", { connectionId: "c", message: "in d" });
    expect(texts(await storage.getHistory("b"))).toEqual([]);
    for (const r of ["a", "c", "d"]) expect(texts(await storage.getHistory(r))).toEqual([`in ${r}`]);
  });

  it("forgets a dropped message's id: resume from it is not found", async () => {
    const storage = createInMemoryChatStorage({ historyLimit: 3 });
    const first = (await storage.append("r", { connectionId: "c", message: "m0" }))!;
    for (let i = 1; i < 4; i++) await storage.append("r", { connectionId: "c", message: `m${i}` });
    expect(await storage.getHistoryAfter!("r", first.id, 10)).toBeUndefined();
    expect(await storage.getHistoryBefore!("r", first.id, 10)).toBeUndefined();
  });
});
