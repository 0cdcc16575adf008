// Our server on Deno, for `npm run bench -- --runtime deno`. Contract: bench/README.md.
// Run with --v8-flags=--expose-gc so the stdin `gc` command collects garbage.
// OLS_DIST points at another build of the package (`--versus`: this code against an older build).
const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
const { createServer } = await import(new URL(`file://${dist}/deno.js`).href);
import { oursBenchOptions, serveBenchControl } from "./control.mjs";
// OLS_DENO_FRONT=0: Deno.serve directly, without the front (adapters/deno/front/), to measure what it costs.
const server = createServer({ ...oursBenchOptions(), denoFront: process.env.OLS_DENO_FRONT !== "0" });
serveBenchControl(server.port, (done) => void server.close().then(done, done));
