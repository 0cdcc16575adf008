// Our server on Node, for `npm run bench`. Contract (see bench/README.md):
// prints `READY <port>` once listening, answers the stdin line `gc` with `GC_DONE`, exits on SIGTERM.
// OLS_DIST points at another build of the package (default ../../dist): bench/big-room.mjs runs an older
// build this way. BENCH_SERVER_OPTIONS (JSON) adds server options, e.g. {"maxPresenceSnapshot":1000}.
import { pathToFileURL } from "node:url";
import { oursBenchOptions, serveBenchControl } from "./control.mjs";

const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
const { createServer } = await import(pathToFileURL(`${dist}/node${process.env.OLS_DIST_EXT ?? ".js"}`).href);
const extra = process.env.BENCH_SERVER_OPTIONS ? JSON.parse(process.env.BENCH_SERVER_OPTIONS) : {};

const server = createServer({ ...oursBenchOptions(), ...extra });
server.on("listening", () => serveBenchControl(server.address().port, (done) => server.close(done)));
