/**
 * A Y.Doc bound to a shared document on the server, over the y-websocket protocol (`${url}/${name}`):
 * sync, updates and awareness as the stock `y-websocket` provider does, plus a status to render, a fresh
 * token on every connect, reconnects with backoff, and no retry when the server said not to come back.
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as Y from "yjs";
import { readAuthMessage } from "y-protocols/auth";
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from "y-protocols/awareness";
import { messageYjsSyncStep2, readSyncMessage, writeSyncStep1, writeUpdate } from "y-protocols/sync";
import { createBackoff } from "./backoff.ts";

/** What the provider needs of a WebSocket: the browser's, Bun's, Deno's, Node 22's, or `ws`'s. */
export interface BinaryWebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: any) => void) | null;
}

export interface DocumentProviderOptions {
  /** The server's document endpoint, e.g. `ws://localhost:3000/yjs` (the server's `documents.path`). */
  url: string;
  /** The document name (1 to 256 characters). */
  name: string;
  /** The doc to bind; a new one when absent. `destroy()` leaves it to you. */
  doc?: Y.Doc;
  /** Called before every connect; the token goes in the URL as `?token=`. */
  getAuthToken?: () => string | Promise<string>;
  /** WebSocket constructor for runtimes without a global one (Node 20: `import WebSocket from "ws"`). @default globalThis.WebSocket */
  WebSocket?: new (
    url: string,
  ) => BinaryWebSocketLike;
  /** First reconnect delay; it doubles per attempt, jittered. @default 1000 */
  reconnectIntervalMs?: number;
  /** Longest reconnect delay. @default 30000 */
  maxReconnectIntervalMs?: number;
}

/**
 * `connecting`: no socket open, or open and the server's state not in yet. `synced`: the doc holds the
 * server's state and changes flow both ways. `offline`: the socket dropped; a reconnect is due.
 * `stopped`: `destroy()` was called, or the server closed with a code that says not to come back.
 */
export type DocumentStatus = "connecting" | "synced" | "offline" | "stopped";

export interface DocumentProviderState {
  status: DocumentStatus;
  /** The doc has had the server's state at least once (it stays true while offline). */
  synced: boolean;
  /** The server refused an edit of this client: the document is read-only for it. */
  readOnly: boolean;
  /** Close code and reason of the last socket, when the server closed it. */
  closed: { code: number; reason: string } | null;
}

export interface DocumentProvider {
  readonly doc: Y.Doc;
  /** Cursors and names: `awareness.setLocalStateField("user", { name, color })`. */
  readonly awareness: Awareness;
  getState(): DocumentProviderState;
  /** Called with the new state on every change. Returns the unsubscribe function. */
  subscribe(listener: (state: DocumentProviderState) => void): () => void;
  /** Close the socket and stop. The doc keeps its content. */
  destroy(): void;
}

/** 1008, 1009 and 4400/4403/4413: the same socket would be closed again; the y-websocket provider stops too. */
const FINAL_CLOSE_CODES = new Set([1008, 1009, 4400, 4403, 4413]);
const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const MESSAGE_AUTH = 2;
const MESSAGE_QUERY_AWARENESS = 3;

/**
 * Binds a Y.Doc to the document `name` on the server.
 * @example
 * const notes = createDocumentProvider({ url: "ws://localhost:3000/yjs", name: "notes", getAuthToken });
 * notes.doc.getText("body").insert(0, "Hello");
 */
export function createDocumentProvider(options: DocumentProviderOptions): DocumentProvider {
  const doc = options.doc ?? new Y.Doc();
  const awareness = new Awareness(doc);
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: DocumentProviderOptions["WebSocket"] }).WebSocket;
  if (!WebSocketImpl) throw new Error("createDocumentProvider: no WebSocket in this runtime; pass the WebSocket option");
  const backoff = createBackoff(options.reconnectIntervalMs ?? 1000, options.maxReconnectIntervalMs ?? 30_000);
  const listeners = new Set<(state: DocumentProviderState) => void>();
  let state: DocumentProviderState = { status: "connecting", synced: false, readOnly: false, closed: null };
  let ws: BinaryWebSocketLike | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let destroyed = false;

  const set = (change: Partial<DocumentProviderState>) => {
    state = { ...state, ...change };
    for (const listener of listeners) listener(state);
  };
  const send = (write: (encoder: encoding.Encoder) => void) => {
    if (ws?.readyState !== 1) return;
    const encoder = encoding.createEncoder();
    write(encoder);
    ws.send(encoding.toUint8Array(encoder));
  };
  const sendAwareness = (clients: number[]) =>
    send((e) => {
      encoding.writeVarUint(e, MESSAGE_AWARENESS);
      encoding.writeVarUint8Array(e, encodeAwarenessUpdate(awareness, clients));
    });

  const onUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin !== provider) send((e) => (encoding.writeVarUint(e, MESSAGE_SYNC), writeUpdate(e, update)));
  };
  const onAwareness = ({ added, updated, removed }: Record<string, number[]>, origin: unknown) => {
    if (origin !== provider) sendAwareness([...added!, ...updated!, ...removed!]);
  };
  doc.on("update", onUpdate);
  awareness.on("update", onAwareness);

  function receive(data: Uint8Array): void {
    const decoder = decoding.createDecoder(data);
    const type = decoding.readVarUint(decoder);
    if (type === MESSAGE_SYNC) {
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, MESSAGE_SYNC);
      const kind = readSyncMessage(decoder, encoder, doc, provider);
      // Only the sync message wrote something past its type: the answer to the server's step 1.
      if (encoding.length(encoder) > 1) ws?.send(encoding.toUint8Array(encoder));
      if (kind === messageYjsSyncStep2 && state.status !== "synced") set({ status: "synced", synced: true });
    } else if (type === MESSAGE_AWARENESS) {
      applyAwarenessUpdate(awareness, decoding.readVarUint8Array(decoder), provider);
    } else if (type === MESSAGE_AUTH) {
      readAuthMessage(decoder, doc, () => set({ readOnly: true }));
    } else if (type === MESSAGE_QUERY_AWARENESS) {
      sendAwareness([...awareness.getStates().keys()]);
    }
  }

  async function connect(): Promise<void> {
    timer = undefined;
    let token: string | undefined;
    try {
      token = options.getAuthToken ? await options.getAuthToken() : undefined;
    } catch {
      return retry();
    }
    if (stopped) return;
    const query = token === undefined ? "" : `?token=${encodeURIComponent(token)}`;
    const socket = new WebSocketImpl!(`${options.url.replace(/\/$/, "")}/${encodeURIComponent(options.name)}${query}`);
    ws = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      backoff.reset();
      send((e) => (encoding.writeVarUint(e, MESSAGE_SYNC), writeSyncStep1(e, doc)));
      if (awareness.getLocalState() !== null) sendAwareness([doc.clientID]);
    };
    socket.onmessage = (event) => {
      if (ws === socket) receive(new Uint8Array(event.data as ArrayBuffer));
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = undefined;
      // The others' cursors are stale from now on; ours stays set for the next socket.
      const others = [...awareness.getStates().keys()].filter((id) => id !== doc.clientID);
      removeAwarenessStates(awareness, others, provider);
      const closed = { code: event.code, reason: event.reason };
      if (stopped || FINAL_CLOSE_CODES.has(event.code)) {
        stopped = true;
        return set({ status: "stopped", closed });
      }
      set({ status: "offline", closed });
      retry();
    };
    socket.onerror = () => {};
  }

  function retry(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      set({ status: "connecting" });
      void connect();
    }, backoff.next());
  }

  const provider: DocumentProvider = {
    doc,
    awareness,
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    destroy() {
      if (destroyed) return;
      destroyed = stopped = true;
      clearTimeout(timer);
      timer = undefined;
      // Tell the others this client is gone (its cursor goes) while the socket is still open.
      removeAwarenessStates(awareness, [doc.clientID], "local");
      doc.off("update", onUpdate);
      awareness.off("update", onAwareness);
      const socket = ws;
      ws = undefined;
      socket?.close(1000, "Provider destroyed");
      awareness.destroy();
      set({ status: "stopped" });
    },
  };
  void connect();
  return provider;
}
