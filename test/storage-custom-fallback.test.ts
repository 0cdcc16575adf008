import { createInMemoryChatStorage } from "../src/storage/chat-storage.ts";
import { chatStorageContract } from "./chat-storage.contract.ts";

// A custom storage with only the seed's two methods; the new capabilities come from withChatCapabilities.
chatStorageContract(
  "custom storage with only append and getHistory",
  ({ historyLimit }) => {
    const inner = createInMemoryChatStorage({ historyLimit });
    return {
      append: async (roomId, message) => void (await inner.append(roomId, message)),
      getHistory: (roomId, limit, offset) => inner.getHistory(roomId, limit, offset),
    };
  },
  { seedOnly: true },
);
