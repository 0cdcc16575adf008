// Our Node server from DIST with the HTTP API on (the admin tail bench); prints the port.
import { oursBenchOptions } from "./control.mjs";

const dist = process.argv[2];
const { createServer } = await import(new URL(`file://${dist}/node.js`).href);
const server = createServer({ ...oursBenchOptions(), api: { secret: "bench-secret-bench-secret" } });
server.once("listening", () => console.log(`PORT ${server.address().port}`));
