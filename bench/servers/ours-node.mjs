// Our server on Node, for `npm run bench`. Contract (see bench/README.md):
// prints `READY <port>` once listening, answers the stdin line `gc` with `GC_DONE`, exits on SIGTERM.
import { createServer } from "../../dist/node.js";
import { oursBenchOptions, serveBenchControl } from "./control.mjs";

const server = createServer(oursBenchOptions());
server.on("listening", () => serveBenchControl(server.address().port, (done) => server.close(done)));
