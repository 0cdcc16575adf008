// Deno side of bench/deno-upgrade-storm.mjs: the Deno createServer (with its front) whose onAuth holds the
// event loop for `busyMs` on every upgrade, so upgrades queue up behind one another. Prints READY <port>;
// when its stdin closes, the onError reports it got (deduplicated) as one JSON line, then exits.
const { createServer } = await import("@openlivesync/server");
const busyMs = Number(Deno.args[0] ?? 20);
const upgradeTimeoutMs = Deno.args[1] ? Number(Deno.args[1]) : undefined;
const errors = [];
const server = createServer({
  port: 0,
  hostname: "127.0.0.1",
  rateLimit: false,
  heartbeatIntervalMs: 0,
  upgradeTimeoutMs,
  onError: (e, c) => errors.push(`${c.stage}: ${String(e)}`),
  onAuth: () => {
    const end = Date.now() + busyMs;
    while (Date.now() < end);
    return { userId: "u" };
  },
});
console.log(`READY ${server.port}`);
for await (const _ of Deno.stdin.readable) break;
console.log(JSON.stringify({ errors: [...new Set(errors)] }));
await server.close();
Deno.exit(0);
