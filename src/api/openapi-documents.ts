/** The shared documents' part of the OpenAPI document (routes in document-routes.ts). */
import { MAX_DOCUMENT_NAME_LENGTH } from "../documents/options.ts";
import { errors, json, ref } from "./openapi-parts.ts";

const name = {
  name: "name",
  in: "path",
  required: true,
  description: "The document name, percent-encoded (it may contain /).",
  schema: { type: "string", minLength: 1, maxLength: MAX_DOCUMENT_NAME_LENGTH },
};

const base64 = (description: string) => ({ type: "string", contentEncoding: "base64", description });

/** One row of a document listing (`GET /api/documents`, the admin page's documents panel). */
export const documentInfo = {
  type: "object",
  properties: {
    name: { type: "string" },
    bytes: { type: "integer", description: "Bytes stored (snapshot plus rows not yet compacted)" },
    loaded: { type: "boolean", description: "Loaded in this instance" },
    clients: { type: "integer", description: "Clients connected to it on this instance" },
  },
  required: ["name", "bytes", "loaded", "clients"],
};

export function documentPaths(): Record<string, unknown> {
  return {
    "/api/documents": {
      get: {
        summary: "The shared documents this instance stores or has loaded, by name",
        responses: { 200: { description: "The documents", content: json(ref("DocumentList")) }, ...errors("NOT_FOUND", "STORAGE_ERROR") },
      },
    },
    "/api/documents/{name}": {
      get: {
        summary:
          "A document's whole state as one Yjs update (base64) and its top-level types as JSON; a document never written reads as empty",
        parameters: [name],
        responses: {
          200: { description: "The document", content: json(ref("Document")) },
          ...errors("INVALID_PAYLOAD", "NOT_FOUND", "STORAGE_ERROR", "UNAVAILABLE"),
        },
      },
    },
    "/api/documents/{name}/updates": {
      post: {
        summary: "Apply a Yjs update as the server: stored, and sent to the document's clients",
        parameters: [name],
        requestBody: { required: true, content: json(ref("DocumentUpdate")) },
        responses: {
          204: { description: "Applied" },
          ...errors("INVALID_JSON", "INVALID_PAYLOAD", "TOO_LARGE", "NOT_FOUND", "STORAGE_ERROR", "UNAVAILABLE"),
        },
      },
    },
  };
}

export function documentComponents(): Record<string, unknown> {
  return {
    DocumentList: {
      type: "object",
      properties: {
        documents: {
          type: "array",
          items: documentInfo,
        },
        total: { type: "integer" },
      },
      required: ["documents", "total"],
    },
    Document: {
      type: "object",
      properties: {
        name: { type: "string" },
        update: base64("The whole state as one Yjs update (Y.applyUpdate it to a fresh Y.Doc)"),
        json: {
          type: "object",
          description: "Each top-level type: a text as its string, a map as an object, an array as an array, XML as its string",
        },
      },
      required: ["name", "update", "json"],
    },
    DocumentUpdate: {
      type: "object",
      properties: { update: base64("A Yjs update (Y.encodeStateAsUpdate, or a doc's update event)") },
      required: ["update"],
    },
  };
}
