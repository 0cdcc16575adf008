// Our server with documents at /yjs, for bench/docs.mjs. DOCS_STORAGE: a storage URL (default: in memory);
// DOCS_FANOUT_DUTY: `documents.fanoutDuty` (default: the server's).
// Prints `READY <port>`; exits on SIGTERM.
import { pathToFileURL } from "node:url";

const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
const { createServer, createDocumentStorageFromUrl } = await import(pathToFileURL(`${dist}/node.js`).href);
const storage = process.env.DOCS_STORAGE ? await createDocumentStorageFromUrl(process.env.DOCS_STORAGE) : undefined;
const server = createServer({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  rateLimit: false,
  // A 1 MB document arrives in one message in the memory phase.
  documents: {
    ...(storage ? { storage } : {}),
    ...(process.env.DOCS_FANOUT_DUTY ? { fanoutDuty: Number(process.env.DOCS_FANOUT_DUTY) } : {}),
    maxDocuments: 100_000,
    maxMessageBytes: 4 * 1024 * 1024,
  },
});
server.on("listening", () => process.stdout.write(`READY ${server.address().port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
