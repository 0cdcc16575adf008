import { ConfigError } from "../errors.ts";
import { numberOption } from "../util/number-option.ts";

/** The events a webhook receiver can get, in the order the README describes them. */
export const WEBHOOK_EVENTS = ["member.joined", "member.left", "room.emptied", "chat.stored", "chat.deleted", "document.updated"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/**
 * Signed webhooks: each lifecycle event is POSTed to `url` by the instance where it happened.
 * @example
 * createServer({ webhooks: { url: "https://app.example/hooks/live", secret: process.env.WEBHOOK_SECRET! } });
 */
export interface WebhookOptions {
  /** Where events are POSTed (http or https). */
  url: string;
  /** Key of the HMAC-SHA256 signature in the `OpenLiveSync-Signature` header. */
  secret: string;
  /** Which events to send. @default every event in {@link WEBHOOK_EVENTS} */
  events?: readonly WebhookEventType[];
  /** How long one POST may take (connect, send, response headers) before it counts as failed. @default 10000 */
  timeoutMs?: number;
  /** Events waiting to be delivered, at most; past it new events are dropped and counted. @default 10000 */
  maxQueue?: number;
  /** Bytes of JSON bodies waiting to be delivered, at most (same overflow as `maxQueue`). @default 33554432 */
  maxQueueBytes?: number;
  /** POSTs in flight at once (to different rooms; one room's events go one at a time, in order). @default 4 */
  concurrency?: number;
  /** First retry delay; it doubles on each retry, with jitter. @default 500 */
  retryDelayMs?: number;
  /** Longest retry delay. @default 30000 */
  maxRetryDelayMs?: number;
  /** How long an event is retried before it is given up (counted and reported). @default 600000 */
  retryForMs?: number;
  /** How long `close()` keeps delivering what is queued before it gives up. @default 5000 */
  closeTimeoutMs?: number;
  /**
   * `document.updated`: at most one event per document per this many ms, sent when the window that the
   * document's first change opened ends, with its state vector then. @default 2000
   */
  documentDebounceMs?: number;
}

export type ResolvedWebhookOptions = Required<WebhookOptions>;

/**
 * The options with their defaults, checked: a URL that is not http(s), an empty secret, an unknown event
 * name or a bad number throws a `ConfigError` at start-up. Resolving resolved options changes nothing.
 */
export function resolveWebhookOptions(options: WebhookOptions): ResolvedWebhookOptions {
  if (!options || typeof options !== "object") throw new ConfigError("Option webhooks must be an object { url, secret, events? }");
  const { url, secret } = options;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`Option webhooks.url must be an absolute http(s) URL, got "${String(url)}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(`Option webhooks.url must be an http or https URL, got "${url}"`);
  }
  if (typeof secret !== "string" || secret === "") throw new ConfigError("Option webhooks.secret must be a non-empty string");
  const events = options.events ?? WEBHOOK_EVENTS;
  if (!Array.isArray(events) || events.length === 0) {
    throw new ConfigError(`Option webhooks.events must list at least one of ${WEBHOOK_EVENTS.join(", ")}`);
  }
  for (const event of events) {
    if (!WEBHOOK_EVENTS.includes(event)) {
      throw new ConfigError(`Option webhooks.events: unknown event "${String(event)}" (known: ${WEBHOOK_EVENTS.join(", ")})`);
    }
  }
  const retryDelayMs = numberOption("webhooks.retryDelayMs", options.retryDelayMs, 500, "positive");
  return {
    url,
    secret,
    events: [...new Set(events)],
    timeoutMs: numberOption("webhooks.timeoutMs", options.timeoutMs, 10_000, "positive"),
    maxQueue: numberOption("webhooks.maxQueue", options.maxQueue, 10_000, "positive"),
    maxQueueBytes: numberOption("webhooks.maxQueueBytes", options.maxQueueBytes, 32 * 1024 * 1024, "positive"),
    concurrency: Math.floor(numberOption("webhooks.concurrency", options.concurrency, 4, "positive")) || 1,
    retryDelayMs,
    maxRetryDelayMs: Math.max(retryDelayMs, numberOption("webhooks.maxRetryDelayMs", options.maxRetryDelayMs, 30_000, "positive")),
    retryForMs: numberOption("webhooks.retryForMs", options.retryForMs, 600_000),
    closeTimeoutMs: numberOption("webhooks.closeTimeoutMs", options.closeTimeoutMs, 5000),
    documentDebounceMs: numberOption("webhooks.documentDebounceMs", options.documentDebounceMs, 2000),
  };
}
