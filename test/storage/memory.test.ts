import { createInMemoryChatStorage } from "../../src/storage/memory.ts";
import { chatStorageContract } from "../suites/chat-storage.contract.ts";

chatStorageContract("memory", ({ historyLimit }) => createInMemoryChatStorage({ historyLimit }));
