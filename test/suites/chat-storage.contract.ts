import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pageFromNewest, type ChatAppendInput, type ChatStorage } from "../../src/storage/chat-storage.ts";
import { withChatCapabilities, type CompleteChatStorage } from "../../src/storage/capabilities.ts";
import type { ChatMessageInput, StoredChatMessage } from "../../src/protocol/messages.ts";

export interface MakeStorageOptions {
  tableName: string;
  historyLimit: number;
  batch?: boolean;
}

export type MakeStorage = (options: MakeStorageOptions) => ChatStorage | Promise<ChatStorage>;

export interface ContractOptions {
  /** The storage has a table: hostile names are refused and `close()` ends it (SQL stores). */
  sql?: boolean;
  /** A second instance on the same table sees the first one's rows (file/server databases). */
  sharedTable?: boolean;
  /** Drop the run's table afterwards. */
  dropTable?: (tableName: string) => Promise<void> | void;
  /**
   * The storage implements only append and getHistory: paging runs through {@link withChatCapabilities}'s
   * emulation, resume and exactly-once are checked to be off.
   */
  requiredOnly?: boolean;
  /** Fields that make the database refuse a row (a NUL in Postgres text, too-deep JSON on MariaDB). */
  refusedRow?: Partial<ChatMessageInput>;
}

const HOSTILE_TABLE_NAMES = [
  'chat"; drop table users; --',
  "chat`; drop table users; --",
  "chat'; drop table users; --",
  "public.chat",
  "chat room",
  "chat-room",
  "1chat",
  "",
  "a".repeat(49),
  "chat\u0000",
  "ｃｈａｔ",
];

const INJECTION_ROOMS = [
  "'; DROP TABLE openlivesync_chat; --",
  '" OR 1=1 --',
  "` OR 1=1 #",
  "\\'; SELECT pg_sleep(10); --",
  "room%_*?",
  "room'); DELETE FROM openlivesync_chat WHERE ('1'='1",
];

/** `it` when `condition` holds, else `it.skip`: the portable form of vitest's `it.runIf`, which Bun's runner lacks. */
const itIf = (condition: boolean | undefined) => (condition ? it : it.skip);

let uniq = 0;
const room = (label: string) => `${label}-${Date.now().toString(36)}-${(uniq++).toString(36)}`;
const msg = (i: number, extra: Partial<ChatMessageInput> = {}): ChatMessageInput => ({
  id: globalThis.crypto.randomUUID(),
  connectionId: `conn-${i % 7}`,
  message: `message ${i}`,
  createdAt: 1_700_000_000_000 + i,
  ...extra,
});

async function appendAll(storage: ChatStorage, roomId: string, inputs: ChatMessageInput[]): Promise<void> {
  for (const input of inputs) await storage.append(roomId, input);
}

const texts = (list: StoredChatMessage[]) => list.map((m) => m.message);

/**
 * The `ChatStorage` contract, run against every store (memory, SQLite file and :memory:, Postgres,
 * MariaDB/MySQL). Every SQL target uses a fresh table for the run and drops it afterwards.
 */
export function chatStorageContract(name: string, makeStorage: MakeStorage, options: ContractOptions = {}): void {
  const tableName = `ols_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const open: ChatStorage[] = [];
  const make = async (extra: Partial<MakeStorageOptions> = {}) => {
    const storage = await makeStorage({ tableName, historyLimit: 1000, ...extra });
    open.push(storage);
    return storage;
  };

  describe(`ChatStorage contract: ${name}`, () => {
    let storage: ChatStorage;

    beforeAll(async () => {
      storage = await make();
    });

    afterAll(async () => {
      for (const s of open) await s.close?.().catch(() => {});
      await options.dropTable?.(tableName);
    });

    it("returns an empty history for a room with no messages", async () => {
      expect(await storage.getHistory(room("empty"))).toStrictEqual([]);
      expect(await storage.getHistory(room("empty"), 10, 10)).toStrictEqual([]);
    });

    it("returns messages oldest first, in append order", async () => {
      const r = room("order");
      const inputs = Array.from({ length: 12 }, (_, i) => msg(i));
      await appendAll(storage, r, inputs);
      expect(texts(await storage.getHistory(r, 100))).toStrictEqual(inputs.map((m) => m.message));
    });

    it("keeps append order for messages created in the same millisecond", async () => {
      const r = room("same-ms");
      const inputs = Array.from({ length: 20 }, (_, i) => msg(i, { createdAt: 1_700_000_000_000 }));
      await appendAll(storage, r, inputs.slice(0, 10));
      await Promise.all(inputs.slice(10).map((m) => storage.append(r, m)));
      const history = await storage.getHistory(r, 100);
      expect(history.map((m) => m.id)).toStrictEqual(inputs.map((m) => m.id));
      expect(new Set(history.map((m) => m.createdAt))).toStrictEqual(new Set([1_700_000_000_000]));
    });

    it("stores every field as given and leaves absent optional fields absent", async () => {
      const r = room("fields");
      const full = msg(1, { userId: "user-1", name: "Ada Lovelace", metadata: { kind: "note" } });
      const bare = msg(2);
      const emptyStrings = msg(3, { userId: "", name: "", metadata: {} });
      await appendAll(storage, r, [full, bare, emptyStrings]);
      const history = await storage.getHistory(r);
      expect(history).toStrictEqual([
        {
          id: full.id,
          roomId: r,
          connectionId: full.connectionId,
          userId: "user-1",
          name: "Ada Lovelace",
          message: full.message,
          metadata: { kind: "note" },
          createdAt: full.createdAt,
        },
        { id: bare.id, roomId: r, connectionId: bare.connectionId, message: bare.message, createdAt: bare.createdAt },
        {
          id: emptyStrings.id,
          roomId: r,
          connectionId: emptyStrings.connectionId,
          userId: "",
          name: "",
          message: emptyStrings.message,
          metadata: {},
          createdAt: emptyStrings.createdAt,
        },
      ]);
      expect(Object.keys(history[1]!).sort()).toStrictEqual(["connectionId", "createdAt", "id", "message", "roomId"]);
    });

    it("fills id and createdAt when the caller leaves them out", async () => {
      const r = room("fill");
      const before = Date.now();
      const returned = await storage.append(r, { connectionId: "c", message: "no id" });
      const [stored] = await storage.getHistory(r);
      expect(stored!.id).toMatch(/\S/);
      expect(stored!.createdAt).toBeGreaterThanOrEqual(before);
      if (returned) expect(returned).toStrictEqual(stored);
    });

    it("pages back from the newest message, each page oldest first", async () => {
      const r = room("pages");
      const inputs = Array.from({ length: 25 }, (_, i) => msg(i));
      await appendAll(storage, r, inputs);
      const all = inputs.map((m) => m.message);
      expect(texts(await storage.getHistory(r, 10))).toStrictEqual(all.slice(15, 25)); // first page
      expect(texts(await storage.getHistory(r, 10, 10))).toStrictEqual(all.slice(5, 15)); // middle
      expect(texts(await storage.getHistory(r, 10, 20))).toStrictEqual(all.slice(0, 5)); // last, partial
      expect(await storage.getHistory(r, 10, 25)).toStrictEqual([]); // past the end
      expect(await storage.getHistory(r, 10, 1000)).toStrictEqual([]);
      expect(await storage.getHistory(r, 0)).toStrictEqual([]);
      for (const limit of [1, 3, 7, 25, 26, 100]) {
        for (const offset of [0, 1, 6, 24, 25, 26]) {
          expect(texts(await storage.getHistory(r, limit, offset)), `limit ${limit} offset ${offset}`).toStrictEqual(
            pageFromNewest(all, 0, limit, offset),
          );
        }
      }
    });

    it("returns the newest historyLimit messages when no limit is given", async () => {
      const small = await make({ historyLimit: 5 });
      const r = room("default-limit");
      const inputs = Array.from({ length: 8 }, (_, i) => msg(i));
      await appendAll(small, r, inputs);
      expect(texts(await small.getHistory(r))).toStrictEqual(inputs.slice(3).map((m) => m.message));
    });

    it("keeps rooms apart, including rooms that differ only in case or trailing space", async () => {
      const base = room("iso");
      const rooms = [base, `${base}-b`, base.toUpperCase(), `${base} `];
      await Promise.all(rooms.map((r, i) => appendAll(storage, r, [msg(i, { message: `in ${JSON.stringify(r)}` })])));
      for (const r of rooms) expect(texts(await storage.getHistory(r))).toStrictEqual([`in ${JSON.stringify(r)}`]);
    });

    it("round-trips nested JSON metadata, unicode and emoji", async () => {
      const r = room("meta");
      const metadata = {
        nested: { deep: { list: [1, 2.5, -3, true, false, null, "x"], empty: {}, none: null } },
        text: "héllo wörld — 你好 — Привет — مرحبا",
        emoji: "🎉👩‍👩‍👧‍👦🏳️‍🌈",
        escapes: 'quote " backslash \\ newline \n tab \t \u2028',
        big: Number.MAX_SAFE_INTEGER,
        zero: 0,
      };
      const input = msg(1, { message: "emoji 🎉 and 你好 and ‮rtl", name: "Zoë 🦊", metadata });
      await storage.append(r, input);
      const [stored] = await storage.getHistory(r);
      expect(stored!.metadata).toStrictEqual(metadata);
      expect(stored!.message).toBe(input.message);
      expect(stored!.name).toBe("Zoë 🦊");
    });

    it("stores a 64 KB message intact", async () => {
      const r = room("big");
      const ascii = "x".repeat(64 * 1024);
      const wide = "🎉é字".repeat(Math.ceil((64 * 1024) / 4)).slice(0, 64 * 1024);
      await appendAll(storage, r, [msg(1, { message: ascii }), msg(2, { message: wide })]);
      const history = await storage.getHistory(r);
      expect(history[0]!.message.length).toBe(ascii.length);
      expect(history[0]!.message === ascii).toBe(true);
      expect(history[1]!.message === wide).toBe(true);
    });

    it("treats room ids that look like SQL injection as plain strings", async () => {
      for (const [i, r] of INJECTION_ROOMS.entries()) await storage.append(r, msg(i, { message: `safe ${i}` }));
      for (const [i, r] of INJECTION_ROOMS.entries()) {
        const history = await storage.getHistory(r, 1);
        expect(history.map((m) => [m.roomId, m.message])).toStrictEqual([[r, `safe ${i}`]]);
      }
      const r = room("still-works");
      await storage.append(r, msg(1));
      expect(await storage.getHistory(r)).toHaveLength(1);
    });

    itIf(options.sql)("refuses hostile table names with a ConfigError before touching the database", async () => {
      for (const hostile of HOSTILE_TABLE_NAMES) {
        await expect((async () => makeStorage({ tableName: hostile, historyLimit: 10 }))(), JSON.stringify(hostile)).rejects.toMatchObject({
          name: "ConfigError",
          code: "CONFIG_ERROR",
        });
      }
    });

    it("keeps all of 200 concurrent appends to one room, in call order", async () => {
      const r = room("concurrent");
      const inputs = Array.from({ length: 200 }, (_, i) => msg(i, { createdAt: 1_700_000_000_000 + (i % 3) }));
      await Promise.all(inputs.map((m) => storage.append(r, m)));
      const first = await storage.getHistory(r, 1000);
      expect(first.map((m) => m.id)).toStrictEqual(inputs.map((m) => m.id));
      expect(new Set(first.map((m) => m.id)).size).toBe(200);
      // Pages agree with the full read: one order for every reader.
      const paged = [
        ...(await storage.getHistory(r, 64, 192)),
        ...(await storage.getHistory(r, 64, 128)),
        ...(await storage.getHistory(r, 64, 64)),
        ...(await storage.getHistory(r, 64, 0)),
      ];
      expect(paged.map((m) => m.id)).toStrictEqual(first.map((m) => m.id));
    });

    itIf(options.sql)("keeps call order with one insert per message (batch: false)", async () => {
      const unbatched = await make({ batch: false });
      const r = room("unbatched");
      const inputs = Array.from({ length: 40 }, (_, i) => msg(i));
      await Promise.all(inputs.map((m) => unbatched.append(r, m)));
      expect((await unbatched.getHistory(r, 100)).map((m) => m.id)).toStrictEqual(inputs.map((m) => m.id));
    });

    itIf(options.sharedTable)("lets two storage instances on one table see each other's messages", async () => {
      const other = await make();
      const r = room("shared");
      const inputs = Array.from({ length: 6 }, (_, i) => msg(i));
      for (const [i, m] of inputs.entries()) await (i % 2 === 0 ? storage : other).append(r, m);
      const expected = inputs.map((m) => m.id);
      expect((await storage.getHistory(r)).map((m) => m.id)).toStrictEqual(expected);
      expect((await other.getHistory(r)).map((m) => m.id)).toStrictEqual(expected);
    });

    describe("deleting a message (moderation)", () => {
      itIf(!options.requiredOnly)("removes the message from history, pages and resume, and says whether it was there", async () => {
        const r = room("delete");
        const inputs = Array.from({ length: 6 }, (_, i) => msg(i));
        await appendAll(storage, r, inputs);
        const id = (i: number) => inputs[i]!.id!;
        expect(await storage.delete!(r, id(2))).toBe(true);
        expect(await storage.delete!(r, id(2))).toBe(false);
        expect(await storage.delete!(`${r}-other`, id(3))).toBe(false);
        expect(texts(await storage.getHistory(r))).toStrictEqual(["message 0", "message 1", "message 3", "message 4", "message 5"]);
        expect(texts(await storage.getHistory(r, 2, 2))).toStrictEqual(["message 1", "message 3"]);
        const before = await storage.getHistoryBefore!(r, id(4), 10);
        expect(before && texts(before.messages)).toStrictEqual(["message 0", "message 1", "message 3"]);
        expect(texts((await storage.getHistoryAfter!(r, id(1), 10)) ?? [])).toStrictEqual(["message 3", "message 4", "message 5"]);
        // The deleted id is no longer a place to page or resume from.
        expect(await storage.getHistoryBefore!(r, id(2), 10)).toBeUndefined();
        expect(await storage.getHistoryAfter!(r, id(2), 10)).toBeUndefined();
        // Messages after a deletion keep their order with new appends.
        await storage.append(r, msg(6));
        expect(texts(await storage.getHistory(r, 3))).toStrictEqual(["message 4", "message 5", "message 6"]);
      });

      itIf(!options.requiredOnly)("deletes the first and the newest message of a room", async () => {
        const r = room("delete-ends");
        const inputs = Array.from({ length: 3 }, (_, i) => msg(i));
        await appendAll(storage, r, inputs);
        expect(await storage.delete!(r, inputs[0]!.id!)).toBe(true);
        expect(await storage.delete!(r, inputs[2]!.id!)).toBe(true);
        expect(texts(await storage.getHistory(r))).toStrictEqual(["message 1"]);
        expect(texts((await storage.getHistoryAfter!(r, inputs[1]!.id!, 10)) ?? [])).toStrictEqual([]);
      });

      itIf(options.requiredOnly)("rejects a delete with a StorageError that says what the storage lacks", async () => {
        const { storage: full } = withChatCapabilities(storage);
        await expect(full.delete("r", "m")).rejects.toThrow(/cannot delete messages: give it a delete\(roomId, id\) method/);
      });
    });

    describe("paging, resume and exactly-once", () => {
      let full: CompleteChatStorage;
      const ids = (list: StoredChatMessage[] | undefined) => list?.map((m) => m.id);

      beforeAll(() => {
        const wrapped = withChatCapabilities(storage);
        full = wrapped.storage;
        const native = !options.requiredOnly;
        expect(wrapped.native).toStrictEqual({ paging: native, resume: native, idempotency: native, deletion: native });
        expect(wrapped.warnings).toHaveLength(native ? 0 : 3);
      });

      it("pages back with getHistoryBefore: first, middle, last and past the end, with hasMore", async () => {
        const r = room("before");
        const inputs = Array.from({ length: 25 }, (_, i) => msg(i, { createdAt: 1_700_000_000_000 + Math.floor(i / 5) }));
        await appendAll(storage, r, inputs);
        const id = (i: number) => inputs[i]!.id!;
        const range = (from: number, to: number) => inputs.slice(from, to).map((m) => m.id);
        const page = async (before: string | undefined, limit: number) => {
          const result = await full.getHistoryBefore(r, before, limit);
          return result && { ids: ids(result.messages), hasMore: result.hasMore };
        };
        expect(await page(undefined, 10)).toStrictEqual({ ids: range(15, 25), hasMore: true }); // first
        expect(await page(id(15), 10)).toStrictEqual({ ids: range(5, 15), hasMore: true }); // middle
        expect(await page(id(5), 10)).toStrictEqual({ ids: range(0, 5), hasMore: false }); // last, partial
        expect(await page(id(10), 10)).toStrictEqual({ ids: range(0, 10), hasMore: false }); // last, full
        expect(await page(id(0), 10)).toStrictEqual({ ids: [], hasMore: false }); // past the end
        expect(await page(undefined, 100)).toStrictEqual({ ids: range(0, 25), hasMore: false });
        expect(await page(id(24), 1)).toStrictEqual({ ids: range(23, 24), hasMore: true });
        const first = await full.getHistoryBefore(r, undefined, 3);
        expect(first!.messages).toStrictEqual(await storage.getHistory(r, 3));
      });

      it("tells an unknown `before` apart from an empty page", async () => {
        const r = room("before-unknown");
        const other = room("before-other");
        await appendAll(storage, r, [msg(1), msg(2)]);
        const elsewhere = msg(3);
        await storage.append(other, elsewhere);
        expect(await full.getHistoryBefore(r, "no-such-message", 10)).toBeUndefined();
        expect(await full.getHistoryBefore(r, elsewhere.id, 10)).toBeUndefined(); // another room's id
        expect(await full.getHistoryBefore(room("before-empty"), undefined, 10)).toStrictEqual({ messages: [], hasMore: false });
      });

      itIf(!options.requiredOnly)("resumes with getHistoryAfter: after the newest, after a middle message, capped by limit", async () => {
        const r = room("after");
        const inputs = Array.from({ length: 25 }, (_, i) => msg(i, { createdAt: 1_700_000_000_000 }));
        await appendAll(storage, r, inputs);
        const range = (from: number, to: number) => inputs.slice(from, to).map((m) => m.id);
        expect(await full.getHistoryAfter(r, inputs[24]!.id!, 1000)).toStrictEqual([]);
        expect(ids(await full.getHistoryAfter(r, inputs[9]!.id!, 1000))).toStrictEqual(range(10, 25));
        expect(ids(await full.getHistoryAfter(r, inputs[9]!.id!, 5))).toStrictEqual(range(10, 15));
        expect(ids(await full.getHistoryAfter(r, inputs[0]!.id!, 1000))).toStrictEqual(range(1, 25));
        const [stored] = await storage.getHistory(r, 1, 11); // the 14th of 25
        expect(await full.getHistoryAfter(r, inputs[12]!.id!, 1)).toStrictEqual([stored]);
      });

      it("answers not found for a resume from an unknown id or another room's id", async () => {
        const r = room("after-unknown");
        const other = room("after-other");
        await appendAll(storage, r, [msg(1), msg(2)]);
        const elsewhere = msg(3);
        await storage.append(other, elsewhere);
        expect(await full.getHistoryAfter(r, "no-such-message", 10)).toBeUndefined();
        expect(await full.getHistoryAfter(r, elsewhere.id!, 10)).toBeUndefined();
        expect(await full.getHistoryAfter(room("after-empty"), elsewhere.id!, 10)).toBeUndefined();
      });

      const send = (i: number, clientMessageId: string, extra: Partial<ChatAppendInput> = {}): ChatAppendInput => {
        const { id: _id, createdAt: _at, ...input } = msg(i, extra);
        return { ...input, createdAt: 1_700_000_000_000 + i, clientMessageId };
      };

      itIf(!options.requiredOnly)("stores a repeated clientMessageId once and returns the original message", async () => {
        const r = room("once");
        const first = await full.appendOnce(r, send(1, "abc-1", { userId: "u1", connectionId: "conn-a" }));
        expect(first.duplicate).toBe(false);
        // The same user after a reconnect: another connection, another text, the same clientMessageId.
        const again = await full.appendOnce(r, send(2, "abc-1", { userId: "u1", connectionId: "conn-b", message: "resent" }));
        expect(again).toStrictEqual({ message: first.message, duplicate: true });
        expect(await storage.getHistory(r)).toStrictEqual([first.message]);
        // Scoped to room and sender: another user, a connection without a user, another room all store.
        expect((await full.appendOnce(r, send(3, "abc-1", { userId: "u2" }))).duplicate).toBe(false);
        const anon = await full.appendOnce(r, send(4, "abc-1", { connectionId: "conn-x" }));
        expect(anon.duplicate).toBe(false);
        expect(await full.appendOnce(r, send(5, "abc-1", { connectionId: "conn-x" }))).toStrictEqual({
          message: anon.message,
          duplicate: true,
        });
        // Without a userId the connection does not scope it: the same sender comes back on another connection.
        expect(await full.appendOnce(r, send(6, "abc-1", { connectionId: "conn-y" }))).toStrictEqual({
          message: anon.message,
          duplicate: true,
        });
        expect((await full.appendOnce(room("once-other"), send(7, "abc-1", { userId: "u1" }))).duplicate).toBe(false);
        expect(await storage.getHistory(r)).toHaveLength(3);
        // Without a clientMessageId every append stores.
        const plain = send(8, "x");
        delete plain.clientMessageId;
        await full.appendOnce(r, plain);
        await full.appendOnce(r, plain);
        expect(await storage.getHistory(r)).toHaveLength(5);
      });

      itIf(!options.requiredOnly)("resolves repeats inside one batch to one stored message, and stores the rest of the batch", async () => {
        const r = room("once-batch");
        const inputs = [0, 1, 2, 3, 4, 5].map((i) => send(i, i % 2 === 1 ? "dup" : `k${i}`, { userId: "u1" }));
        const results = await Promise.all(inputs.map((m) => full.appendOnce(r, m)));
        expect(results.map((x) => x.duplicate)).toStrictEqual([false, false, false, true, false, true]);
        expect(results[3]!.message).toStrictEqual(results[1]!.message);
        expect(results[5]!.message).toStrictEqual(results[1]!.message);
        expect(results[1]!.message).toMatchObject({ message: "message 1", createdAt: 1_700_000_000_001 });
        expect(texts(await storage.getHistory(r))).toStrictEqual(["message 0", "message 1", "message 2", "message 4"]);
        expect((await storage.getHistory(r)).map((m) => m.id)).toStrictEqual([0, 1, 2, 4].map((i) => results[i]!.message.id));
      });

      itIf(!options.requiredOnly && options.sharedTable)("remembers a clientMessageId after a restart", async () => {
        const r = room("once-restart");
        const before = await make();
        const first = await before.appendOnce!(r, send(1, "restart-1", { userId: "u1" }));
        await before.close?.();
        const after = await make();
        expect(await after.appendOnce!(r, send(2, "restart-1", { userId: "u1" }))).toStrictEqual({
          message: first.message,
          duplicate: true,
        });
        expect(await after.getHistory(r)).toHaveLength(1);
      });

      itIf(!options.requiredOnly && options.sharedTable)(
        "stores one row when two instances race with the same clientMessageId",
        async () => {
          const a = await make();
          const b = await make();
          for (let round = 0; round < 5; round++) {
            const r = room(`once-race-${round}`);
            const results = await Promise.all([
              a.appendOnce!(r, send(1, "race", { userId: "u1", connectionId: "on-a" })),
              b.appendOnce!(r, send(2, "race", { userId: "u1", connectionId: "on-b" })),
            ]);
            expect(results.map((x) => x.duplicate).sort()).toStrictEqual([false, true]);
            expect(results[0]!.message).toStrictEqual(results[1]!.message);
            expect(await storage.getHistory(r)).toStrictEqual([results[0]!.message]);
          }
        },
      );

      itIf(options.requiredOnly)("ignores clientMessageId and resume on a storage with only append and getHistory", async () => {
        const r = room("required-only");
        const first = await full.appendOnce(r, send(1, "same"));
        const second = await full.appendOnce(r, send(2, "same"));
        expect([first.duplicate, second.duplicate]).toStrictEqual([false, false]);
        expect(await storage.getHistory(r)).toStrictEqual([first.message, second.message]);
        expect(await full.getHistoryAfter(r, first.message.id, 10)).toBeUndefined();
      });
    });

    itIf(options.refusedRow !== undefined)("fails only the rows the database refuses and stores the rest of their batch", async () => {
      const r = room("refused");
      const inputs = Array.from({ length: 9 }, (_, i) => msg(i, i === 2 || i === 6 ? options.refusedRow : {}));
      const results = await Promise.allSettled(inputs.map((m) => storage.append(r, m)));
      expect(results.map((x) => x.status)).toStrictEqual(inputs.map((_, i) => (i === 2 || i === 6 ? "rejected" : "fulfilled")));
      expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ name: "StorageError", code: "STORAGE_ERROR" });
      const stored = [0, 1, 3, 4, 5, 7, 8].map((i) => inputs[i]!.id);
      expect((await storage.getHistory(r)).map((m) => m.id)).toStrictEqual(stored);
    });

    it("close() finishes pending appends and can be called twice", async () => {
      const closing = await make();
      const r = room("close");
      const pending = Array.from({ length: 5 }, (_, i) => closing.append(r, msg(i)));
      await closing.close?.();
      await closing.close?.();
      await Promise.all(pending);
      if (options.sql) {
        await expect(closing.append(r, msg(9))).rejects.toMatchObject({ code: "STORAGE_ERROR" });
        await expect(closing.getHistory(r)).rejects.toMatchObject({ code: "STORAGE_ERROR" });
      }
      if (options.sharedTable) {
        const reopened = await make();
        expect(texts(await reopened.getHistory(r))).toStrictEqual(Array.from({ length: 5 }, (_, i) => `message ${i}`));
      }
    });
  });
}
