/**
 * The instance's recent metrics, kept by the server itself for the admin page's charts (no Prometheus
 * needed): one sample every `intervalMs`, the newest `capacity` of them in one preallocated array, so
 * the memory is fixed (720 samples × 7 numbers × 8 bytes = 40 KB for an hour at 5 s). The timer runs
 * only between `start` (the HTTP API is mounted) and `stop` (the server closes), and never keeps the
 * process alive.
 */
import { backgroundInterval } from "../util/async.ts";

/** Counters since the engine started, and gauges now: what a sample is computed from. */
export interface MetricTotals {
  connections: number;
  rooms: number;
  /** Frames received from clients. */
  received: number;
  /** Frames sent to clients (one per recipient). */
  sent: number;
  /** Error frames sent to clients, plus failed chat storage calls. */
  errors: number;
  /** Chat storage calls that finished, and their summed duration in seconds. */
  storageCalls: number;
  storageSeconds: number;
}

/** One point of the charts: gauges at `at`, rates and means over the interval before it. */
export interface MetricSample {
  /** When it was taken (ms since the epoch). */
  at: number;
  connections: number;
  rooms: number;
  receivedPerSecond: number;
  sentPerSecond: number;
  errorsPerSecond: number;
  /** Mean duration of the chat storage calls that finished in the interval, in ms; `null` when none did. */
  storageMs: number | null;
}

/** `GET /api/admin/metrics`: this instance's samples, oldest first. */
export interface MetricHistoryView {
  /** The samples are this instance's own (another instance keeps its own). */
  scope: "instance";
  /** The backplane's id for this instance, when there is a backplane. */
  instanceId?: string;
  intervalMs: number;
  /** How many samples are kept at most. */
  capacity: number;
  samples: MetricSample[];
}

/** Numbers kept per sample, in the order of `MetricSample`'s fields. */
const FIELDS = 7;

export class MetricHistory {
  readonly intervalMs: number;
  readonly capacity: number;
  private readonly read: () => MetricTotals;
  private readonly instanceId: string | undefined;
  /** `capacity` samples of FIELDS numbers each, a ring: `next` is where the next one goes. */
  private ring: Float64Array | undefined;
  private next = 0;
  private count = 0;
  private last: (MetricTotals & { at: number }) | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(read: () => MetricTotals, options: { intervalMs?: number; capacity?: number; instanceId?: string } = {}) {
    this.read = read;
    this.intervalMs = options.intervalMs ?? 5000;
    this.capacity = options.capacity ?? 3600_000 / this.intervalMs;
    this.instanceId = options.instanceId;
  }

  /** Start sampling (again a no-op while it runs). The first sample comes `intervalMs` from now. */
  start(): void {
    if (this.timer) return;
    this.ring ??= new Float64Array(this.capacity * FIELDS);
    this.last = { ...this.read(), at: Date.now() };
    this.timer = backgroundInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Take one sample now (the timer calls it; tests may too, after `start`). */
  sample(now = Date.now()): void {
    const { ring, last } = this;
    if (!ring || !last) return;
    const totals = this.read();
    const seconds = Math.max((now - last.at) / 1000, 0.001);
    const calls = totals.storageCalls - last.storageCalls;
    const at = this.next * FIELDS;
    ring[at] = now;
    ring[at + 1] = totals.connections;
    ring[at + 2] = totals.rooms;
    ring[at + 3] = (totals.received - last.received) / seconds;
    ring[at + 4] = (totals.sent - last.sent) / seconds;
    ring[at + 5] = (totals.errors - last.errors) / seconds;
    ring[at + 6] = calls > 0 ? ((totals.storageSeconds - last.storageSeconds) * 1000) / calls : Number.NaN;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    this.last = { ...totals, at: now };
  }

  /** The samples kept, oldest first. */
  samples(): MetricSample[] {
    const out: MetricSample[] = [];
    const { ring } = this;
    if (!ring) return out;
    const first = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) {
      const at = ((first + i) % this.capacity) * FIELDS;
      const storage = ring[at + 6]!;
      out.push({
        at: ring[at]!,
        connections: ring[at + 1]!,
        rooms: ring[at + 2]!,
        receivedPerSecond: round(ring[at + 3]!),
        sentPerSecond: round(ring[at + 4]!),
        errorsPerSecond: round(ring[at + 5]!),
        storageMs: Number.isNaN(storage) ? null : round(storage),
      });
    }
    return out;
  }

  view(): MetricHistoryView {
    return {
      scope: "instance",
      ...(this.instanceId === undefined ? {} : { instanceId: this.instanceId }),
      intervalMs: this.intervalMs,
      capacity: this.capacity,
      samples: this.samples(),
    };
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;
