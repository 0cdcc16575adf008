/**
 * The answers' shapes, for the OpenAPI document. What the HTTP API accepts is the server API's own input
 * (`serverInputSchemas` in protocol/validate.ts), checked by the same parser.
 */
import * as v from "valibot";

/** A query string's number (`limit=20`) as a number; anything else as given, for the schema to refuse. */
export function queryNumber(value: string | undefined): number | string | undefined {
  return value !== undefined && /^-?\d{1,15}$/.test(value) ? Number(value) : value;
}

const text = v.string();
const optionalText = v.optional(text);
const jsonObject = v.record(v.string(), v.unknown());

export const responseSchemas = {
  Error: v.object({ error: v.object({ code: v.string(), message: v.string() }) }),
  RoomList: v.object({ rooms: v.array(v.object({ roomId: text, members: v.number() })), total: v.number() }),
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
