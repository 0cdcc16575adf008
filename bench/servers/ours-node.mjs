// Our server on Node, for `npm run bench`. Contract (see bench/README.md):
// prints `READY <port>` once listening, answers the stdin line `gc` with `GC_DONE`, exits on SIGTERM.
// OLS_DIST points at another build of the package (`--versus`: this code against an older build).
const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
const { createServer } = await import(new URL(`file://${dist}/node.js`).href);
import { oursBenchOptions, serveBenchControl } from "./control.mjs";

const server = createServer(oursBenchOptions());
server.on("listening", () => serveBenchControl(server.address().port, (done) => server.close(done)));
