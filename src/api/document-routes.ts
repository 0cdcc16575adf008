/**
 * The shared documents under `/api/documents`: list, read (a Yjs update as base64, and JSON of the top-level
 * types), apply an update. The routes call the server API (`DocumentApi`), so they do what it does.
 */
import type { Context, Hono } from "hono";
import type { DocumentApi } from "../documents/document-api.ts";
import { DocumentUnavailable } from "../documents/document-registry.ts";
import { MAX_DOCUMENT_NAME_LENGTH } from "../documents/options.ts";
import { ErrorCodes, StorageError } from "../errors.ts";
import { fromBase64, toBase64 } from "../util/base64.ts";
import { readJsonObject } from "./body.ts";
import { ApiError } from "./errors.ts";

/** What the routes need from the document endpoint (the engine's `documents`). */
export interface DocumentsTarget {
  readonly api: DocumentApi;
  /** The largest message a client may send: the largest update the API takes, as base64 in JSON. */
  readonly maxMessageBytes: number;
}

/** Room for `{"update":""}` and whitespace around the base64 of a `maxMessageBytes` update. */
const JSON_OVERHEAD = 1024;

/** The most bytes of a body carrying an update of `maxBytes` as base64. */
export const updateBodyLimit = (maxBytes: number) => Math.ceil(maxBytes / 3) * 4 + JSON_OVERHEAD;

export function addDocumentRoutes(app: Hono, documents: DocumentsTarget | undefined): void {
  if (!documents) {
    const off = () => {
      throw new ApiError("NOT_FOUND", "Shared documents are off on this server (documents: false)");
    };
    app.all("/documents", off);
    app.all("/documents/*", off);
    return;
  }
  const { api } = documents;
  const maxBody = updateBodyLimit(documents.maxMessageBytes);
  app.get("/documents", async (c) => {
    const list = await loading(() => api.list());
    return c.json({ documents: list, total: list.length });
  });
  app.get("/documents/:name", async (c) => {
    const name = nameOf(c);
    const { update, json } = await loading(() => api.read(name));
    return c.json({ name, update: toBase64(update), json });
  });
  app.post("/documents/:name/updates", async (c) => {
    const name = nameOf(c);
    const body = await readJsonObject(c.req.raw, maxBody);
    const update = typeof body.update === "string" ? fromBase64(body.update) : undefined;
    if (!update) throw new ApiError(ErrorCodes.INVALID_PAYLOAD, "Body must be { update: <a Yjs update as padded base64> }");
    await loading(() => api.apply(name, update));
    return c.body(null, 204);
  });
}

function nameOf(c: Context): string {
  const name = c.req.param("name") ?? "";
  if (name === "" || name.length > MAX_DOCUMENT_NAME_LENGTH) {
    throw new ApiError(ErrorCodes.INVALID_PAYLOAD, `A document name is 1 to ${MAX_DOCUMENT_NAME_LENGTH} characters`);
  }
  return name;
}

/** A document that cannot be opened: its storage failed (STORAGE_ERROR), or the process cannot take it (UNAVAILABLE). */
async function loading<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof StorageError) throw new ApiError(ErrorCodes.STORAGE_ERROR, "The document storage failed");
    if (!(error instanceof DocumentUnavailable)) throw error;
    if (error.reason === "storage") throw new ApiError(ErrorCodes.STORAGE_ERROR, "The document storage failed to load the document");
    throw new ApiError("UNAVAILABLE", error.message);
  }
}
