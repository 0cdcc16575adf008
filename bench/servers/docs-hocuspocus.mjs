// @hocuspocus/server 4 with its defaults (no extensions, documents in memory), for bench/docs.mjs.
// Prints `READY <port>`; exits on SIGTERM.
import { Server } from "@hocuspocus/server";

// FLUSH_DELAY: its `flushDelay` (default 0: merge what arrives in one turn).
const flushDelay = process.env.FLUSH_DELAY ? Number(process.env.FLUSH_DELAY) : 0;
const server = new Server({ port: Number(process.env.PORT ?? 0), address: "127.0.0.1", quiet: true, stopOnSignals: false, flushDelay });
await server.listen();
process.stdout.write(`READY ${server.address.port}\n`);
process.on("SIGTERM", () => void server.destroy().finally(() => process.exit(0)));
