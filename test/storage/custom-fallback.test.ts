import { describe, expect, it } from "vitest";
import { withChatCapabilities } from "../../src/storage/capabilities.ts";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { createInMemoryChatStorage } from "../../src/storage/memory.ts";
import { chatStorageContract } from "../suites/chat-storage.contract.ts";

// A custom storage with only the two required methods; the new capabilities come from withChatCapabilities.
chatStorageContract(
  "custom storage with only append and getHistory",
  ({ historyLimit }) => {
    const inner = createInMemoryChatStorage({ historyLimit });
    return {
      append: async (roomId, message) => void (await inner.append(roomId, message)),
      getHistory: (roomId, limit, offset) => inner.getHistory(roomId, limit, offset),
    };
  },
  { requiredOnly: true },
);

describe("withChatCapabilities", () => {
  it("passes native methods and processLocal through, with no warnings, for a built-in storage", async () => {
    const { storage, native, warnings } = withChatCapabilities(createInMemoryChatStorage());
    expect(native).toStrictEqual({ paging: true, resume: true, idempotency: true, deletion: true });
    expect(warnings).toStrictEqual([]);
    expect(storage.processLocal).toBe(true);
    const sent = await storage.appendOnce("r", { connectionId: "c", message: "hi", clientMessageId: "m-1" });
    expect(await storage.appendOnce("r", { connectionId: "c", message: "hi", clientMessageId: "m-1" })).toStrictEqual({
      message: sent.message,
      duplicate: true,
    });
  });

  it("uses what a partial custom storage has and warns only about the rest", async () => {
    const inner = createInMemoryChatStorage();
    const partial: ChatStorage = {
      append: (roomId, message) => inner.append(roomId, message),
      getHistory: (roomId, limit, offset) => inner.getHistory(roomId, limit, offset),
      getHistoryAfter: (roomId, afterId, limit) => inner.getHistoryAfter!(roomId, afterId, limit),
    };
    const { storage, native, warnings } = withChatCapabilities(partial);
    expect(native).toStrictEqual({ paging: false, resume: true, idempotency: false, deletion: false });
    expect(warnings).toHaveLength(2);
    expect(warnings.join("\n")).toMatch(/getHistoryBefore[\s\S]*appendOnce/);
    const first = await storage.appendOnce("r", { connectionId: "c", message: "one" });
    const second = await storage.appendOnce("r", { connectionId: "c", message: "two" });
    expect(await storage.getHistoryAfter("r", first.message.id, 10)).toStrictEqual([second.message]);
  });
});
