import { WebhookError, type ErrorStage, type WebhookErrorCode } from "../errors.ts";
import { backgroundTimeout, sleep } from "../util/async.ts";
import { postOnce, type AttemptResult, type PostTarget, type WebhookDelivery } from "./delivery.ts";
import type { ResolvedWebhookOptions } from "./options.ts";
import { WebhookQueue, type Lane } from "./queue.ts";

/** Failures other than an overflow are reported at most this often per kind (the rest are counted). */
const REPORT_EVERY_MS = 60_000;

type Report = (error: unknown, context: { stage: ErrorStage }) => void;

/** What became of the events so far (counters since start, plus the queue now). */
export interface WebhookStats {
  /** Events waiting or in flight. */
  queued: number;
  /** Bytes of their JSON bodies. */
  queuedBytes: number;
  /** POSTs in flight. */
  inFlight: number;
  /** Events the receiver accepted (2xx). */
  delivered: number;
  /** Failed attempts that were retried (network error, timeout, 5xx, 408, 429). */
  retries: number;
  /** Events the receiver refused with another status (4xx, 3xx): not retried, dropped. */
  rejected: number;
  /** Events given up after `retryForMs` of failures. */
  expired: number;
  /** Events that did not fit in the queue (or came after `close()`): never sent. */
  dropped: number;
  /** Events still queued when `close()` gave up. */
  abandoned: number;
}

/**
 * Sends the queued events: up to `concurrency` POSTs at once, one per room at a time (a room's events in
 * order), each retried with exponential backoff and jitter until delivered, refused or `retryForMs` old.
 * Failures are counted in {@link WebhookStats} and reported as {@link WebhookError}s: an overflow once per
 * episode (until the queue drains to half), other failures at most once a minute per kind.
 */
export class WebhookDispatcher {
  readonly stats: Omit<WebhookStats, "queued" | "queuedBytes" | "inFlight"> = {
    delivered: 0,
    retries: 0,
    rejected: 0,
    expired: 0,
    dropped: 0,
    abandoned: 0,
  };
  private readonly queue: WebhookQueue;
  private readonly target: PostTarget;
  /** One handle per POST in flight, so `close()` can abort them at its deadline. */
  private readonly inFlight = new Set<AbortController>();
  /** An overflow was reported and is not over (the queue has not drained to half since). */
  private overflowing = false;
  /** Other failures: when each kind was last reported, and how many happened since. */
  private readonly lastReports = new Map<WebhookErrorCode, { at: number; since: number }>();
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private abandoned = false;

  constructor(
    private readonly options: ResolvedWebhookOptions,
    sign: PostTarget["sign"],
    private readonly report: Report,
  ) {
    this.queue = new WebhookQueue(options.maxQueue, options.maxQueueBytes);
    this.target = { url: options.url, timeoutMs: options.timeoutMs, sign };
  }

  /** Whether an event of `bytes` would be queued (false: count it dropped without building it further). */
  accepts(bytes = 0): boolean {
    return this.closing === undefined && this.queue.fits(bytes);
  }

  /** Queues `delivery`, or counts it dropped when the queue is full or closing. */
  enqueue(delivery: WebhookDelivery): void {
    if (this.closing === undefined && this.queue.push(delivery)) return this.pump();
    this.drop();
  }

  /** An event that was not queued. */
  drop(): void {
    this.stats.dropped++;
    if (this.closing || this.overflowing) return;
    this.overflowing = true;
    const { maxQueue, maxQueueBytes } = this.options;
    const message = `webhook queue full (${this.queue.size} events, ${this.queue.bytes} bytes; bounds ${maxQueue} events, ${maxQueueBytes} bytes): new events are dropped until it drains to half`;
    this.report(new WebhookError("WEBHOOK_QUEUE_FULL", message), { stage: "webhook" });
  }

  current(): WebhookStats {
    return { ...this.stats, queued: this.queue.size, queuedBytes: this.queue.bytes, inFlight: this.inFlight.size };
  }

  /**
   * Stops taking events and delivers what is queued for up to `closeTimeoutMs` (waiting retries get one
   * attempt at once); then aborts what is in flight, drops the rest and reports how many. Leaves no timer.
   */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    this.queue.wakeAll(false);
    this.pump();
    if (this.queue.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => (this.drained = resolve)),
      new Promise<void>((resolve) => (timer = backgroundTimeout(resolve, this.options.closeTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (this.queue.size === 0) return;
    this.abandoned = true;
    for (const abort of this.inFlight) abort.abort(new Error("webhooks closed"));
    const left = this.queue.clear();
    this.stats.abandoned += left;
    this.report(
      new WebhookError(
        "WEBHOOK_CLOSE_TIMEOUT",
        `${left} webhook events were not delivered within ${this.options.closeTimeoutMs} ms of close; given up`,
      ),
      { stage: "webhook" },
    );
    // Let the aborted requests settle, so nothing of ours is left running when close() resolves.
    await sleep(0);
  }

  private pump(): void {
    while (this.inFlight.size < this.options.concurrency) {
      const lane = this.queue.take();
      if (!lane) return;
      void this.send(lane);
    }
  }

  private async send(lane: Lane): Promise<void> {
    const delivery = lane.events[0]!;
    const abort = new AbortController();
    this.inFlight.add(abort);
    const result = await postOnce(this.target, delivery, abort);
    this.inFlight.delete(abort);
    if (this.abandoned) return;
    delivery.attempts++;
    this.settle(lane, delivery, result);
    this.pump();
    if (this.drained && this.queue.size === 0) this.drained();
  }

  private settle(lane: Lane, delivery: WebhookDelivery, result: AttemptResult): void {
    if (result.outcome === "delivered") {
      this.stats.delivered++;
      // The receiver answers: rooms that found it unreachable need not wait out their backoff.
      this.queue.wakeAll(true);
      return this.finish(lane);
    }
    if (result.outcome === "rejected") {
      this.stats.rejected++;
      this.reportThrottled("WEBHOOK_REJECTED", `webhook ${delivery.type} ${delivery.id} refused (${result.error.message}); not retried`);
      return this.finish(lane);
    }
    const now = Date.now();
    delivery.failingSince ??= now;
    if (now - delivery.failingSince >= this.options.retryForMs) {
      this.stats.expired++;
      this.reportThrottled(
        "WEBHOOK_EXPIRED",
        `webhook ${delivery.type} ${delivery.id} given up after ${delivery.attempts} attempts`,
        result.error,
      );
      return this.finish(lane);
    }
    this.stats.retries++;
    this.reportThrottled("WEBHOOK_RETRYING", `webhook delivery failing (${result.error.message}); retrying with backoff`, result.error);
    const timer = backgroundTimeout(
      () => {
        this.queue.wake(lane);
        this.pump();
      },
      this.retryDelay(delivery.attempts, result.retryAfterMs),
    );
    this.queue.wait(lane, timer, result.status === undefined);
  }

  private finish(lane: Lane): void {
    this.queue.finish(lane);
    if (this.overflowing && this.queue.belowHalf) this.overflowing = false;
  }

  /** Exponential from `retryDelayMs`, capped, times 0.5–1 (jitter spreads the rooms' retries apart). */
  private retryDelay(attempts: number, retryAfterMs: number | undefined): number {
    const { retryDelayMs, maxRetryDelayMs } = this.options;
    const exponential = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(attempts - 1, 30));
    const jittered = exponential * (0.5 + Math.random() / 2);
    return Math.min(maxRetryDelayMs, Math.max(jittered, retryAfterMs ?? 0));
  }

  /** Reports a failure unless its kind was reported less than {@link REPORT_EVERY_MS} ago (then counts it). */
  private reportThrottled(code: WebhookErrorCode, message: string, cause?: unknown): void {
    const now = Date.now();
    const last = this.lastReports.get(code);
    if (last && now - last.at < REPORT_EVERY_MS) {
      last.since++;
      return;
    }
    const more = last?.since ? ` (and ${last.since} more since the last report)` : "";
    this.lastReports.set(code, { at: now, since: 0 });
    this.report(new WebhookError(code, message + more, { cause }), { stage: "webhook" });
  }
}
