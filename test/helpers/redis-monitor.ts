/**
 * MONITOR over a raw socket: every command Redis runs, as its arguments. ioredis's own `monitor()`
 * shares its reply parser with the command queue and can fail ("Command queue state error") when other
 * clients of a shared Redis negotiate RESP3 meanwhile; reading the lines ourselves cannot.
 */
import net from "node:net";

const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", a: "\x07", b: "\b", '"': '"', "\\": "\\" };

/** The quoted arguments of one MONITOR line (`+<time> [<db> <addr>] "cmd" "arg" …`), unescaped as Redis escaped them. */
export function parseMonitorLine(line: string): string[] {
  const args: string[] = [];
  for (let i = line.indexOf('"'); i !== -1 && i < line.length; ) {
    let arg = "";
    let j = i + 1;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] !== "\\") {
        arg += line[j];
        continue;
      }
      const next = line[++j]!;
      if (next === "x") {
        arg += String.fromCharCode(Number.parseInt(line.slice(j + 1, j + 3), 16));
        j += 2;
      } else arg += ESCAPES[next] ?? next;
    }
    args.push(arg);
    i = line.indexOf('"', j + 1);
  }
  return args;
}

export interface RedisMonitor {
  close(): void;
}

/** Starts MONITOR on `url`; resolves once Redis confirmed it, then calls `onCommand` for every command. */
export function monitorRedis(url: string, onCommand: (args: string[]) => void): Promise<RedisMonitor> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port) || 6379, hostname);
  let buffered = "";
  let started: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    started = resolve;
    socket.once("error", reject);
  });
  socket.on("connect", () => socket.write("MONITOR\r\n"));
  socket.on("data", (chunk) => {
    buffered += chunk.toString("latin1");
    let nl = buffered.indexOf("\r\n");
    while (nl !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 2);
      if (line === "+OK") started();
      else if (line.startsWith("+")) onCommand(parseMonitorLine(Buffer.from(line, "latin1").toString("utf8")));
      nl = buffered.indexOf("\r\n");
    }
  });
  return ready.then(() => ({ close: () => socket.destroy() }));
}
