import { backgroundTimeout } from "../util/async.ts";
import type { WebhookEventType } from "./options.ts";
import { ATTEMPT_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER } from "./signature.ts";

/** One event on its way: its body is encoded once, when it happens, and signed again on each attempt. */
export interface WebhookDelivery {
  id: string;
  type: WebhookEventType;
  roomId: string;
  body: Uint8Array<ArrayBuffer>;
  /** Attempts made so far. */
  attempts: number;
  /** When the first attempt failed (ms since the epoch), for `retryForMs`. */
  failingSince?: number;
}

/** What one POST came to. */
export type AttemptResult =
  | { outcome: "delivered" }
  /**
   * A network error or a timeout (no `status`), or a 5xx, 408 or 429: worth another try (`retryAfterMs`
   * from `Retry-After`).
   */
  | { outcome: "retry"; error: Error; status?: number; retryAfterMs?: number }
  /** Any other answer (4xx, 3xx): the receiver refuses this event; retrying would get the same. */
  | { outcome: "rejected"; error: Error };

export interface PostTarget {
  url: string;
  timeoutMs: number;
  sign: (timestamp: number, body: Uint8Array) => Promise<string>;
}

/**
 * POSTs `delivery` once. `abort` is the caller's handle on the request (`close()` aborts what is still in
 * flight at its deadline); the per-request timeout aborts it too. Never rejects.
 */
export async function postOnce(target: PostTarget, delivery: WebhookDelivery, abort: AbortController): Promise<AttemptResult> {
  const timer = backgroundTimeout(() => abort.abort(new Error(`no answer within ${target.timeoutMs} ms`)), target.timeoutMs);
  try {
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(target.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [SIGNATURE_HEADER]: await target.sign(timestamp, delivery.body),
        [EVENT_ID_HEADER]: delivery.id,
        [EVENT_TYPE_HEADER]: delivery.type,
        [ATTEMPT_HEADER]: String(delivery.attempts + 1),
      },
      body: delivery.body,
      // A redirect is an answer, not a hop: a POST must not turn into a GET elsewhere.
      redirect: "manual",
      signal: abort.signal,
    });
    // The answer's body is not read: dropping it frees the connection without buffering what it holds.
    response.body?.cancel().catch(() => {});
    return classify(response);
  } catch (error) {
    const reason = abort.signal.aborted ? abort.signal.reason : error;
    return { outcome: "retry", error: reason instanceof Error ? reason : new Error(String(reason)) };
  } finally {
    clearTimeout(timer);
  }
}

function classify(response: Response): AttemptResult {
  const { status } = response;
  if (status >= 200 && status < 300) return { outcome: "delivered" };
  const error = new Error(`the webhook receiver answered HTTP ${status}`);
  if (status >= 500 || status === 429 || status === 408) return { outcome: "retry", error, status, retryAfterMs: retryAfter(response) };
  return { outcome: "rejected", error };
}

/** `Retry-After` in seconds (the date form is rare for webhooks and ignored). */
function retryAfter(response: Response): number | undefined {
  const value = response.headers.get("retry-after");
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value) * 1000;
}
