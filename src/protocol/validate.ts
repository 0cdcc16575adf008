import * as v from "valibot";
import { ErrorCodes, ProtocolError } from "../errors.ts";
import { exceedsBytes, isPlainObject } from "../util/json.ts";
import {
  MSG_BROADCAST_EVENT,
  MSG_GET_CHAT_HISTORY,
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_SEND_CHAT,
  MSG_UPDATE_PRESENCE,
  isClientMessageId,
  type ClientMessage,
} from "./messages.ts";

/** Size limits applied to client messages; see `resolveOptions` for the defaults. */
export interface MessageLimits {
  maxRoomIdLength: number;
  maxPresenceBytes: number;
  maxChatMessageLength: number;
  maxEventNameLength: number;
  /** Deepest nesting of objects and arrays a message may carry. */
  maxJsonDepth: number;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** False for a string with a lone UTF-16 surrogate, which no store keeps as sent (Postgres and MySQL turn it into U+FFFD). */
export function isWellFormed(text: string): boolean {
  const native = (text as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(text) : !LONE_SURROGATE.test(text);
}

/**
 * What is wrong with a parsed message as a whole, if anything: objects and arrays nested more than
 * `maxDepth` levels (`JSON.parse` accepts thousands of levels that `JSON.stringify`, run when a presence
 * or chat is sent on, cannot encode again), or a string or key with a lone surrogate. It never recurses
 * deeper than `maxDepth`, however deep the input.
 */
export function inspectJson(value: unknown, maxDepth: number, checkText = true): "deep" | "ill-formed" | undefined {
  if (typeof value === "string") return !checkText || isWellFormed(value) ? undefined : "ill-formed";
  if (value === null || typeof value !== "object") return undefined;
  if (maxDepth <= 0) return "deep";
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = inspectJson(item, maxDepth - 1, checkText);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const key in value) {
    if (checkText && !isWellFormed(key)) return "ill-formed";
    const problem = inspectJson((value as Record<string, unknown>)[key], maxDepth - 1, checkText);
    if (problem) return problem;
  }
  return undefined;
}

const plainObject = v.custom<Record<string, unknown>>(isPlainObject, "must be a plain JSON object");
// NUL cannot be stored in Postgres text columns; refusing it everywhere keeps stores interchangeable.
const noNul = v.check((s: string) => !s.includes("\0"), "must not contain the NUL character");
const shortString = (max: number) =>
  v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), v.maxLength(max, `is longer than ${max} characters`), noNul);
const payloadObject = "payload must be an object";
/** A stored message's id, as `join_room.lastMessageId` and `get_chat_history.before` name it. */
const messageId = shortString(256);
const clientMessageId = v.pipe(
  v.string("must be a string"),
  v.check((s: string) => isClientMessageId(s), "must be 1-64 characters of A-Z, a-z, 0-9, _ and -"),
);
/** Most messages one `get_chat_history` returns. */
export const MAX_HISTORY_PAGE = 100;

/** The client messages' payload schemas; the HTTP API validates with them and documents them (OpenAPI). */
export function buildSchemas(limits: MessageLimits) {
  const roomId = shortString(limits.maxRoomIdLength);
  const optionalText = v.optional(v.pipe(v.string(), v.maxLength(256)));
  return {
    [MSG_JOIN_ROOM]: v.object(
      {
        roomId,
        presence: v.optional(plainObject),
        accessToken: v.optional(v.pipe(v.string("must be a string"), v.maxLength(16_384, "is too long"))),
        name: optionalText,
        email: optionalText,
        lastMessageId: v.optional(messageId),
        since: v.optional(
          v.object(
            {
              offset: v.pipe(v.number("must be a number"), v.safeInteger("must be a whole number"), v.minValue(0, "must not be negative")),
              epoch: shortString(64),
            },
            "since must be an object { offset, epoch }",
          ),
        ),
        resumeKey: v.optional(clientMessageId),
      },
      payloadObject,
    ),
    [MSG_LEAVE_ROOM]: v.optional(v.object({ roomId: v.optional(roomId) }, payloadObject)),
    [MSG_UPDATE_PRESENCE]: v.object({ presence: plainObject }, payloadObject),
    [MSG_BROADCAST_EVENT]: v.object(
      {
        event: shortString(limits.maxEventNameLength),
        payload: v.optional(v.unknown()),
        clientMessageId: v.optional(clientMessageId),
      },
      payloadObject,
    ),
    [MSG_SEND_CHAT]: v.object(
      {
        message: v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), noNul),
        metadata: v.optional(plainObject),
        clientMessageId: v.optional(clientMessageId),
      },
      payloadObject,
    ),
    [MSG_GET_CHAT_HISTORY]: v.optional(
      v.object(
        {
          before: v.optional(messageId),
          limit: v.optional(
            v.pipe(
              v.number("must be a number"),
              v.integer("must be an integer"),
              v.minValue(1, "must be at least 1"),
              v.maxValue(MAX_HISTORY_PAGE, `must be at most ${MAX_HISTORY_PAGE}`),
            ),
          ),
        },
        payloadObject,
      ),
    ),
  } as const;
}

/**
 * Turns raw frames into typed client messages, or throws a {@link ProtocolError} whose code is the wire
 * error code. Built once per server so the schemas are not rebuilt per message.
 */
export function createMessageParser(limits: MessageLimits) {
  const schemas = buildSchemas(limits);

  return function parseClientMessage(raw: string): ClientMessage {
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch {
      throw new ProtocolError(ErrorCodes.INVALID_JSON, "Message is not valid JSON");
    }
    if (!isPlainObject(data) || typeof data.type !== "string") {
      throw new ProtocolError(ErrorCodes.INVALID_MESSAGE, 'Message must be a JSON object with a string "type"');
    }
    const type = data.type;
    // A presence, chat metadata or event payload sits two levels down (message, payload), and may itself
    // nest maxJsonDepth levels.
    // A frame decoded from UTF-8 holds no lone surrogate unless JSON escaped one (as \uD800): without a
    // backslash-u in the frame, only the depth needs checking, and more than `depth` levels take at least
    // 2 × (depth + 1) characters (each level opens and closes), so a shorter frame is not walked at all.
    const depth = limits.maxJsonDepth + 2;
    const checkText = raw.includes("\\u");
    const problem = checkText || raw.length >= 2 * (depth + 1) ? inspectJson(data, depth, checkText) : undefined;
    if (problem === "deep") throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `Message nests deeper than ${limits.maxJsonDepth} levels`);
    if (problem === "ill-formed") {
      throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, "Message holds a string with a lone UTF-16 surrogate (ill-formed Unicode)");
    }
    const schema = Object.hasOwn(schemas, type) ? schemas[type as keyof typeof schemas] : undefined;
    if (!schema) throw new ProtocolError(ErrorCodes.UNKNOWN_TYPE, `Unknown message type "${type.slice(0, 64)}"`);

    const result = v.safeParse(schema, data.payload);
    if (!result.success) {
      const issue = result.issues[0];
      const path = issue.path?.map((p) => String(p.key)).join(".");
      throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `Invalid ${type} payload: ${path ? `${path} ` : ""}${issue.message}`);
    }
    const msg = { type, payload: result.output } as ClientMessage;

    if (msg.type === MSG_SEND_CHAT && msg.payload.message.length > limits.maxChatMessageLength) {
      throw new ProtocolError(ErrorCodes.TOO_LARGE, `Chat message is longer than ${limits.maxChatMessageLength} characters`);
    }
    if (msg.type === MSG_UPDATE_PRESENCE || msg.type === MSG_JOIN_ROOM) {
      // The presence can be no larger than the frame that carried it, so most frames need no measuring.
      const presence = msg.payload.presence;
      if (presence && exceedsBytes(raw, limits.maxPresenceBytes) && exceedsBytes(JSON.stringify(presence), limits.maxPresenceBytes)) {
        throw new ProtocolError(ErrorCodes.TOO_LARGE, `Presence is larger than ${limits.maxPresenceBytes} bytes`);
      }
    }
    return msg;
  };
}

/** A `ServerChat` (`sendChat`, `POST /api/rooms/:roomId/chat`): a chat message plus the sender name to show. */
export const serverChatName = v.optional(v.pipe(v.string("must be a string"), v.maxLength(256, "is longer than 256 characters"), noNul));

/** Longest close reason: a close frame's reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `disconnect`'s `{ code?, reason? }`: the close codes a server may send (RFC 6455 §7.4) and a reason that fits a close frame. */
const closeSchema = v.object({
  code: v.optional(
    v.union(
      [v.literal(1000), v.literal(1001), v.literal(1008), v.pipe(v.number(), v.integer(), v.minValue(3000), v.maxValue(4999))],
      "must be 1000, 1001, 1008 or 3000-4999",
    ),
  ),
  reason: v.optional(
    v.pipe(
      v.string("must be a string"),
      v.check((s) => new TextEncoder().encode(s).length <= MAX_CLOSE_REASON_BYTES, `must be at most ${MAX_CLOSE_REASON_BYTES} bytes`),
    ),
  ),
});

/**
 * What the backend sends into rooms (the in-process API and the HTTP API), as valibot schemas taken from
 * the client messages' own: a room id as `join_room`'s, an event as `broadcast_event`'s, a chat as
 * `send_chat`'s (plus a sender name), a page as `get_chat_history`'s. They validate and, over HTTP,
 * generate the OpenAPI document.
 */
export function serverInputSchemas(limits: MessageLimits) {
  const wire = buildSchemas(limits);
  const history = v.unwrap(wire[MSG_GET_CHAT_HISTORY]).entries;
  const chat = wire[MSG_SEND_CHAT].entries;
  return {
    roomId: wire[MSG_JOIN_ROOM].entries.roomId,
    event: wire[MSG_BROADCAST_EVENT],
    chat: v.object({ message: chat.message, metadata: chat.metadata, name: serverChatName }, "must be an object"),
    page: v.object({ before: history.before, limit: history.limit }),
    disconnect: closeSchema,
    messageId,
    ban: v.object(
      {
        userId: shortString(256),
        durationMs: v.optional(
          v.pipe(
            v.number("must be a number"),
            v.integer("must be an integer"),
            v.minValue(1),
            v.maxValue(MAX_BAN_MS, "is longer than a year"),
          ),
        ),
        reason: v.optional(v.pipe(v.string("must be a string"), v.maxLength(500, "is longer than 500 characters"), noNul)),
      },
      "must be an object",
    ),
  };
}

/** The longest timed ban: a year (a ban without `durationMs` lasts until lifted). */
export const MAX_BAN_MS = 366 * 24 * 3600 * 1000;

export type ServerInputSchemas = ReturnType<typeof serverInputSchemas>;

/**
 * `input` checked against `schema`, or a {@link ProtocolError} `INVALID_PAYLOAD` naming the first problem
 * the way the wire does (`Invalid <what>: <field> <problem>`). Objects nested more than `maxJsonDepth`
 * levels below `input` and strings with a lone surrogate are refused first, as on the wire.
 */
export function checkInput<S extends v.GenericSchema>(schema: S, input: unknown, what: string, maxJsonDepth = 0): v.InferOutput<S> {
  const problem = inspectJson(input, maxJsonDepth + 1);
  if (problem === "deep") throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `${what} nests deeper than ${maxJsonDepth} levels`);
  if (problem)
    throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `${what} holds a string with a lone UTF-16 surrogate (ill-formed Unicode)`);
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join(".");
  // valibot words a missing key with the object's message; say what it is.
  const text = path && issue.received === "undefined" ? "is required" : issue.message;
  throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `Invalid ${what}: ${path ? `${path} ` : ""}${text}`);
}

/** The {@link serverInputSchemas} as checks that throw the wire's codes (a chat over `maxChatMessageLength` is TOO_LARGE). */
export function createServerInputParser(limits: MessageLimits) {
  const schemas = serverInputSchemas(limits);
  return {
    schemas,
    roomId: (roomId: unknown): string => checkInput(schemas.roomId, roomId, "room id"),
    /** `{ event, payload }` as `broadcast_event` takes it. */
    event: (input: unknown): { event: string; payload?: unknown } => checkInput(schemas.event, input, "event", limits.maxJsonDepth),
    /** `{ before?, limit? }` as `get_chat_history` takes it. */
    page: (input: unknown): { before?: string; limit?: number } => checkInput(schemas.page, input ?? {}, "chat history page"),
    /** `{ message, metadata?, name? }`. */
    chat(input: unknown): { message: string; metadata?: Record<string, unknown>; name?: string } {
      const chat = checkInput(schemas.chat, input, "chat message", limits.maxJsonDepth);
      if (chat.message.length > limits.maxChatMessageLength) {
        throw new ProtocolError(ErrorCodes.TOO_LARGE, `Chat message is longer than ${limits.maxChatMessageLength} characters`);
      }
      return chat;
    },
    /** A stored chat message's id. */
    messageId: (id: unknown): string => checkInput(schemas.messageId, id, "message id"),
    /** A user id, as a ban names it. */
    userId: (id: unknown): string => checkInput(schemas.ban.entries.userId, id, "user id"),
    /** `{ userId, durationMs?, reason? }`. */
    ban: (input: unknown): { userId: string; durationMs?: number; reason?: string } => checkInput(schemas.ban, input, "ban"),
    /** `disconnect`'s `{ code?, reason? }`. */
    close: (input: unknown): { code?: number; reason?: string } => checkInput(schemas.disconnect, input ?? {}, "disconnect options"),
  };
}

export type ServerInputParser = ReturnType<typeof createServerInputParser>;
