import { ErrorCodes, ProtocolError } from "../errors.ts";
import { CloseCodes } from "../protocol/codes.ts";
import type { ServerInputParser } from "../protocol/validate.ts";
import { isPlainObject } from "../util/json.ts";
import type { Ban } from "./bans.ts";
import type { EngineContext } from "./context.ts";
import type { DisconnectOptions, DisconnectTarget } from "./server-api.ts";

/**
 * The server API's orders that reach every instance: disconnects and bans are applied here and sent to
 * the other instances on the backplane's control channel, which apply them to their own connections.
 */

export const invalid = (message: string) => new ProtocolError(ErrorCodes.INVALID_PAYLOAD, message);

/**
 * A disconnect as it crosses instances: `{ op: "disconnect", target, code, reason }`; with `roomId`, only
 * the target's connections in that room (a ban).
 */
export interface DisconnectOrder {
  op: "disconnect";
  target: DisconnectTarget;
  code: number;
  reason: string;
  roomId?: string;
}

/** A ban made or lifted on another instance: remembered or forgotten here, and (made) its user's connections in the room closed. */
export type BanOrder = { op: "ban"; ban: Ban } | { op: "unban"; roomId: string; userId: string };

/** The close of a banned user's connections in the room. */
export const BANNED = { code: CloseCodes.KICKED, reason: "Banned from this room" };

export function checkTarget(target: unknown): DisconnectTarget {
  if (isPlainObject(target)) {
    const { connectionId, userId } = target;
    const ok = (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= 256;
    if (ok(connectionId) && userId === undefined) return { connectionId: connectionId as string };
    if (ok(userId) && connectionId === undefined) return { userId: userId as string };
  }
  throw invalid("disconnect target must be { connectionId } or { userId }, a non-empty string of at most 256 characters");
}

/** `disconnect`'s close code and reason, checked by `input.close` and defaulted. */
export function closeOf(input: ServerInputParser, options: DisconnectOptions = {}): { code: number; reason: string } {
  const { code = CloseCodes.KICKED, reason = "Disconnected by the server" } = input.close(options);
  return { code, reason };
}

/** Close the matching connections of this instance; how many there were. */
export function kickHere(ctx: EngineContext, { target, code, reason, roomId }: Omit<DisconnectOrder, "op">): number {
  const match =
    "connectionId" in target
      ? (c: { id: string }) => c.id === target.connectionId
      : (c: { user?: { userId?: string } }) => c.user?.userId === target.userId;
  let closed = 0;
  for (const conn of [...ctx.rooms.connections()]) {
    if (conn.closed || !match(conn) || (roomId !== undefined && conn.room?.id !== roomId)) continue;
    ctx.drop(conn, code, reason);
    closed++;
  }
  return closed;
}

/** Apply the disconnects other instances send on the control channel. */
export function obeyControl(ctx: EngineContext, input: ServerInputParser, cluster: NonNullable<EngineContext["cluster"]>): void {
  cluster.onControl = (body, instanceId) => {
    let order: DisconnectOrder | BanOrder | undefined;
    try {
      order = JSON.parse(body);
      if (order?.op === "ban") return obeyBan(ctx, input, order.ban);
      if (order?.op === "unban") return void ctx.bans.forget(input.roomId(order.roomId), input.userId(order.userId));
      if (order?.op !== "disconnect") throw new Error(`unknown op ${String((order as { op?: unknown } | undefined)?.op)}`);
      const roomId = order.roomId === undefined ? undefined : input.roomId(order.roomId);
      kickHere(ctx, { target: checkTarget(order.target), ...closeOf(input, { code: order.code, reason: order.reason }), roomId });
    } catch (error) {
      ctx.report(
        new ProtocolError(ErrorCodes.INVALID_MESSAGE, `Ignored a control message from instance ${instanceId}: ${(error as Error).message}`),
        {
          stage: "backplane",
        },
      );
    }
  };
}

/** Remember a ban another instance made and close its user's connections in the room here. */
function obeyBan(ctx: EngineContext, input: ServerInputParser, ban: Ban): void {
  if (!isPlainObject(ban) || typeof ban.createdAt !== "number" || (ban.expiresAt !== undefined && typeof ban.expiresAt !== "number"))
    throw new Error("malformed ban");
  const checked: Ban = { ...ban, roomId: input.roomId(ban.roomId), userId: input.userId(ban.userId) };
  ctx.bans.remember(checked);
  kickHere(ctx, { target: { userId: checked.userId }, roomId: checked.roomId, ...BANNED });
}
