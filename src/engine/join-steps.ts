import type { TokenVerifier } from "../options.ts";
import { ErrorCodes } from "../protocol/codes.ts";
import type { JoinRoomPayload, RoomPermissions, StoredChatMessage, UserInfo } from "../protocol/messages.ts";
import { claimedGrant, FULL_PERMISSIONS, narrower, toPermissions } from "./permissions.ts";
import type { Ban } from "./bans.ts";
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

/**
 * What the joiner may do in the room: the token's `openlivesync.rooms` claim and `authorizeRoom`, each
 * when present, the narrower of the two. `undefined` (after answering FORBIDDEN) when either refuses or
 * `authorizeRoom` throws.
 */
export async function authorized(ctx: EngineContext, conn: Connection, roomId: string): Promise<RoomPermissions | undefined> {
  const { options, send, report } = ctx;
  const claimed = claimedGrant(conn.user, roomId);
  let permissions = claimed === null ? FULL_PERMISSIONS : toPermissions(claimed);
  if (permissions && options.authorizeRoom) {
    let granted: unknown = false;
    try {
      granted = await options.authorizeRoom(conn.user, roomId);
    } catch (error) {
      report(error, { stage: "auth" });
    }
    const given = toPermissions(granted);
    permissions = given && narrower(permissions, given);
  }
  if (!permissions && !conn.closed) send.error(conn, ErrorCodes.FORBIDDEN, `Not allowed to join room "${roomId}"`);
  return permissions;
}

/** The ban in force on the joiner's `userId` in the room, if any (never rejects: a failed lookup is reported). */
export async function findBan(ctx: EngineContext, conn: Connection, roomId: string): Promise<Ban | undefined> {
  const userId = conn.user?.userId;
  if (userId === undefined) return undefined;
  try {
    return await ctx.bans.find(roomId, userId);
  } catch (error) {
    ctx.report(error, { stage: "backplane" });
    return undefined;
  }
}

/** Tell a banned joiner, if it is still there. */
export function refuseBanned(ctx: EngineContext, conn: Connection, ban: Ban): void {
  const until = ban.expiresAt === undefined ? "until the ban is lifted" : `until ${new Date(ban.expiresAt).toISOString()}`;
  if (!conn.closed) ctx.send.error(conn, ErrorCodes.FORBIDDEN, `Banned from room "${ban.roomId}" ${until}`);
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
