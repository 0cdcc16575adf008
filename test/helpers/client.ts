import WebSocket from "ws";

export interface Received {
  type: string;
  payload: any;
}

/**
 * A test client over a real socket. Every frame is kept in `received`; `next(type)` waits for the next
 * unread frame of that type (earlier frames of other types stay readable).
 */
export class TestClient {
  readonly ws: WebSocket;
  readonly received: Received[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private cursor = new Map<string, number>();
  private waiters: (() => void)[] = [];

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_req, res) =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })),
      );
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    this.ws.on("message", (data) => {
      this.received.push(JSON.parse(data.toString()));
      this.wake();
    });
    this.ws.on("error", () => {});
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(type: string, payload?: unknown) {
    this.ws.send(JSON.stringify(payload === undefined ? { type } : { type, payload }));
  }

  sendRaw(data: string | Buffer) {
    this.ws.send(data);
  }

  /** All frames of a type received so far. */
  all(type: string): Received[] {
    return this.received.filter((m) => m.type === type);
  }

  /** The next unread frame of `type` (any type when omitted), waiting up to `timeoutMs`. */
  async next(type?: string, timeoutMs = 5000): Promise<Received> {
    const key = type ?? "*";
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const from = this.cursor.get(key) ?? 0;
      for (let i = from; i < this.received.length; i++) {
        const m = this.received[i]!;
        if (type === undefined || m.type === type) {
          this.cursor.set(key, i + 1);
          return m;
        }
      }
      this.cursor.set(key, this.received.length);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Timed out waiting for ${type ?? "a frame"}; got: ${JSON.stringify(this.received.slice(-5)).slice(0, 500)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Wait until `predicate` holds over everything received, or fail after `timeoutMs`. */
  async until(predicate: (received: Received[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Condition not met; last frames: ${JSON.stringify(this.received.slice(-5)).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Join and return the `room_joined` payload. */
  async join(roomId: string, presence?: Record<string, unknown>, extra?: Record<string, unknown>) {
    await this.opened;
    this.send("join_room", { roomId, ...(presence ? { presence } : {}), ...extra });
    return (await this.next("room_joined")).payload;
  }

  close() {
    this.ws.close();
    return this.closed;
  }

  terminate() {
    this.ws.terminate();
  }
}

/** Open `n` clients and wait until all are connected. */
export async function connectAll(url: string, n: number): Promise<TestClient[]> {
  const clients = Array.from({ length: n }, () => new TestClient(url));
  await Promise.all(clients.map((c) => c.opened));
  return clients;
}

/** Sleep, for letting frames that must NOT arrive have their chance to. */
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Presence in `roomId` as `client` sees it: its last `room_joined.presence`, then every `presence_updated`
 * after it applied (`joined`/`updated` set, `left` delete), as connection id → presence.
 */
export function presenceMap(client: TestClient, roomId: string): Record<string, unknown> {
  const map = new Map<string, unknown>();
  for (const m of client.received) {
    if (m.payload?.roomId !== roomId) continue;
    if (m.type === "room_joined") {
      map.clear();
      for (const [id, e] of Object.entries<any>(m.payload.presence)) map.set(id, e.presence);
    } else if (m.type === "presence_updated") {
      for (const e of [...(m.payload.joined ?? []), ...(m.payload.updated ?? [])]) map.set(e.connectionId, e.presence);
      for (const id of m.payload.left ?? []) map.delete(id);
    }
  }
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : 1)));
}
