import type { WebhookStats } from "../webhooks/dispatcher.ts";
import type { Fanout } from "./fanout.ts";

/** Upper bounds (seconds) of the storage latency histogram's buckets. */
const STORAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const FRAME_HEAD = '{"type":"';
const ERROR_HEAD = '{"type":"error","payload":{"code":"';

/** What the scrape adds that the counters do not hold: state read at scrape time. */
export interface Gauges {
  connections: number;
  rooms: number;
  /** Backplane connection state and round trip, when one is configured. */
  backplane?: { up: boolean; rttMs?: number };
  /** Webhook counters and queue, when webhooks are configured. */
  webhooks?: WebhookStats;
}

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
  errors: number;
}

/**
 * The engine's counters, rendered in Prometheus text format (names prefixed `openlivesync_`). Each count
 * is one map update on a path that already does far more; label values come from fixed sets (message
 * types, error codes, close codes), so a client cannot grow the label space.
 */
export class Metrics {
  /** Per message type; a fixed shape, so counting a frame is one property increment. */
  private readonly received = counters(CLIENT_TYPES);
  private readonly sent = counters(SERVER_TYPES);
  private readonly errors = new Map<string, number>();
  private readonly serverCloses = new Map<string, number>();
  private readonly storage = new Map<string, Histogram>();
  closes = 0;
  opens = 0;
  rateLimitedFrames = 0;

  /** A frame arrived from a client (before any check). */
  frameReceived(raw: string): void {
    this.received[clientTypeOf(raw)]++;
  }

  /** `frame` went to `n` sockets. */
  frameSent(frame: string, n: number): void {
    if (n <= 0) return;
    const type = serverTypeOf(frame);
    this.sent[type] += n;
    if (type === "error" && frame.startsWith(ERROR_HEAD)) {
      const code = frame.slice(ERROR_HEAD.length, frame.indexOf('"', ERROR_HEAD.length));
      bump(this.errors, /^[A-Z_]{1,32}$/.test(code) ? code : "other", n);
    }
  }

  /** The server closed a connection with `code` (4429, 4408, 1008, …). */
  serverClosed(code: number): void {
    bump(this.serverCloses, String(code));
  }

  /**
   * Time a storage call: `op` is the storage method's name. Returns `call`'s own promise, observed from
   * the side, so callers see it settle in the same microtask as without metrics (chats in flight are
   * counted down that early).
   */
  timeStorage<T>(op: string, call: () => T): T {
    const started = performance.now();
    const done = (failed: boolean) => {
      let h = this.storage.get(op);
      if (!h) this.storage.set(op, (h = { buckets: STORAGE_BUCKETS.map(() => 0), sum: 0, count: 0, errors: 0 }));
      const seconds = (performance.now() - started) / 1000;
      h.sum += seconds;
      h.count++;
      if (failed) h.errors++;
      for (let i = 0; i < STORAGE_BUCKETS.length; i++) if (seconds <= STORAGE_BUCKETS[i]!) h.buckets[i]!++;
    };
    let result: T;
    try {
      result = call();
    } catch (error) {
      done(true);
      throw error;
    }
    if (result && typeof (result as { then?: unknown }).then === "function") {
      (result as unknown as PromiseLike<unknown>).then(
        () => done(false),
        () => done(true),
      );
    } else done(false);
    return result;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(gauges: Gauges): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) =>
      out.push(`# HELP openlivesync_${name} ${help}`, `# TYPE openlivesync_${name} ${type}`);
    const labelled = (name: string, label: string, map: Map<string, number>) => {
      for (const [value, n] of map) out.push(`openlivesync_${name}{${label}="${value}"} ${n}`);
    };
    family("connections", "gauge", "Open WebSocket connections.");
    out.push(`openlivesync_connections ${gauges.connections}`);
    family("rooms", "gauge", "Rooms with members on this instance.");
    out.push(`openlivesync_rooms ${gauges.rooms}`);
    family("connections_opened_total", "counter", "WebSocket connections opened.");
    out.push(`openlivesync_connections_opened_total ${this.opens}`);
    family("connections_closed_total", "counter", "WebSocket connections closed, by either side.");
    out.push(`openlivesync_connections_closed_total ${this.closes}`);
    family(
      "server_closes_total",
      "counter",
      "Connections the server closed, by close code (1008 rate limit, 1009 too big, 4408 heartbeat, 4429 slow consumer, ...).",
    );
    labelled("server_closes_total", "code", this.serverCloses);
    family("messages_received_total", "counter", "Frames received from clients, by message type (other: not a known type).");
    labelled("messages_received_total", "type", nonZero(this.received));
    family("messages_sent_total", "counter", "Frames sent to clients, by message type (one per recipient).");
    labelled("messages_sent_total", "type", nonZero(this.sent));
    family("errors_total", "counter", "Error frames sent to clients, by code.");
    labelled("errors_total", "code", this.errors);
    family("rate_limited_frames_total", "counter", "Frames dropped by the rate limit.");
    out.push(`openlivesync_rate_limited_frames_total ${this.rateLimitedFrames}`);
    family("storage_duration_seconds", "histogram", "Chat storage calls, by method.");
    for (const [op, h] of this.storage) {
      for (const [i, le] of STORAGE_BUCKETS.entries())
        out.push(`openlivesync_storage_duration_seconds_bucket{op="${op}",le="${le}"} ${h.buckets[i]}`);
      out.push(`openlivesync_storage_duration_seconds_bucket{op="${op}",le="+Inf"} ${h.count}`);
      out.push(`openlivesync_storage_duration_seconds_sum{op="${op}"} ${h.sum}`);
      out.push(`openlivesync_storage_duration_seconds_count{op="${op}"} ${h.count}`);
    }
    family("storage_errors_total", "counter", "Chat storage calls that failed, by method.");
    for (const [op, h] of this.storage) out.push(`openlivesync_storage_errors_total{op="${op}"} ${h.errors}`);
    if (gauges.backplane) {
      family("backplane_up", "gauge", "1 when the backplane's connection is ready.");
      out.push(`openlivesync_backplane_up ${gauges.backplane.up ? 1 : 0}`);
      if (gauges.backplane.rttMs !== undefined) {
        family("backplane_lag_seconds", "gauge", "Round trip of one command to the backplane, measured at scrape time.");
        out.push(`openlivesync_backplane_lag_seconds ${gauges.backplane.rttMs / 1000}`);
      }
    }
    if (gauges.webhooks) renderWebhooks(gauges.webhooks, family, out);
    return `${out.join("\n")}\n`;
  }
}

/** The `openlivesync_webhook_*` families: what became of the events, and the queue now. */
function renderWebhooks(stats: WebhookStats, family: (name: string, type: string, help: string) => void, out: string[]): void {
  family(
    "webhook_events_total",
    "counter",
    "Webhook events by outcome: delivered, rejected (non-2xx, not retried), expired (retried for retryForMs), dropped (queue full), abandoned (left at close).",
  );
  for (const outcome of ["delivered", "rejected", "expired", "dropped", "abandoned"] as const) {
    out.push(`openlivesync_webhook_events_total{outcome="${outcome}"} ${stats[outcome]}`);
  }
  family("webhook_retries_total", "counter", "Webhook attempts that failed and were retried (network error, timeout, 5xx, 408, 429).");
  out.push(`openlivesync_webhook_retries_total ${stats.retries}`);
  family("webhook_queue_events", "gauge", "Webhook events waiting or in flight.");
  out.push(`openlivesync_webhook_queue_events ${stats.queued}`);
  family("webhook_queue_bytes", "gauge", "Bytes of the queued webhook bodies.");
  out.push(`openlivesync_webhook_queue_bytes ${stats.queuedBytes}`);
}

/**
 * A frame's type when it is one of `types` and written the way every client and this server write it
 * (`{"type":"…"`, type first), else "other". Read in place: the hot path allocates nothing for it.
 */
const CLIENT_TYPES = ["broadcast_event", "update_presence", "send_chat", "join_room", "leave_room", "get_chat_history", "other"] as const;
const SERVER_TYPES = ["broadcast_event", "presence_updated", "chat_message", "room_joined", "error", "chat_history", "other"] as const;
type ClientType = (typeof CLIENT_TYPES)[number];
type ServerType = (typeof SERVER_TYPES)[number];

function counters<T extends string>(types: readonly T[]): Record<T, number> {
  const out = {} as Record<T, number>;
  for (const type of types) out[type] = 0;
  return out;
}

function nonZero(counts: Record<string, number>): Map<string, number> {
  return new Map(Object.entries(counts).filter(([, n]) => n > 0));
}

/** Whether `frame` is `{"type":"<type>"…`. */
const is = (frame: string, type: string) => frame.startsWith(type, 9) && frame.charCodeAt(9 + type.length) === 34;

/** A client frame's type from its first bytes (clients that put `type` first; anything else is "other"). */
function clientTypeOf(raw: string): ClientType {
  if (!raw.startsWith(FRAME_HEAD)) return "other";
  switch (raw.charCodeAt(9)) {
    case 98: // b
      return is(raw, "broadcast_event") ? "broadcast_event" : "other";
    case 117: // u
      return is(raw, "update_presence") ? "update_presence" : "other";
    case 115: // s
      return is(raw, "send_chat") ? "send_chat" : "other";
    case 106: // j
      return is(raw, "join_room") ? "join_room" : "other";
    case 108: // l
      return is(raw, "leave_room") ? "leave_room" : "other";
    case 103: // g
      return is(raw, "get_chat_history") ? "get_chat_history" : "other";
  }
  return "other";
}

/** A frame the engine built (frames.ts puts `type` first). */
function serverTypeOf(frame: string): ServerType {
  switch (frame.charCodeAt(9)) {
    case 98: // b
      return is(frame, "broadcast_event") ? "broadcast_event" : "other";
    case 112: // p
      return is(frame, "presence_updated") ? "presence_updated" : "other";
    case 99: // c
      return is(frame, "chat_message") ? "chat_message" : is(frame, "chat_history") ? "chat_history" : "other";
    case 114: // r
      return is(frame, "room_joined") ? "room_joined" : "other";
    case 101: // e
      return is(frame, "error") ? "error" : "other";
  }
  return "other";
}

function bump(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/**
 * The fan-out with every frame counted (per recipient). Every method is an own property bound to
 * `base` (no prototype to walk), so each call site sees one shape.
 */
export function countingFanout(base: Fanout, metrics: Metrics): Fanout {
  const send = base.send.bind(base);
  const publish = base.publish.bind(base);
  const publishExcept = base.publishExcept?.bind(base);
  return {
    attach: base.attach?.bind(base),
    join: base.join?.bind(base),
    leave: base.leave?.bind(base),
    send(conn, frame) {
      if (!conn.closed) metrics.frameSent(frame, 1);
      send(conn, frame);
    },
    publish(room, frame, except) {
      metrics.frameSent(frame, room.local.size - (except !== undefined && room.local.has(except) ? 1 : 0));
      publish(room, frame, except);
    },
    publishExcept:
      publishExcept &&
      ((room, frame, skip) => {
        let skipped = 0;
        for (const conn of skip) if (room.local.has(conn)) skipped++;
        metrics.frameSent(frame, room.local.size - skipped);
        publishExcept(room, frame, skip);
      }),
  };
}

/** The `ChatStorage` methods that are timed; they all return promises. */
const TIMED = new Set(["append", "appendOnce", "getHistory", "getHistoryBefore", "getHistoryAfter"]);

/** The storage with its reads and writes timed; everything else (close, flags, own helpers) passes through. */
export function timedStorage<S extends object>(storage: S, metrics: Metrics): S {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string" || !TIMED.has(prop)) return value;
      // `appendOnce` is how the engine writes a chat: it is the `append` operation either way.
      const op = prop === "appendOnce" ? "append" : prop;
      return (...args: unknown[]) => metrics.timeStorage(op, () => value.apply(target, args));
    },
  });
}
