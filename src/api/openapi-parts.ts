/** The pieces every part of the OpenAPI document shares: schema conversion, references, error responses. */
import { type JsonSchema, toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { API_ERROR_STATUS, type ApiErrorCode } from "./errors.ts";

/** JSON Schema 2020-12, OpenAPI 3.1's dialect. Checks JSON Schema cannot say (no NUL, plain object) are left out. */
export function jsonSchema(schema: v.GenericSchema): JsonSchema {
  const { $schema: _, ...rest } = toJsonSchema(schema, {
    target: "draft-2020-12",
    errorMode: "ignore",
    // The one custom schema is the wire's "plain JSON object".
    overrideSchema: ({ valibotSchema }) => (valibotSchema.type === "custom" ? { type: "object" } : undefined),
  });
  return rest;
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: unknown) => ({ "application/json": { schema } });
export const errorResponse = (description: string) => ({ description, content: json(ref("Error")) });

export const errorDescriptions: Record<ApiErrorCode, string> = {
  INVALID_JSON: "INVALID_JSON: the body is not JSON (or not UTF-8)",
  UNAUTHORIZED: "UNAUTHORIZED: no bearer token, or the wrong one (with `WWW-Authenticate: Bearer`)",
  NOT_FOUND: "NOT_FOUND: no such route, the connection is not in the room, no such message, or the user is not banned",
  TOO_LARGE: "TOO_LARGE: the body is over `maxPayload` bytes, or the chat message over `maxChatMessageLength`",
  INVALID_PAYLOAD: "INVALID_PAYLOAD: a field is missing or has the wrong type or size",
  INTERNAL_ERROR: "INTERNAL_ERROR: an unexpected failure, reported to `onError`",
  STORAGE_ERROR:
    "STORAGE_ERROR: the chat storage failed (or cannot delete), shared state (Redis) did not take a ban, or the document storage failed",
  UNAVAILABLE: "UNAVAILABLE: the document cannot be opened now (`documents.maxDocuments` are loaded, or the server is closing)",
};

/** The error responses of one operation, by status (codes that share a status share one response). */
export function errors(...codes: ApiErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of ["UNAUTHORIZED", ...codes, "INTERNAL_ERROR"] as ApiErrorCode[]) {
    const status = API_ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, shared]) => [
      String(status),
      shared.length === 1
        ? { $ref: `#/components/responses/${shared[0]}` }
        : errorResponse(shared.map((code) => errorDescriptions[code]).join("; or ")),
    ]),
  );
}
