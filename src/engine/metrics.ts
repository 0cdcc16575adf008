import { CloseCodes, ErrorCodes } from "../protocol/codes.ts";
import type { ClientMessage } from "../protocol/messages.ts";
import type { WebhookStats } from "../webhooks/dispatcher.ts";
import { REFUSAL_REASONS, type RefusalReason } from "./refusals.ts";
import {
  CLIENT_TYPES,
  clientTypeIndex,
  clientTypeOf,
  nonZero,
  SENT_ERROR,
  type SentType,
  SERVER_TYPES,
  serverTypeOf,
} from "./frame-types.ts";

/** Upper bounds (seconds) of the storage latency histogram's buckets. */
const STORAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const ERROR_HEAD = '{"type":"error","payload":{"code":"';

/** The label values `errors_total{code}` and `server_closes_total{code}` take; anything else counts as `other`. */
const ERROR_LABELS: ReadonlySet<string> = new Set(Object.values(ErrorCodes));
const CLOSE_LABELS: ReadonlySet<number> = new Set(Object.values(CloseCodes));
const errorLabel = (code: string) => (ERROR_LABELS.has(code) ? code : "other");

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

/** Where the engine counts the frames clients send; `Metrics` is one. */
export interface ReceiveCounter {
  /** A frame that parsed as a message of `type` arrived. */
  messageReceived(type: ClientMessage["type"]): void;
  /** A frame arrived that is not parsed (refused first) or did not parse: counted by its head. */
  frameReceived(raw: string): void;
}

/** Where the engine counts the frames it sends (one per recipient); `Metrics` is one. */
export interface SendCounter {
  /** `n` frames of a type the sender knows went out (SENT_EVENT, SENT_CHAT, SENT_PRESENCE). */
  sent(type: SentType, n: number): void;
  /** `frame` went to `n` sockets; its type is read from its head. */
  frameSent(frame: string, n: number): void;
  /** An `error` frame with `code` went to one socket. */
  errorSent(code: string): void;
}

/**
 * The engine's counters, rendered in Prometheus text format (names prefixed `openlivesync_`). Each count
 * is one map update on a path that already does far more; label values come from fixed sets (message
 * types, error codes, close codes), so a client cannot grow the label space.
 */
export class Metrics implements ReceiveCounter, SendCounter {
  /**
   * Per message type, indexed by the type's position in CLIENT_TYPES / SERVER_TYPES: counting a frame
   * is one typed-array increment (a property picked by name would be a megamorphic keyed access).
   */
  private readonly received = new Float64Array(CLIENT_TYPES.length);
  private readonly sentCounts = new Float64Array(SERVER_TYPES.length);
  private readonly errors = new Map<string, number>();
  private readonly serverCloses = new Map<string, number>();
  private readonly storage = new Map<string, Histogram>();
  closes = 0;
  opens = 0;
  rateLimitedFrames = 0;
  /** Refused upgrades by reason (set at scrape time). */
  refusedUpgrades: Record<RefusalReason, number> | undefined;

  messageReceived(type: ClientMessage["type"]): void {
    this.received[clientTypeIndex(type)]!++;
  }

  frameReceived(raw: string): void {
    this.received[clientTypeOf(raw)]!++;
  }

  sent(type: SentType, n: number): void {
    this.sentCounts[type]! += n;
  }

  frameSent(frame: string, n: number): void {
    if (n <= 0) return;
    const type = serverTypeOf(frame);
    this.sentCounts[type]! += n;
    if (type === SENT_ERROR && frame.startsWith(ERROR_HEAD)) {
      const code = frame.slice(ERROR_HEAD.length, frame.indexOf('"', ERROR_HEAD.length));
      bump(this.errors, errorLabel(code), n);
    }
  }

  errorSent(code: string): void {
    this.sentCounts[SENT_ERROR]!++;
    bump(this.errors, errorLabel(code));
  }

  /**
   * The server closed a connection with `code` (4429, 4408, 1008, …): counted under the code when it is
   * one of {@link CloseCodes}, else under `other` (the server API may close with any 3000–4999 code).
   */
  serverClosed(code: number): void {
    bump(this.serverCloses, CLOSE_LABELS.has(code) ? String(code) : "other");
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

  /** Every frame received and sent, every error, every storage call, summed (the admin page's charts). */
  totals(): { received: number; sent: number; errors: number; storageCalls: number; storageSeconds: number } {
    let [received, sent, errors, storageCalls, storageSeconds] = [0, 0, 0, 0, 0];
    for (const n of this.received) received += n;
    for (const n of this.sentCounts) sent += n;
    for (const n of this.errors.values()) errors += n;
    for (const h of this.storage.values()) {
      storageCalls += h.count;
      storageSeconds += h.sum;
      errors += h.errors;
    }
    return { received, sent, errors, storageCalls, storageSeconds };
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
      "Connections the server closed, by close code (1001 shutdown, 1008 rate limit, 1009 too big, 4401 token expired, 4403 kicked, 4408 heartbeat, 4429 slow consumer, other).",
    );
    labelled("server_closes_total", "code", this.serverCloses);
    family("messages_received_total", "counter", "Frames received from clients, by message type (other: not a known type).");
    labelled("messages_received_total", "type", nonZero(CLIENT_TYPES, this.received));
    family("messages_sent_total", "counter", "Frames sent to clients, by message type (one per recipient).");
    labelled("messages_sent_total", "type", nonZero(SERVER_TYPES, this.sentCounts));
    family("errors_total", "counter", "Error frames sent to clients, by code (other: not a documented code).");
    labelled("errors_total", "code", this.errors);
    family("rate_limited_frames_total", "counter", "Frames dropped by the rate limit.");
    out.push(`openlivesync_rate_limited_frames_total ${this.rateLimitedFrames}`);
    family(
      "upgrades_refused_total",
      "counter",
      "WebSocket upgrades refused, by reason: origin (403), auth (401, 500), full (503, maxConnections), rate (429 or 1008, maxConnectionsPerIp).",
    );
    for (const reason of REFUSAL_REASONS)
      out.push(`openlivesync_upgrades_refused_total{reason="${reason}"} ${this.refusedUpgrades?.[reason] ?? 0}`);
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

function bump(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}
