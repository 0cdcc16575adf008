import type { Hooks, Peer } from "crossws";
import type { UserInfo } from "../protocol/messages.ts";
import type { TokenVerifier } from "../options.ts";
import { DocumentCloseCodes } from "./codes.ts";
import { DocumentMetrics } from "./document-metrics.ts";
import { DocumentRegistry } from "./document-registry.ts";
import { YWebsocketConnection, type ConnectionContext, type DocumentConnection } from "./document-connection.ts";
import { REMOTE_ORIGIN, type LiveDocumentHooks } from "./live-document.ts";
import type { DocumentAccess, ResolvedDocumentOptions } from "./options.ts";
import type { DocumentLink } from "../cluster/backplane.ts";
import { DocumentPeers } from "./document-peers.ts";
import { documentUpgrade, userOf, type DocumentContext } from "./document-upgrade.ts";
import { HocuspocusConnection } from "./hocuspocus-connection.ts";
import { createDocumentApi, type DocumentApi } from "./document-api.ts";
import type { DocumentWire } from "./document-wire.ts";

export interface DocumentSideDeps {
  options: ResolvedDocumentOptions;
  /** The rooms' upgrade checks (shutdown, guard, `onAuth`): a refusal, or the user. */
  admit(request: Request): Promise<Response | { context: { user: UserInfo } } | undefined>;
  verifyToken: TokenVerifier | undefined;
  /** The backplane's document link: documents cross instances (docs/documents.md, "Across instances"). */
  link?: DocumentLink;
  /** The runtime's direct frame writes (Node: past ws's Sender), if it has them. */
  wire?: DocumentWire;
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
  /** Be told of every change made to a loaded document on this instance (not those from other instances). */
  onChange(listener: LiveDocumentHooks["changed"]): void;
  /** Close every document socket with 1001, write what is pending, close the storage. */
  close(): Promise<void>;
}

const CONNECTION = Symbol("openlivesync.document-connection");
const connectionOf = (peer: unknown) => (peer as Record<symbol, DocumentConnection | undefined>)[CONNECTION];

/** The context both protocols' connections share: options, registry, token check and `authorize`. */
function connectionContext(deps: DocumentSideDeps, registry: DocumentRegistry, metrics: DocumentMetrics): ConnectionContext {
  const { options, report, verifyToken } = deps;
  return {
    options,
    metrics,
    registry,
    report,
    wire: deps.wire,
    verifyToken:
      verifyToken &&
      (async (token) => {
        const decoded = await verifyToken(token);
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
}

/** The loaded documents, linked to the other instances' when the backplane carries documents. */
function createRegistry(deps: DocumentSideDeps, metrics: DocumentMetrics, listeners: Array<LiveDocumentHooks["changed"]>) {
  const { options, report } = deps;
  return new DocumentRegistry({
    storage: options.storage,
    writeWindowMs: options.writeWindowMs,
    unloadAfterMs: options.unloadAfterMs,
    maxDocuments: options.maxDocuments,
    metrics,
    peers: deps.link && new DocumentPeers(deps.link, report),
    wire: deps.wire,
    fanoutDuty: options.fanoutDuty,
    report,
    hooks: {
      changed(doc, update, origin) {
        // Another instance's change is its news, told there (one `document.updated` per change, not one per holder).
        if (origin === REMOTE_ORIGIN) return;
        for (const listener of listeners) listener(doc, update, origin);
      },
    },
  });
}

/** Each socket's connection: Hocuspocus at `path` itself, y-websocket under it; kept on the peer. */
function socketHooks(ctx: ConnectionContext, connections: Set<DocumentConnection>, closing: () => boolean): Partial<Hooks> {
  return {
    open(peer: Peer) {
      const context = peer.context as unknown as DocumentContext;
      const onClose = (code: number) => ctx.metrics.closed(code);
      if (closing()) return peer.close(DocumentCloseCodes.GOING_AWAY, "Server is shutting down");
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
}

/**
 * The documents beside the rooms: their own crossws hooks (the runtime routes upgrades under `path` to
 * them), sharing the rooms' upgrade checks and token verification but none of the rooms' hot paths.
 */
export function createDocumentSide(deps: DocumentSideDeps): DocumentSide {
  const { options, report } = deps;
  const metrics = new DocumentMetrics();
  const listeners: Array<LiveDocumentHooks["changed"]> = [];
  const registry = createRegistry(deps, metrics, listeners);
  const connections = new Set<DocumentConnection>();
  const ctx = connectionContext(deps, registry, metrics);
  const path = options.path;
  let closing = false;
  const hooks: Partial<Hooks> = {
    upgrade: documentUpgrade({ path, admit: deps.admit, verifyToken: deps.verifyToken, closing: () => closing }),
    ...socketHooks(ctx, connections, () => closing),
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
