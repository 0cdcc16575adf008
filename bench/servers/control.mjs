import process from "node:process";

/** Calls `onCommand` with each line the harness writes to stdin (trimmed). Runs on Node, Bun and Deno. */
export function onStdinCommands(onCommand) {
  let line = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    line += chunk;
    let nl;
    while ((nl = line.indexOf("\n")) !== -1) {
      const cmd = line.slice(0, nl).trim();
      line = line.slice(nl + 1);
      onCommand(cmd);
    }
  });
}

// Shared by the Node bench servers: the READY line, the stdin `gc` command, and SIGTERM handling.
export function serveBenchControl(port, close) {
  process.stdout.write(`READY ${port}\n`);
  onStdinCommands((cmd) => {
    if (cmd !== "gc") return;
    globalThis.gc?.();
    const { heapUsed, external, arrayBuffers } = process.memoryUsage();
    process.stdout.write(`GC_DONE ${JSON.stringify({ heapUsed, external, arrayBuffers })}\n`);
  });
  process.stdin.on("end", () => process.exit(0)); // the harness went away
  process.on("SIGTERM", () => {
    setTimeout(() => process.exit(0), 2000).unref();
    close(() => process.exit(0));
  });
}

/**
 * Options every "ours" bench server passes to createServer: loopback, `/live`, no chat history, and an
 * onError that logs the first few failures in full and counts the rest by stage and code (one line at exit).
 */
export function oursBenchOptions() {
  const errors = { count: 0, byKind: {} };
  process.on("exit", () => {
    if (errors.count > 5) console.error(`[ours onError] ${errors.count} calls in total: ${JSON.stringify(errors.byKind)}`);
  });
  return {
    port: 0,
    hostname: "127.0.0.1",
    path: "/live",
    presenceThrottleMs: Number(process.env.BENCH_PRESENCE_THROTTLE_MS ?? 100),
    // Load clients send as fast as the server takes them: that is what is measured, not the rate limit.
    rateLimit: false,
    chat: { historyLimit: 0 },
    onError(error, context) {
      const kind = `${context?.stage ?? "?"}:${error?.code ?? error?.name ?? "?"}`;
      errors.byKind[kind] = (errors.byKind[kind] ?? 0) + 1;
      if (++errors.count <= 5) console.error(`[ours onError] ${context?.stage ?? "?"}: ${error?.stack ?? error}`);
    },
  };
}
