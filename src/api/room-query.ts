import type { Context } from "hono";
import type { RoomSummary } from "../engine/server-api.ts";
import { ErrorCodes, ProtocolError } from "../errors.ts";

/** `GET /api/rooms`'s query: a search, an order and a page (the admin page asks one page at a time). */
export interface RoomQuery {
  /** Room ids containing this text (case-insensitive). */
  q?: string;
  sort: "roomId" | "members";
  order: "asc" | "desc";
  offset: number;
  /** Absent: every matching room. */
  limit?: number;
}

const MAX_LIMIT = 1000;

const bad = (message: string) => new ProtocolError(ErrorCodes.INVALID_PAYLOAD, message);

/** The query parameter `name` as an integer from 0 to `max`; absent or empty: `undefined`. */
export function count(text: string | undefined, name: string, max: number): number | undefined {
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > max) throw bad(`${name} must be an integer from 0 to ${max}`);
  return n;
}

/** The query of `c`, checked: an unknown `sort` or `order`, or a bad number, is `INVALID_PAYLOAD`. */
export function roomQuery(c: Context): RoomQuery {
  const sort = c.req.query("sort") || "roomId";
  const order = c.req.query("order") || (sort === "members" ? "desc" : "asc");
  if (sort !== "roomId" && sort !== "members") throw bad('sort must be "roomId" or "members"');
  if (order !== "asc" && order !== "desc") throw bad('order must be "asc" or "desc"');
  const q = c.req.query("q");
  if (q !== undefined && q.length > 256) throw bad("q is longer than 256 characters");
  const limit = count(c.req.query("limit"), "limit", MAX_LIMIT);
  return {
    ...(q ? { q } : {}),
    sort,
    order,
    offset: count(c.req.query("offset"), "offset", Number.MAX_SAFE_INTEGER) ?? 0,
    ...(limit === undefined ? {} : { limit }),
  };
}

const byId = (a: RoomSummary, b: RoomSummary) => (a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0);

/** One page of `rooms` for `query`, and how many match. */
export function roomsPage(rooms: RoomSummary[], query: RoomQuery): { rooms: RoomSummary[]; total: number } {
  const needle = query.q?.toLowerCase();
  let list = needle ? rooms.filter((r) => r.roomId.toLowerCase().includes(needle)) : rooms;
  list = [...list].sort(query.sort === "members" ? (a, b) => a.members - b.members || byId(a, b) : byId);
  if (query.order === "desc") list.reverse();
  const end = query.limit === undefined ? undefined : query.offset + query.limit;
  return { rooms: list.slice(query.offset, end), total: list.length };
}
