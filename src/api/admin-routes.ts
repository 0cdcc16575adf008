/**
 * The admin page's own read-only routes under `/api/admin` (behind the API's bearer check, like every
 * route there): this instance's recent metrics for the charts, and the documents with their clients.
 */
import type { Context, Hono } from "hono";
import type { DocumentApi, DocumentInfo } from "../documents/document-api.ts";
import type { MetricHistory } from "../engine/metric-history.ts";
import { ErrorCodes, ProtocolError } from "../errors.ts";
import { count } from "./room-query.ts";

/** What the admin routes read from the engine; both are the engine's own (`LiveEngine`). */
export interface AdminSources {
  /** This instance's recent metrics; sampling starts when the routes are added. */
  readonly history?: MetricHistory;
  /** The documents' server API; `undefined` with `documents: false`. */
  readonly documents?: AdminDocuments | undefined;
}

/** The part of the documents' side the page reads (`DocumentsTarget` is one). */
export interface AdminDocuments {
  readonly api: Pick<DocumentApi, "list">;
}

/** One row of `GET /api/admin/documents`, as `DocumentApi.list` gives it. */
export type AdminDocument = DocumentInfo;

const MAX_LIMIT = 1000;

/**
 * Adds `GET /admin/metrics` and `GET /admin/documents` to the API's app and starts the metric samples
 * (stopped when the engine closes).
 */
export function addAdminRoutes(app: Hono, sources: AdminSources): void {
  sources.history?.start();
  app.get("/admin/metrics", (c) => c.json(sources.history?.view() ?? { scope: "instance", intervalMs: 0, capacity: 0, samples: [] }));
  app.get("/admin/documents", async (c) => {
    const { documents } = sources;
    const query = documentQuery(c);
    if (!documents) return c.json({ enabled: false, documents: [], total: 0 });
    return c.json({ enabled: true, ...documentsPage(await listDocuments(documents), query) });
  });
}

/** Every document, stored or loaded, with its clients here. */
export function listDocuments(documents: AdminDocuments): Promise<AdminDocument[]> {
  return documents.api.list();
}

interface DocumentQuery {
  q?: string;
  offset: number;
  limit: number;
}

function documentQuery(c: Context): DocumentQuery {
  const q = c.req.query("q");
  if (q !== undefined && q.length > 256) throw bad("q is longer than 256 characters");
  return {
    ...(q ? { q } : {}),
    offset: count(c.req.query("offset"), "offset", Number.MAX_SAFE_INTEGER) ?? 0,
    limit: count(c.req.query("limit"), "limit", MAX_LIMIT) ?? 100,
  };
}

/** Most clients first, then by name; one page of those whose name contains `q` (case-insensitive). */
export function documentsPage(rows: AdminDocument[], query: DocumentQuery): { documents: AdminDocument[]; total: number } {
  const needle = query.q?.toLowerCase();
  const list = needle ? rows.filter((d) => d.name.toLowerCase().includes(needle)) : rows;
  list.sort((a, b) => b.clients - a.clients || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { documents: list.slice(query.offset, query.offset + query.limit), total: list.length };
}

const bad = (message: string) => new ProtocolError(ErrorCodes.INVALID_PAYLOAD, message);
