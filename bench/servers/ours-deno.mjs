// Our server on Deno, for `npm run bench -- --runtime deno`. Contract: bench/README.md.
// Run with --v8-flags=--expose-gc so the stdin `gc` command collects garbage.
import { createServer } from "../../dist/deno.js";
import { oursBenchOptions, serveBenchControl } from "./control.mjs";
const server = createServer(oursBenchOptions());
serveBenchControl(server.port, (done) => void server.close().then(done, done));
