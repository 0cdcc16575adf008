/**
 * `GET /api/openapi.json`: the API described as OpenAPI 3.1, its request schemas converted from the very
 * valibot schemas that validate the requests (`@valibot/to-json-schema`), so the document cannot drift
 * from what the server enforces (limits included: they are the server's configured ones).
 */
import type * as v from "valibot";
import type { ApiErrorCode } from "./errors.ts";
import type { ServerInputSchemas } from "../protocol/validate.ts";
import { responseSchemas } from "./schemas.ts";
import { errorDescriptions, errorResponse, errors, json, jsonSchema, ref } from "./openapi-parts.ts";
import { documentComponents, documentPaths } from "./openapi-documents.ts";
import { adminPaths, adminSchemas } from "./admin-openapi.ts";

export function createOpenApiDocument(schemas: ServerInputSchemas): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "openlivesync HTTP API",
      version: "1",
      description:
        "Rooms, presence, events, chat, moderation and shared documents from your backend; the same on one instance and across a cluster.",
    },
    security: [{ bearer: [] }],
    paths: paths(schemas),
    components: components(schemas),
  };
}

/** Every route with its parameters, body and responses. */
function paths(schemas: ServerInputSchemas): Record<string, unknown> {
  return {
    ...roomPaths(schemas),
    ...moderationPaths(schemas),
    ...documentPaths(),
    ...adminPaths(),
    "/api/openapi.json": {
      get: { summary: "This document", responses: { 200: { description: "OpenAPI 3.1" }, ...errors() } },
    },
  };
}

const roomIdParameter = (schemas: ServerInputSchemas) => ({
  name: "roomId",
  in: "path",
  required: true,
  schema: jsonSchema(schemas.roomId),
});
const query = (name: string, schema: v.GenericSchema, description: string) => ({
  name,
  in: "query",
  required: false,
  description,
  schema: jsonSchema(schema),
});

/** `GET /api/rooms`: searched, sorted and paged on the server. */
const roomListPath = {
  get: {
    summary: "Every room with at least one member, cluster-wide; searched, sorted and paged on the server",
    parameters: [
      {
        name: "q",
        in: "query",
        required: false,
        description: "Room ids containing this text (case-insensitive).",
        schema: { type: "string", maxLength: 256 },
      },
      { name: "sort", in: "query", required: false, schema: { enum: ["roomId", "members"], default: "roomId" } },
      {
        name: "order",
        in: "query",
        required: false,
        description: "Default asc (desc when sorting by members).",
        schema: { enum: ["asc", "desc"] },
      },
      { name: "offset", in: "query", required: false, schema: { type: "integer", minimum: 0, default: 0 } },
      {
        name: "limit",
        in: "query",
        required: false,
        description: "Absent: every matching room.",
        schema: { type: "integer", minimum: 0, maximum: 1000 },
      },
    ],
    responses: {
      200: { description: "The rooms, and how many match (total)", content: json(ref("RoomList")) },
      ...errors("INVALID_PAYLOAD"),
    },
  },
};

/** Rooms, presence, chat and events. */
function roomPaths(schemas: ServerInputSchemas): Record<string, unknown> {
  const roomId = roomIdParameter(schemas);
  const page = schemas.page.entries;
  return {
    "/api/rooms": roomListPath,
    "/api/rooms/{roomId}/tail": {
      get: {
        summary:
          "Every frame the room's members are sent on this instance, and (with a backplane) from other instances, as server-sent events (data: <frame>), while the request is open",
        parameters: [roomId],
        responses: { 200: { description: "text/event-stream" }, ...errors("INVALID_PAYLOAD") },
      },
    },
    "/api/rooms/{roomId}/presence": {
      get: {
        summary: "The room's presence, as room_joined gives it ({} for an empty room)",
        parameters: [roomId],
        responses: {
          200: { description: "The presence, by connection id", content: json(ref("Presence")) },
          ...errors("INVALID_PAYLOAD"),
        },
      },
    },
    "/api/rooms/{roomId}/chat": {
      get: {
        summary: "A page of the room's chat history, oldest first (as get_chat_history)",
        parameters: [
          roomId,
          query("before", page.before, "A message id: the page ends just before it. Absent: the newest page."),
          query("limit", page.limit, "Most messages in the page (default 50)."),
        ],
        responses: { 200: { description: "The page", content: json(ref("ChatPage")) }, ...errors("INVALID_PAYLOAD", "STORAGE_ERROR") },
      },
      post: {
        summary: "Store a chat message from the server and send it to every member",
        parameters: [roomId],
        requestBody: { required: true, content: json(ref("SendChat")) },
        responses: {
          201: { description: "The stored message, as members receive it", content: json(ref("ChatMessage")) },
          ...errors("INVALID_JSON", "INVALID_PAYLOAD", "TOO_LARGE", "STORAGE_ERROR"),
        },
      },
    },
    "/api/rooms/{roomId}/events": {
      post: {
        summary: 'Send a broadcast_event from the server (connectionId "server") to every member',
        parameters: [
          roomId,
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            description:
              "1-64 of [A-Za-z0-9_-]: a repeat within the streams' window is sent to nobody and answered as the first was (with Idempotent-Replayed: true)",
            schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" },
          },
        ],
        requestBody: { required: true, content: json(ref("PublishEvent")) },
        responses: {
          202: {
            description: "Sent to the room's members; `offset` is its place in the room's stream (streams on)",
            content: json({ type: "object", properties: { offset: { type: "integer", minimum: 1 } } }),
          },
          ...errors("INVALID_JSON", "INVALID_PAYLOAD", "TOO_LARGE"),
        },
      },
    },
  };
}

/** Disconnects, chat deletion and bans. */
function moderationPaths(schemas: ServerInputSchemas): Record<string, unknown> {
  const roomId = roomIdParameter(schemas);
  const close = schemas.disconnect.entries;
  return {
    "/api/rooms/{roomId}/connections/{connectionId}": {
      delete: {
        summary: "Close a member's connection, wherever it is in the cluster",
        parameters: [
          roomId,
          { name: "connectionId", in: "path", required: true, schema: { type: "string" } },
          query("code", close.code, "Close code (default 4403): 1000, 1001, 1008 or 3000-4999."),
          query("reason", close.reason, 'Close reason (default "Disconnected by the server").'),
        ],
        responses: { 204: { description: "Closed" }, ...errors("INVALID_PAYLOAD", "NOT_FOUND") },
      },
    },
    "/api/rooms/{roomId}/chat/{messageId}": {
      delete: {
        summary: "Delete a stored chat message: gone from history, and every member gets chat_deleted { roomId, id }",
        parameters: [roomId, { name: "messageId", in: "path", required: true, schema: jsonSchema(schemas.messageId) }],
        responses: { 204: { description: "Deleted" }, ...errors("INVALID_PAYLOAD", "NOT_FOUND", "STORAGE_ERROR") },
      },
    },
    "/api/rooms/{roomId}/bans": {
      get: {
        summary: "The room's bans in force, oldest first",
        parameters: [roomId],
        responses: { 200: { description: "The bans", content: json(ref("BanList")) }, ...errors("INVALID_PAYLOAD") },
      },
      post: {
        summary: "Ban a user from the room: its connections there close (4403, every instance), its join_room is refused (FORBIDDEN)",
        parameters: [roomId],
        requestBody: { required: true, content: json(ref("BanRequest")) },
        responses: {
          201: { description: "The ban", content: json(ref("Ban")) },
          ...errors("INVALID_JSON", "INVALID_PAYLOAD", "TOO_LARGE", "STORAGE_ERROR"),
        },
      },
    },
    "/api/rooms/{roomId}/bans/{userId}": {
      delete: {
        summary: "Lift a ban",
        parameters: [roomId, { name: "userId", in: "path", required: true, schema: jsonSchema(schemas.ban.entries.userId) }],
        responses: { 204: { description: "Lifted" }, ...errors("INVALID_PAYLOAD", "NOT_FOUND", "STORAGE_ERROR") },
      },
    },
  };
}

/** The security scheme, the request and response schemas, and the error responses the routes refer to. */
function components(schemas: ServerInputSchemas): Record<string, unknown> {
  return {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "The server's `api.secret`" } },
    schemas: {
      PublishEvent: jsonSchema(schemas.event),
      SendChat: jsonSchema(schemas.chat),
      RoomList: jsonSchema(responseSchemas.RoomList),
      Presence: {
        type: "object",
        properties: { roomId: { type: "string" }, presence: { type: "object", additionalProperties: ref("PresenceEntry") } },
        required: ["roomId", "presence"],
      },
      PresenceEntry: jsonSchema(responseSchemas.PresenceEntry),
      ChatMessage: jsonSchema(responseSchemas.ChatMessage),
      ChatPage: {
        type: "object",
        properties: { messages: { type: "array", items: ref("ChatMessage") }, hasMore: { type: "boolean" } },
        required: ["messages", "hasMore"],
      },
      BanRequest: jsonSchema(schemas.ban),
      Ban: {
        type: "object",
        properties: {
          roomId: { type: "string" },
          userId: { type: "string" },
          createdAt: { type: "number", description: "ms since the epoch" },
          expiresAt: { type: "number", description: "ms since the epoch; absent: until lifted" },
          reason: { type: "string" },
        },
        required: ["roomId", "userId", "createdAt"],
      },
      BanList: {
        type: "object",
        properties: { roomId: { type: "string" }, bans: { type: "array", items: ref("Ban") } },
        required: ["roomId", "bans"],
      },
      ...documentComponents(),
      ...adminSchemas,
      Error: jsonSchema(responseSchemas.Error),
    },
    responses: Object.fromEntries(
      (Object.keys(errorDescriptions) as ApiErrorCode[]).map((code) => [code, errorResponse(errorDescriptions[code])]),
    ),
  };
}
