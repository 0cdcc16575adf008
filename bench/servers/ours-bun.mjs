// Our server on Bun, for `npm run bench -- --runtime bun`. Contract: bench/README.md.
// Room fan-out goes through Bun's native publish (adapters/bun-fanout.ts).
import { createServer } from "../../dist/bun.js";
import { oursBenchOptions, serveBenchControl } from "./control.mjs";
// control.mjs answers `gc` with globalThis.gc(); Bun's is Bun.gc.
globalThis.gc ??= () => Bun.gc(true);
const server = createServer(oursBenchOptions());
serveBenchControl(server.port, (done) => void server.close().then(done, done));
