import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A loopback TCP proxy that a test can cut: put it between a client and a database (or Redis) to
 * simulate the server going away and coming back on the same port.
 */
export interface TcpProxy {
  /** Listening port on 127.0.0.1 (after `start()`). */
  readonly port: number;
  /** `host:port` of the proxy, for building URLs. */
  readonly address: string;
  start(): Promise<void>;
  /** Destroy every live connection and refuse new ones until `restore()`. */
  cut(): void;
  restore(): void;
  /**
   * The next request (a chunk from a client) that `matches` reaches the server, but its answer does
   * not reach the client: the connection is cut as the answer arrives. Resolves once it was cut.
   */
  loseReplyTo(matches: (request: Buffer) => boolean): Promise<void>;
  close(): Promise<void>;
  /** Connections accepted and relayed so far. */
  readonly connections: number;
}

export function createTcpProxy(target: { host: string; port: number }): TcpProxy {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let down = false;
  let port = 0;
  let accepted = 0;
  let loseReply: { matches: (request: Buffer) => boolean; cut: () => void } | undefined;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const onConnection = (client: Socket) => {
    track(client);
    if (down) {
      // Accept-then-reset looks to the client like a server that died; keeping the port bound
      // means `restore()` never races another process for it.
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = connect({ host: target.host, port: target.port });
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    let dropping: (() => void) | undefined;
    client.on("data", (chunk: Buffer) => {
      if (!upstream.write(chunk)) client.pause();
      if (loseReply?.matches(chunk)) [dropping, loseReply] = [loseReply.cut, undefined];
    });
    upstream.on("drain", () => client.resume());
    upstream.on("data", (chunk: Buffer) => {
      if (dropping) {
        kill();
        return dropping();
      }
      if (!client.write(chunk)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    client.once("error", kill);
    upstream.once("error", kill);
    client.once("close", kill);
    upstream.once("close", kill);
  };

  return {
    get port() {
      return port;
    },
    get address() {
      return `127.0.0.1:${port}`;
    },
    get connections() {
      return accepted;
    },
    start() {
      return new Promise((resolve, reject) => {
        server = createServer(onConnection);
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
          const addr = server!.address();
          port = typeof addr === "object" && addr ? addr.port : 0;
          resolve();
        });
      });
    },
    cut() {
      down = true;
      for (const socket of sockets) socket.resetAndDestroy();
      sockets.clear();
    },
    restore() {
      down = false;
    },
    loseReplyTo(matches) {
      return new Promise((cut) => (loseReply = { matches, cut }));
    },
    close() {
      down = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

const started = new Set<TcpProxy>();

/** A proxy to `target`, listening; `closeProxies` closes it (afterEach). */
export async function startProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const proxy = createTcpProxy(target);
  started.add(proxy);
  await proxy.start();
  return proxy;
}

/** Close every proxy `startProxy` made. */
export async function closeProxies(): Promise<void> {
  for (const proxy of started) await proxy.close();
  started.clear();
}
