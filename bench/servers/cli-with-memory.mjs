// The CLI (dist/cli.js, or OLS_DIST/cli.js) plus one bench hook, for bench/soak.mjs on Node, Bun and Deno:
// the stdin line `mem` forces a full GC (when the runtime allows: node --expose-gc, deno
// --v8-flags=--expose-gc, Bun.gc) and prints `MEM {"rss":…,"heapUsed":…}` (bytes).
// Arguments are the CLI's: process.argv is passed through untouched.
import process from "node:process";
import { onStdinCommands } from "./control.mjs";

const gc = globalThis.Bun ? () => globalThis.Bun.gc(true) : globalThis.gc;
onStdinCommands((cmd) => {
  if (cmd !== "mem") return;
  gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  process.stdout.write(`MEM ${JSON.stringify({ rss, heapUsed, gc: gc !== undefined })}\n`);
});
const dist = process.env.OLS_DIST ?? new URL("../../dist", import.meta.url).pathname;
await import(new URL(`file://${dist}/cli.js`).href);
