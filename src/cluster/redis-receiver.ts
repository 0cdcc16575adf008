import type { BackplaneSink, MessageKind } from "./backplane.ts";
import { createCodec, decodeRecords, type WireRecord } from "./redis-codec.ts";

/** Foreign-message reports are capped at one per this window so a noisy channel cannot flood the log. */
const REPORT_WINDOW_MS = 1000;

export interface ReceiverOptions {
  instanceId: string;
  /** Rooms this instance is subscribed to: a record for any other room is in flight from before an unsubscribe. */
  rooms: ReadonlySet<string>;
  sink(): BackplaneSink | undefined;
  /** A shared document's record (see redis-documents.ts): true when it was one. */
  document(record: WireRecord): boolean;
  report(message: string, cause?: unknown): void;
}

/**
 * What arrives on the subscription connection: raw bytes, counted, our own echoes dropped by their
 * first bytes before any decoding, the rest decoded and handed to the engine. Never throws: it runs
 * inside ioredis's socket handler, where a throw would take the process down.
 */
export function createReceiver({ instanceId, rooms, sink, document, report }: ReceiverOptions) {
  const codec = createCodec(instanceId);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const stats = { bytesRead: 0, messagesRead: 0, recordsRead: 0 };
  let reportedAt = 0;
  let suppressed = 0;

  const reportForeign = (message: string) => {
    const now = Date.now();
    if (now - reportedAt < REPORT_WINDOW_MS) {
      suppressed++;
      return;
    }
    const extra = suppressed > 0 ? ` (${suppressed} more dropped since the last report)` : "";
    reportedAt = now;
    suppressed = 0;
    report(`Dropped a message from Redis that is ${message}${extra}`);
  };

  function onMessageBytes(channel: Uint8Array, bytes: Uint8Array): void {
    stats.bytesRead += channel.length + bytes.length;
    stats.messagesRead++;
    const target = sink();
    if (!target || codec.isOwn(bytes)) return;
    let raw: string;
    try {
      raw = utf8.decode(bytes);
    } catch {
      return reportForeign("not UTF-8 text");
    }
    const problem = decodeRecords(raw, (record) => {
      if (record.instanceId === instanceId) return; // our own publish, echoed by Redis
      stats.recordsRead++;
      try {
        if (document(record)) return;
        if (record.kind === "sync") target.resync();
        else if (record.kind === "control") target.control(record.frame, record.instanceId);
        else if (rooms.has(record.roomId)) target.deliver({ ...record, kind: record.kind as MessageKind });
      } catch (error) {
        report(`Applying a ${record.kind} message from instance ${record.instanceId} failed`, error);
      }
    });
    if (problem) reportForeign(problem);
  }

  return { onMessageBytes, stats };
}
