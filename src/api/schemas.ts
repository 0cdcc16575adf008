/**
 * What the HTTP API accepts, as valibot schemas taken from the wire protocol's own (`buildSchemas`): a
 * room id is checked as `join_room`'s, an event as `broadcast_event`'s, a chat as `send_chat`'s, a page
 * as `get_chat_history`'s. The same objects validate requests and generate the OpenAPI document.
 * What it answers with is described here too, for the document only.
 */
import * as v from "valibot";
import { ErrorCodes } from "../errors.ts";
import { MSG_BROADCAST_EVENT, MSG_GET_CHAT_HISTORY, MSG_JOIN_ROOM, MSG_SEND_CHAT } from "../protocol/messages.ts";
import { buildSchemas, inspectJson, type MessageLimits, serverChatName } from "../protocol/validate.ts";
import { ApiError } from "./errors.ts";

/** Longest close reason: a close frame's reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

export function buildApiSchemas(limits: MessageLimits) {
  const wire = buildSchemas(limits);
  const history = v.unwrap(wire[MSG_GET_CHAT_HISTORY]).entries;
  const chat = wire[MSG_SEND_CHAT].entries;
  return {
    roomId: wire[MSG_JOIN_ROOM].entries.roomId,
    /** `POST /api/rooms/:roomId/events` */
    event: wire[MSG_BROADCAST_EVENT],
    /** `POST /api/rooms/:roomId/chat` */
    chat: v.object({ message: chat.message, metadata: chat.metadata, name: serverChatName }, "body must be an object"),
    /** `GET /api/rooms/:roomId/chat?before=&limit=`, once `limit` is a number. */
    page: v.object({ before: history.before, limit: history.limit }),
    /** `DELETE /api/rooms/:roomId/connections/:connectionId?code=&reason=` */
    disconnect: v.object({
      // What `disconnect` accepts: the close codes a server may send (RFC 6455 §7.4).
      code: v.optional(
        v.union(
          [v.literal(1000), v.literal(1001), v.literal(1008), v.pipe(v.number(), v.integer(), v.minValue(3000), v.maxValue(4999))],
          "must be 1000, 1001, 1008 or 3000-4999",
        ),
      ),
      reason: v.optional(
        v.pipe(
          v.string(),
          v.check((s) => new TextEncoder().encode(s).length <= MAX_CLOSE_REASON_BYTES, `must be at most ${MAX_CLOSE_REASON_BYTES} bytes`),
        ),
      ),
    }),
  };
}

export type ApiSchemas = ReturnType<typeof buildApiSchemas>;

/**
 * `value` checked against `schema`, or an `INVALID_PAYLOAD` error naming the first problem the way the
 * wire does (`Invalid <what>: <field> <problem>`). JSON nested deeper than `maxJsonDepth` (below the
 * body itself) or holding a lone surrogate is refused first, as on the wire.
 */
export function parseWith<S extends v.GenericSchema>(schema: S, value: unknown, what: string, maxJsonDepth?: number): v.InferOutput<S> {
  if (maxJsonDepth !== undefined) {
    const problem = inspectJson(value, maxJsonDepth + 1);
    if (problem === "deep") throw new ApiError(ErrorCodes.INVALID_PAYLOAD, `${what} nests deeper than ${maxJsonDepth} levels`);
    if (problem) throw new ApiError(ErrorCodes.INVALID_PAYLOAD, `${what} holds a string with a lone UTF-16 surrogate (ill-formed Unicode)`);
  }
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join(".");
  // valibot words a missing key with the object's message ("body must be an object"); say what it is.
  const problem = path && issue.received === "undefined" ? "is required" : issue.message;
  throw new ApiError(ErrorCodes.INVALID_PAYLOAD, `Invalid ${what}: ${path ? `${path} ` : ""}${problem}`);
}

/** A query string's number (`limit=20`) as a number; anything else as given, for the schema to refuse. */
export function queryNumber(value: string | undefined): number | string | undefined {
  return value !== undefined && /^-?\d{1,15}$/.test(value) ? Number(value) : value;
}

const text = v.string();
const optionalText = v.optional(text);
const jsonObject = v.record(v.string(), v.unknown());

/** The answers' shapes, for the OpenAPI document. */
export const responseSchemas = {
  Error: v.object({ error: v.object({ code: v.string(), message: v.string() }) }),
  RoomList: v.object({ rooms: v.array(v.object({ roomId: text, members: v.number() })) }),
  PresenceEntry: v.objectWithRest(
    { connectionId: text, userId: optionalText, name: optionalText, email: optionalText, provider: optionalText, presence: jsonObject },
    v.unknown(),
  ),
  ChatMessage: v.object({
    id: text,
    roomId: text,
    connectionId: text,
    userId: optionalText,
    name: optionalText,
    email: optionalText,
    provider: optionalText,
    message: text,
    metadata: v.optional(jsonObject),
    createdAt: v.pipe(v.number(), v.description("Milliseconds since the epoch")),
    clientMessageId: optionalText,
  }),
};
