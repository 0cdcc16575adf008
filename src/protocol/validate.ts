import * as v from "valibot";
import { ErrorCodes, ProtocolError } from "../errors.ts";
import { isClientMessageId } from "../storage/chat-storage.ts";
import { exceedsBytes, isPlainObject } from "../util/json.ts";
import {
  MSG_BROADCAST_EVENT,
  MSG_GET_CHAT_HISTORY,
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_SEND_CHAT,
  MSG_UPDATE_PRESENCE,
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
      },
      payloadObject,
    ),
    [MSG_LEAVE_ROOM]: v.optional(v.object({ roomId: v.optional(roomId) }, payloadObject)),
    [MSG_UPDATE_PRESENCE]: v.object({ presence: plainObject }, payloadObject),
    [MSG_BROADCAST_EVENT]: v.object(
      {
        event: shortString(limits.maxEventNameLength),
        payload: v.optional(v.unknown()),
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
    // backslash-u in the frame, only the depth needs checking.
    const problem = inspectJson(data, limits.maxJsonDepth + 2, raw.includes("\\u"));
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

/**
 * Validates what the backend sends into rooms (the in-process API and the HTTP API) with the same
 * schemas and limits as the matching client messages; throws a {@link ProtocolError} with the wire code.
 */
export function createServerInputParser(limits: MessageLimits) {
  const schemas = buildSchemas(limits);
  const roomIdSchema = shortString(limits.maxRoomIdLength);
  const chatSchema = v.object({ message: schemas[MSG_SEND_CHAT].entries.message, metadata: v.optional(plainObject), name: serverChatName });

  function check<T>(what: string, schema: v.GenericSchema<unknown, T>, input: unknown, depth: number): T {
    const problem = inspectJson(input, depth);
    if (problem === "deep") throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `${what} nests deeper than ${limits.maxJsonDepth} levels`);
    if (problem === "ill-formed")
      throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `${what} holds a string with a lone UTF-16 surrogate`);
    const result = v.safeParse(schema, input);
    if (result.success) return result.output;
    const issue = result.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".");
    throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, `Invalid ${what}: ${path ? `${path} ` : ""}${issue.message}`);
  }

  return {
    roomId: (roomId: unknown): string => check("room id", roomIdSchema, roomId, 0),
    /** `{ event, payload }` as `broadcast_event` takes it. */
    event(input: unknown): { event: string; payload?: unknown } {
      return check("event", schemas[MSG_BROADCAST_EVENT], input, limits.maxJsonDepth + 1);
    },
    /** `{ before?, limit? }` as `get_chat_history` takes it. */
    page(input: unknown): { before?: string; limit?: number } {
      return check("chat history page", schemas[MSG_GET_CHAT_HISTORY], input ?? {}, 2) ?? {};
    },
    /** `{ message, metadata?, name? }`; a message over `maxChatMessageLength` is TOO_LARGE. */
    chat(input: unknown): { message: string; metadata?: Record<string, unknown>; name?: string } {
      const chat = check("chat message", chatSchema, input, limits.maxJsonDepth + 1);
      if (chat.message.length > limits.maxChatMessageLength) {
        throw new ProtocolError(ErrorCodes.TOO_LARGE, `Chat message is longer than ${limits.maxChatMessageLength} characters`);
      }
      return chat;
    },
  };
}

export type ServerInputParser = ReturnType<typeof createServerInputParser>;
