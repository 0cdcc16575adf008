import type { TokenVerifier } from "../options.ts";
import { ErrorCodes } from "../protocol/codes.ts";
import type { JoinRoomPayload, StoredChatMessage, UserInfo } from "../protocol/messages.ts";
import type { Connection } from "./connection.ts";
import type { EngineContext } from "./context.ts";

/** The asynchronous steps of a join, before and while the joiner enters its room (see membership.ts). */

/** Identity from a `join_room` token, or unverified display data. False when the token is refused. */
export async function identify(
  ctx: EngineContext,
  verifyToken: TokenVerifier | undefined,
  conn: Connection,
  payload: JoinRoomPayload,
): Promise<boolean> {
  const { send } = ctx;
  if (payload.accessToken !== undefined && !conn.verified && verifyToken) {
    const decoded = await verifyToken(payload.accessToken);
    if (conn.closed) return false;
    if (!decoded) {
      send.error(conn, ErrorCodes.UNAUTHORIZED, "accessToken could not be verified; send a valid token");
      return false;
    }
    const { sub, exp, ...claims } = decoded;
    conn.user = { ...claims, userId: decoded.userId ?? sub } as UserInfo;
    conn.verified = true;
    ctx.armExpiry(conn, exp);
  } else if (!conn.verified && (payload.name !== undefined || payload.email !== undefined)) {
    // Unverified display data, as the upstream client sends it.
    conn.user = { ...conn.user, name: payload.name ?? conn.user?.name, email: payload.email ?? conn.user?.email };
  }
  return true;
}

/** `authorizeRoom`, when set; a refusal or a throw answers FORBIDDEN. */
export async function authorized(ctx: EngineContext, conn: Connection, roomId: string): Promise<boolean> {
  const { options, send, report } = ctx;
  if (!options.authorizeRoom) return true;
  let allowed = false;
  try {
    allowed = await options.authorizeRoom(conn.user, roomId);
  } catch (error) {
    report(error, { stage: "auth" });
  }
  if (!allowed && !conn.closed) send.error(conn, ErrorCodes.FORBIDDEN, `Not allowed to join room "${roomId}"`);
  return allowed;
}

/**
 * The joiner's history: with `lastMessageId`, the messages after it when the store still has it and
 * they are at most `resumeLimit` (`resumed: true`); otherwise the newest `historyLimit`, and
 * `resumed: false` when resume was asked (the client has a gap). No `resumed` without `lastMessageId`.
 */
export async function loadJoinHistory(
  ctx: EngineContext,
  conn: Connection,
  roomId: string,
  lastMessageId: string | undefined,
): Promise<{ history: StoredChatMessage[]; resumed?: boolean }> {
  const { options, send, report } = ctx;
  try {
    if (lastMessageId !== undefined && options.resumeLimit > 0) {
      // One more than the limit tells "too many since" from "exactly the limit".
      const after = await ctx.storage.getHistoryAfter(roomId, lastMessageId, options.resumeLimit + 1);
      if (after && after.length <= options.resumeLimit) return { history: after, resumed: true };
    }
    const history = options.historyLimit > 0 ? await ctx.storage.getHistory(roomId, options.historyLimit) : [];
    return lastMessageId === undefined ? { history } : { history, resumed: false };
  } catch (error) {
    report(error, { stage: "history" });
    send.error(conn, ErrorCodes.STORAGE_ERROR, "Chat history could not be loaded; live messages still arrive");
    return lastMessageId === undefined ? { history: [] } : { history: [], resumed: false };
  }
}
