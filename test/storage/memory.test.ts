import { createInMemoryChatStorage } from "../../src/storage/chat-storage.ts";
import { chatStorageContract } from "../suites/chat-storage.contract.ts";

chatStorageContract("memory", ({ historyLimit }) => createInMemoryChatStorage({ historyLimit }));
