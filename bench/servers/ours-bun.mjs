// Our server on Bun, for `npm run bench -- --runtime bun`. Contract: bench/README.md.
// Room fan-out goes through Bun's native publish (adapters/bun/publish-fanout.ts).
// OLS_DIST points at another build of the package (`--versus`: this code against an older build).
const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
const { createServer } = await import(new URL(`file://${dist}/bun.js`).href);
import { oursBenchOptions, serveBenchControl } from "./control.mjs";
// control.mjs answers `gc` with globalThis.gc(); Bun's is Bun.gc.
globalThis.gc ??= () => Bun.gc(true);
const server = createServer(oursBenchOptions());
serveBenchControl(server.port, (done) => void server.close().then(done, done));
