// Shared by the Node bench servers: the READY line, the stdin `gc` command, and SIGTERM handling.
export function serveBenchControl(port, close) {
  process.stdout.write(`READY ${port}\n`);
  let line = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    line += chunk;
    let nl;
    while ((nl = line.indexOf("\n")) !== -1) {
      const cmd = line.slice(0, nl).trim();
      line = line.slice(nl + 1);
      if (cmd === "gc") {
        globalThis.gc?.();
        const { heapUsed, external, arrayBuffers } = process.memoryUsage();
        process.stdout.write(`GC_DONE ${JSON.stringify({ heapUsed, external, arrayBuffers })}\n`);
      }
    }
  });
  process.stdin.on("end", () => process.exit(0)); // the harness went away
  process.on("SIGTERM", () => {
    setTimeout(() => process.exit(0), 2000).unref();
    close(() => process.exit(0));
  });
}
