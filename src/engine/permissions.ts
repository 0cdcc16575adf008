import type { Access, RoomPermissions, UserInfo } from "../protocol/messages.ts";
import { isPlainObject } from "../util/json.ts";

/**
 * What `authorizeRoom` (or a token's `openlivesync.rooms` claim) grants in a room: `true` or `"write"`
 * full access, `"read"` receive only, an object of grants by kind, `false` no entry.
 */
export type RoomGrant = boolean | Access | RoomPermissions;

/** The claim of an access token that carries room grants: `{ "openlivesync": { "rooms": { "<roomId>" | "*": RoomGrant } } }`. */
export const GRANTS_CLAIM = "openlivesync";

const FULL: RoomPermissions = Object.freeze({ presence: "write", events: "write", chat: "write" });
const READ: RoomPermissions = Object.freeze({ presence: "read", events: "read", chat: "read" });
const KINDS = ["presence", "events", "chat"] as const;

/**
 * A grant as permissions: `undefined` refuses the join. In an object, a kind that is not exactly
 * `"write"` counts as `"read"` (a typo never grants more).
 */
export function toPermissions(grant: unknown): RoomPermissions | undefined {
  if (grant === true || grant === "write") return FULL;
  if (grant === "read") return READ;
  if (!isPlainObject(grant)) return undefined;
  const out = {} as RoomPermissions;
  for (const kind of KINDS) out[kind] = grant[kind] === "write" ? "write" : "read";
  return out;
}

/** The grant a token's claim gives for `roomId` (its own entry, else `"*"`); `null` when the identity carries no claim. */
export function claimedGrant(user: UserInfo | undefined, roomId: string): unknown {
  const claim = user?.[GRANTS_CLAIM];
  if (!isPlainObject(claim) || !isPlainObject(claim.rooms)) return null;
  const rooms = claim.rooms;
  if (Object.hasOwn(rooms, roomId)) return rooms[roomId];
  return Object.hasOwn(rooms, "*") ? rooms["*"] : false;
}

/** The narrower of two grants, kind by kind. */
export function narrower(a: RoomPermissions, b: RoomPermissions): RoomPermissions {
  if (a === FULL) return b;
  if (b === FULL) return a;
  const out = {} as RoomPermissions;
  for (const kind of KINDS) out[kind] = a[kind] === "write" && b[kind] === "write" ? "write" : "read";
  return out;
}

/** Whether `permissions` allow everything (then `room_joined` carries none). */
export const isFull = (p: RoomPermissions): boolean => p === FULL || KINDS.every((k) => p[k] === "write");

export { FULL as FULL_PERMISSIONS };
