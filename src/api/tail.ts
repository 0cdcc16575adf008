import type { Context } from "hono";
import type { ServerApi } from "../engine/server-api.ts";

/** Frames queued for a slow reader at most; past it frames are dropped and a `dropped` event says how many. */
const MAX_QUEUED = 512;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/**
 * `GET /api/rooms/:roomId/tail`: every frame this instance sends the room's members, as server-sent
 * events (`data: <frame>`), from the moment of the request until the client goes away. The room is
 * watched only while a tail is open; a reader that falls behind loses frames, never the server's memory.
 */
export function tail(c: Context, api: ServerApi, roomId: string): Response {
  const encoder = new TextEncoder();
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let dropped = 0;
        const push = (text: string) => controller.enqueue(encoder.encode(text));
        const unwatch = api.watch(roomId, (frame) => {
          if ((controller.desiredSize ?? 0) <= 0) return void dropped++;
          if (dropped > 0) {
            push(`event: dropped\ndata: ${dropped}\n\n`);
            dropped = 0;
          }
          push(`data: ${frame}\n\n`);
        });
        const keepalive = setInterval(() => {
          if ((controller.desiredSize ?? 0) > 0) push(": keepalive\n\n");
        }, KEEPALIVE_MS);
        stop = () => {
          unwatch();
          clearInterval(keepalive);
        };
        push(": watching\n\n");
      },
      cancel() {
        stop();
      },
    },
    { highWaterMark: MAX_QUEUED },
  );
  c.req.raw.signal?.addEventListener("abort", () => stop());
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
  });
}
