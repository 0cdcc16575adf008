/**
 * Cloudflare's runtime objects, described by what this adapter uses of them, so the package needs no
 * Workers types (and the rest of the code base keeps its DOM and Node types).
 * https://developers.cloudflare.com/durable-objects/api/state/
 * https://developers.cloudflare.com/durable-objects/best-practices/websockets/
 */

/** A server-side WebSocket in a Durable Object: hibernatable, with its attachment (at most 2,048 bytes). */
export interface HibernatableSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
}

/** A WebSocket the Worker holds itself (the relay's two ends). */
export interface WorkerSocket {
  accept(): void;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { data: string | ArrayBuffer }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: "error", listener: (event: unknown) => void): void;
}

/** A Durable Object's SQLite, as `ctx.storage.sql` gives it. */
export interface SqlStorageLike {
  exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[] };
}

/** `ctx` (`state`) of a Durable Object. */
export interface DurableObjectStateLike {
  acceptWebSocket(ws: HibernatableSocket, tags?: string[]): void;
  getWebSockets(tag?: string): HibernatableSocket[];
  storage: {
    sql: SqlStorageLike;
    transactionSync<T>(fn: () => T): T;
    /** The object's one alarm: `alarm()` is called at `scheduledTime` (ms), waking the object if it hibernates. */
    setAlarm(scheduledTime: number): Promise<void>;
  };
}

/** A Durable Object namespace binding (`env.ROOMS`). */
export interface DurableNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** `WebSocketPair`: [client end, server end]. */
type WebSocketPairLike = new () => { 0: unknown; 1: unknown };

function pairConstructor(): WebSocketPairLike {
  const Pair = (globalThis as { WebSocketPair?: WebSocketPairLike }).WebSocketPair;
  if (!Pair) {
    throw new Error(
      '@openlivesync/server/cloudflare runs on Cloudflare Workers (workerd): WebSocketPair is missing here. On Node, Bun or Deno import "@openlivesync/server".',
    );
  }
  return Pair;
}

/** A new socket pair: the client end goes into the 101 response, the server end stays here. */
export function socketPair<S>(): { client: unknown; server: S } {
  const pair = new (pairConstructor())();
  return { client: pair[0], server: pair[1] as S };
}

/** The 101 response that hands `client` to the caller (workerd's `webSocket` response field). */
export function switchingProtocols(client: unknown): Response {
  return new Response(null, { status: 101, webSocket: client } as ResponseInit);
}

/** The socket a 101 answer from a Durable Object carries. */
export function webSocketOf(response: Response): WorkerSocket | undefined {
  return (response as Response & { webSocket?: WorkerSocket | null }).webSocket ?? undefined;
}
