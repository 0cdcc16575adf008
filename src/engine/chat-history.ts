import { ErrorCodes } from "../protocol/codes.ts";
import { chatHistoryFrame } from "../protocol/frames.ts";
import type { GetChatHistoryPayload } from "../protocol/messages.ts";
import type { Connection } from "./connection.ts";
import type { EngineContext } from "./context.ts";

/** Messages in a `chat_history` page when `get_chat_history` names no `limit`. */
const DEFAULT_PAGE = 50;

/**
 * `get_chat_history`: a page of the room's history older than a message, answered to the asker alone.
 * One at a time per connection (a page names the previous page's oldest id anyway): a second one while
 * the first is loading gets RATE_LIMITED, so a client cannot queue unbounded reads (an emulated page can
 * cost many `getHistory` calls).
 */
export function createChatHistory(ctx: EngineContext): (conn: Connection, payload?: GetChatHistoryPayload) => void {
  const { send, report, storage, guard } = ctx;
  /** Connections with a `get_chat_history` loading. */
  const paging = new WeakSet<Connection>();

  async function loadPage(conn: Connection, roomId: string, payload: GetChatHistoryPayload): Promise<void> {
    let page: Awaited<ReturnType<typeof storage.getHistoryBefore>>;
    try {
      page = await storage.getHistoryBefore(roomId, payload.before, payload.limit ?? DEFAULT_PAGE);
    } catch (error) {
      report(error, { stage: "history" });
      return send.error(conn, ErrorCodes.STORAGE_ERROR, "Chat history could not be loaded; ask again");
    }
    if (conn.closed) return;
    if (!page)
      return send.error(conn, ErrorCodes.INVALID_PAYLOAD, `Invalid get_chat_history payload: before is not a message of room "${roomId}"`);
    send.to(conn, chatHistoryFrame({ roomId, messages: page.messages, hasMore: page.hasMore }));
  }

  function history(conn: Connection, payload: GetChatHistoryPayload = {}): void {
    if (paging.has(conn)) {
      if (guard.mayWarn(conn)) send.error(conn, ErrorCodes.RATE_LIMITED, "A get_chat_history is still loading; wait for its chat_history");
      return;
    }
    paging.add(conn);
    loadPage(conn, conn.room!.id, payload)
      .catch((error) => report(error, { stage: "message" }))
      .finally(() => paging.delete(conn));
  }

  return history;
}
