// Our server on Node with the chat storage named by STORAGE_URL / STORAGE_TABLE, for bench/chat.mjs.
// STORAGE_BATCH=0 turns group commit off (one INSERT per message); BENCH_HOOKS=noop sets a `beforeChat`
// that returns the message unchanged (what a moderation hook costs before it does any work). Prints `READY <port>`, exits on SIGTERM.
import { createChatStorageFromUrl, createServer } from "../../dist/node.js";

const storage = await createChatStorageFromUrl(process.env.STORAGE_URL ?? "memory", {
  tableName: process.env.STORAGE_TABLE,
  batch: process.env.STORAGE_BATCH !== "0",
});
let failures = 0;
const server = createServer({
  port: 0,
  hostname: "127.0.0.1",
  // Load clients send as fast as the server takes them: that is what is measured, not the rate limit.
  rateLimit: false,
  chat: { storage, historyLimit: 0 },
  ...(process.env.BENCH_HOOKS === "noop" ? { beforeChat: (message) => message } : {}),
  onError(error, { stage }) {
    if (++failures <= 5) console.error(`[ours onError] ${stage}: ${error?.message ?? error}`);
  },
});
server.on("listening", () => process.stdout.write(`READY ${server.address().port}\n`));
process.on("SIGTERM", () => {
  setTimeout(() => process.exit(0), 5000).unref();
  server.close(() => process.exit(0));
});
