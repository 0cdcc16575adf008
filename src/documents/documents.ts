import type { Hooks, Peer } from "crossws";
import type { UserInfo } from "../protocol/messages.ts";
import type { TokenVerifier } from "../options.ts";
import { DocumentCloseCodes } from "./codes.ts";
import { DocumentMetrics } from "./document-metrics.ts";
import { DocumentRegistry } from "./document-registry.ts";
import { YWebsocketConnection, type ConnectionContext, type DocumentConnection } from "./document-connection.ts";
import type { LiveDocumentHooks } from "./live-document.ts";
import { MAX_DOCUMENT_NAME_LENGTH, type DocumentAccess, type ResolvedDocumentOptions } from "./options.ts";
import { HocuspocusConnection } from "./hocuspocus-connection.ts";
import { createDocumentApi, type DocumentApi } from "./document-api.ts";

/** What the upgrade leaves in the peer's context for `open`. */
interface DocumentContext {
  user: UserInfo | undefined;
  /** The y-websocket document name; absent for the Hocuspocus endpoint (`path` itself). */
  name?: string;
}

export interface DocumentSideDeps {
  options: ResolvedDocumentOptions;
  /** The rooms' upgrade checks (shutdown, guard, `onAuth`): a refusal, or the user. */
  admit(request: Request): Promise<Response | { context: { user: UserInfo } } | undefined>;
  verifyToken: TokenVerifier | undefined;
  report(error: unknown): void;
}

/** The document endpoint: its crossws hooks, its loaded documents, its counters. */
export interface DocumentSide {
  readonly path: string;
  readonly hooks: Partial<Hooks>;
  readonly registry: DocumentRegistry;
  readonly metrics: DocumentMetrics;
  /** Open document sockets. */
  readonly connections: number;
  /** Largest message, for the runtime's own limit. */
  readonly maxMessageBytes: number;
  /** Whether an upgrade to `pathname` is the documents'. */
  matches(pathname: string): boolean;
  /** Read, change and list documents from the server (docs/documents.md, "Server API"). */
  readonly api: DocumentApi;
  /** Be told of every change to a loaded document. */
  onChange(listener: LiveDocumentHooks["changed"]): void;
  /** Close every document socket with 1001, write what is pending, close the storage. */
  close(): Promise<void>;
}

const CONNECTION = Symbol("openlivesync.document-connection");
const connectionOf = (peer: unknown) => (peer as Record<symbol, DocumentConnection | undefined>)[CONNECTION];

/** A verified token's claims as the user (`userId` from `sub`), as rooms do. */
function userOf(decoded: UserInfo & { sub?: unknown; exp?: number }): UserInfo {
  const { sub, exp: _exp, ...claims } = decoded;
  return { ...claims, userId: decoded.userId ?? sub } as UserInfo;
}

/** The token a y-websocket client sends: `?token=` in the URL or `Authorization: Bearer`. */
function tokenOf(request: Request, url: URL): string | undefined {
  const fromQuery = url.searchParams.get("token");
  if (fromQuery) return fromQuery;
  const header = request.headers.get("authorization");
  return header?.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() || undefined : undefined;
}

/** The document name in a y-websocket URL (`${path}/<name>`), or a refusal. */
function nameOf(pathname: string, path: string): string | Response {
  let name: string;
  try {
    name = decodeURIComponent(pathname.slice(path.length + 1));
  } catch {
    return new Response("Malformed document name", { status: 400 });
  }
  if (name === "" || name.length > MAX_DOCUMENT_NAME_LENGTH) {
    return new Response(`Document name must be 1 to ${MAX_DOCUMENT_NAME_LENGTH} characters`, { status: 400 });
  }
  return name;
}

/**
 * The documents beside the rooms: their own crossws hooks (the runtime routes upgrades under `path` to
 * them), sharing the rooms' upgrade checks and token verification but none of the rooms' hot paths.
 */
export function createDocumentSide(deps: DocumentSideDeps): DocumentSide {
  const { options, report } = deps;
  const metrics = new DocumentMetrics();
  const listeners: Array<LiveDocumentHooks["changed"]> = [];
  const registry = new DocumentRegistry({
    storage: options.storage,
    writeWindowMs: options.writeWindowMs,
    unloadAfterMs: options.unloadAfterMs,
    maxDocuments: options.maxDocuments,
    metrics,
    report,
    hooks: {
      changed(doc, update, origin) {
        for (const listener of listeners) listener(doc, update, origin);
      },
    },
  });
  const connections = new Set<DocumentConnection>();
  const ctx: ConnectionContext = {
    options,
    metrics,
    registry,
    report,
    verifyToken:
      deps.verifyToken &&
      (async (token) => {
        const decoded = await deps.verifyToken!(token);
        return decoded ? userOf(decoded) : null;
      }),
    async authorize(user, name): Promise<DocumentAccess> {
      if (!options.authorize) return "write";
      try {
        const access = await options.authorize(user, name);
        return access === "write" || access === "read" ? access : false;
      } catch (error) {
        report(error);
        return false;
      }
    },
  };
  const path = options.path;
  let closing = false;

  const hooks: Partial<Hooks> = {
    async upgrade(request) {
      if (closing) return new Response("Server is shutting down", { status: 503 });
      const admitted = await deps.admit(request);
      if (admitted instanceof Response) return admitted;
      let user = admitted?.context.user;
      const url = new URL(request.url, "http://localhost");
      const token = tokenOf(request, url);
      if (token !== undefined && deps.verifyToken) {
        const decoded = await deps.verifyToken(token);
        if (!decoded) return new Response("Unauthorized", { status: 401 });
        user = userOf(decoded);
      }
      const context: DocumentContext = { user };
      if (url.pathname !== path) {
        const name = nameOf(url.pathname, path);
        if (name instanceof Response) return name;
        context.name = name;
      }
      return { context: context as unknown as Record<string, unknown> };
    },
    open(peer: Peer) {
      const context = peer.context as unknown as DocumentContext;
      const onClose = (code: number) => metrics.closed(code);
      if (closing) return peer.close(DocumentCloseCodes.GOING_AWAY, "Server is shutting down");
      const conn =
        context.name === undefined
          ? new HocuspocusConnection(ctx, peer, context.user, onClose)
          : new YWebsocketConnection(ctx, peer, context.user, context.name, onClose);
      connections.add(conn);
      (peer as unknown as Record<symbol, DocumentConnection>)[CONNECTION] = conn;
    },
    message(peer, message) {
      connectionOf(peer)?.receive(message.uint8Array());
    },
    close(peer) {
      const conn = connectionOf(peer);
      if (!conn) return;
      connections.delete(conn);
      conn.closed();
    },
  };

  return {
    path,
    hooks,
    get connections() {
      return connections.size;
    },
    registry,
    metrics,
    maxMessageBytes: options.maxMessageBytes,
    api: createDocumentApi(registry, options.storage, metrics, options.maxDocumentBytes),
    matches: (pathname) => pathname === path || (pathname.startsWith(path) && pathname.charCodeAt(path.length) === 47),
    onChange: (listener) => void listeners.push(listener),
    async close() {
      closing = true;
      for (const conn of [...connections]) conn.close(DocumentCloseCodes.GOING_AWAY, "Server is shutting down");
      connections.clear();
      await registry.close();
      try {
        await options.storage.close();
      } catch (error) {
        report(error);
      }
    },
  };
}
