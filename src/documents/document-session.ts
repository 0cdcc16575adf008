import type { ResolvedDocumentOptions } from "./options.ts";
import type { DocumentMetrics } from "./document-metrics.ts";
import type { DocumentSession, LiveDocument } from "./live-document.ts";
import { DocumentCloseCodes } from "./codes.ts";
import { checkAwareness, checkUpdate, encodeSyncStep2, type SyncMessage } from "./sync-messages.ts";

/** Why a message ends its connection: a close code and a reason that names no user content. */
export interface Refusal {
  code: number;
  reason: string;
}

/** Awareness updates allowed per connection: `rate` a second on average, bursts of twice that. */
export class AwarenessBucket {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly rate: number) {
    this.tokens = rate * 2;
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.rate * 2, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

export interface SessionContext {
  options: ResolvedDocumentOptions;
  metrics: DocumentMetrics;
}

/**
 * One checked message from `session` on `doc`, the same for both protocols: sync step 1 is answered
 * with what the client lacks; an update (or step 2) is applied and fanned out if the session may write;
 * awareness is bounded, applied and fanned out; query-awareness is answered. `reply` sends to this client
 * in its protocol's framing. Returns a refusal when the connection must close; a read-only write returns
 * `"read-only"` so the protocol can tell the client its way.
 */
export function handleSyncMessage(
  ctx: SessionContext,
  doc: LiveDocument,
  session: DocumentSession,
  bucket: AwarenessBucket,
  message: SyncMessage,
  reply: (frame: Uint8Array) => void,
): Refusal | "read-only" | undefined {
  const { options, metrics } = ctx;
  switch (message.type) {
    case "step1":
      reply(encodeSyncStep2(doc.encodeState(message.stateVector)));
      return undefined;
    case "update": {
      if (session.access !== "write") {
        metrics.refusedUpdates++;
        // Step 2 of a client with nothing new is the empty update (2 bytes): nothing was refused.
        return message.update.byteLength > 2 ? "read-only" : undefined;
      }
      checkUpdate(message.update);
      if (doc.wouldExceed(message.update.byteLength, options.maxDocumentBytes)) {
        metrics.refusedUpdates++;
        return { code: DocumentCloseCodes.DOCUMENT_TOO_LARGE, reason: `Document would pass ${options.maxDocumentBytes} bytes` };
      }
      doc.apply(message.update, session);
      metrics.updates++;
      return undefined;
    }
    case "awareness":
      if (message.update.byteLength > options.maxAwarenessBytes) {
        return { code: DocumentCloseCodes.MESSAGE_TOO_BIG, reason: `Awareness update larger than ${options.maxAwarenessBytes} bytes` };
      }
      if (!bucket.take()) return { code: DocumentCloseCodes.AWARENESS_RATE, reason: "Awareness updates too frequent" };
      {
        const ids = checkAwareness(message.update);
        doc.applyAwareness(message.update, session);
        const bump = doc.removedAwareness(ids);
        if (bump) reply(bump);
      }
      return undefined;
    case "query-awareness": {
      const frame = doc.awarenessFrame();
      if (frame) reply(frame);
      return undefined;
    }
  }
}
