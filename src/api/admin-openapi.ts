import { documentInfo } from "./openapi-documents.ts";
/** The admin routes (`admin-routes.ts`) in the OpenAPI document: their paths and response schemas. */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const ok = (description: string, schema: string) => ({ description, content: { "application/json": { schema: ref(schema) } } });
const error = (code: string) => ({ $ref: `#/components/responses/${code}` });
const integer = (name: string, maximum: number, description: string) => ({
  name,
  in: "query",
  required: false,
  description,
  schema: { type: "integer", minimum: 0, maximum },
});

/** `GET /api/admin/metrics` and `GET /api/admin/documents`. */
export function adminPaths(): Record<string, unknown> {
  return {
    "/api/admin/metrics": {
      get: {
        summary: "This instance's recent metrics (the admin page's charts): a sample every 5 s for the last hour, oldest first",
        responses: { 200: ok("The samples", "MetricHistory"), 401: error("UNAUTHORIZED"), 500: error("INTERNAL_ERROR") },
      },
    },
    "/api/admin/documents": {
      get: {
        summary: "The documents (stored or loaded) with their stored size and their clients on this instance; most clients first",
        parameters: [
          {
            name: "q",
            in: "query",
            required: false,
            description: "Names containing this text (case-insensitive).",
            schema: { type: "string", maxLength: 256 },
          },
          integer("offset", Number.MAX_SAFE_INTEGER, "Skip this many. Default 0."),
          integer("limit", 1000, "At most this many. Default 100."),
        ],
        responses: {
          200: ok("One page of documents", "AdminDocumentList"),
          401: error("UNAUTHORIZED"),
          422: error("INVALID_PAYLOAD"),
          500: error("INTERNAL_ERROR"),
        },
      },
    },
  };
}

const number = (description: string) => ({ type: "number", description });

export const adminSchemas = {
  MetricHistory: {
    type: "object",
    properties: {
      scope: { const: "instance", description: "The samples are this instance's own." },
      instanceId: { type: "string", description: "This instance's backplane id, when there is a backplane." },
      intervalMs: { type: "integer" },
      capacity: { type: "integer", description: "Samples kept at most." },
      samples: { type: "array", items: ref("MetricSample") },
    },
    required: ["scope", "intervalMs", "capacity", "samples"],
  },
  MetricSample: {
    type: "object",
    properties: {
      at: number("When it was taken, ms since the epoch."),
      connections: number("Open WebSocket connections (rooms' endpoint)."),
      rooms: number("Rooms with members on this instance."),
      receivedPerSecond: number("Frames received from clients per second over the interval."),
      sentPerSecond: number("Frames sent to clients per second (one per recipient)."),
      errorsPerSecond: number("Error frames sent plus failed chat storage calls, per second."),
      storageMs: {
        type: ["number", "null"],
        description: "Mean duration of the chat storage calls that finished in the interval; null: none did.",
      },
    },
    required: ["at", "connections", "rooms", "receivedPerSecond", "sentPerSecond", "errorsPerSecond", "storageMs"],
  },
  AdminDocumentList: {
    type: "object",
    properties: {
      enabled: { type: "boolean", description: "false: the server runs with documents: false (the list is empty)." },
      total: { type: "integer", description: "Documents matching q." },
      documents: { type: "array", items: documentInfo },
    },
    required: ["enabled", "total", "documents"],
  },
};
