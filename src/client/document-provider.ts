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
import { createBackoff, type Backoff } from "./backoff.ts";

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
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: DocumentProviderOptions["WebSocket"] }).WebSocket;
  if (!WebSocketImpl) throw new Error("createDocumentProvider: no WebSocket in this runtime; pass the WebSocket option");
  const provider = new YjsSocketProvider(options, WebSocketImpl);
  void provider.connect();
  return provider;
}

/**
 * One provider: the doc and its awareness (changes out, the server's in), the state its listeners see, and
 * the socket of the moment (reopened with backoff until it is stopped). The doc's and the awareness's
 * changes that came from the server carry the provider itself as origin, so they are not sent back.
 */
class YjsSocketProvider implements DocumentProvider {
  readonly doc: Y.Doc;
  readonly awareness: Awareness;
  private state: DocumentProviderState = { status: "connecting", synced: false, readOnly: false, closed: null };
  private readonly listeners = new Set<(state: DocumentProviderState) => void>();
  private readonly backoff: Backoff;
  private ws: BinaryWebSocketLike | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private destroyed = false;

  constructor(
    private readonly options: DocumentProviderOptions,
    private readonly WebSocketImpl: new (url: string) => BinaryWebSocketLike,
  ) {
    this.doc = options.doc ?? new Y.Doc();
    this.awareness = new Awareness(this.doc);
    this.backoff = createBackoff(options.reconnectIntervalMs ?? 1000, options.maxReconnectIntervalMs ?? 30_000);
    this.doc.on("update", this.onUpdate);
    this.awareness.on("update", this.onAwareness);
  }

  getState = (): DocumentProviderState => this.state;

  subscribe = (listener: (state: DocumentProviderState) => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Tell the others this client is gone (its cursor goes) while the socket is still open.
    removeAwarenessStates(this.awareness, [this.doc.clientID], "local");
    this.doc.off("update", this.onUpdate);
    this.awareness.off("update", this.onAwareness);
    const socket = this.ws;
    this.ws = undefined;
    socket?.close(1000, "Provider destroyed");
    this.awareness.destroy();
    this.set({ status: "stopped" });
  }

  async connect(): Promise<void> {
    this.timer = undefined;
    let token: string | undefined;
    try {
      token = this.options.getAuthToken ? await this.options.getAuthToken() : undefined;
    } catch {
      return this.retry();
    }
    if (this.stopped) return;
    const query = token === undefined ? "" : `?token=${encodeURIComponent(token)}`;
    const socket = new this.WebSocketImpl(`${this.options.url.replace(/\/$/, "")}/${encodeURIComponent(this.options.name)}${query}`);
    this.ws = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      this.backoff.reset();
      this.send((e) => (encoding.writeVarUint(e, MESSAGE_SYNC), writeSyncStep1(e, this.doc)));
      if (this.awareness.getLocalState() !== null) this.sendAwareness([this.doc.clientID]);
    };
    socket.onmessage = (event) => {
      if (this.ws === socket) this.receive(new Uint8Array(event.data as ArrayBuffer));
    };
    socket.onclose = (event) => {
      if (this.ws === socket) this.closed({ code: event.code, reason: event.reason });
    };
    socket.onerror = () => {};
  }

  private closed(closed: { code: number; reason: string }): void {
    this.ws = undefined;
    // The others' cursors are stale from now on; ours stays set for the next socket.
    const others = [...this.awareness.getStates().keys()].filter((id) => id !== this.doc.clientID);
    removeAwarenessStates(this.awareness, others, this);
    if (this.stopped || FINAL_CLOSE_CODES.has(closed.code)) {
      this.stopped = true;
      return this.set({ status: "stopped", closed });
    }
    this.set({ status: "offline", closed });
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.set({ status: "connecting" });
      void this.connect();
    }, this.backoff.next());
  }

  private receive(data: Uint8Array): void {
    const decoder = decoding.createDecoder(data);
    const type = decoding.readVarUint(decoder);
    if (type === MESSAGE_SYNC) {
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, MESSAGE_SYNC);
      const kind = readSyncMessage(decoder, encoder, this.doc, this);
      // Only the sync message wrote something past its type: the answer to the server's step 1.
      if (encoding.length(encoder) > 1) this.ws?.send(encoding.toUint8Array(encoder));
      if (kind === messageYjsSyncStep2 && this.state.status !== "synced") this.set({ status: "synced", synced: true });
    } else if (type === MESSAGE_AWARENESS) {
      applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this);
    } else if (type === MESSAGE_AUTH) {
      readAuthMessage(decoder, this.doc, () => this.set({ readOnly: true }));
    } else if (type === MESSAGE_QUERY_AWARENESS) {
      this.sendAwareness([...this.awareness.getStates().keys()]);
    }
  }

  private readonly onUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin !== this) this.send((e) => (encoding.writeVarUint(e, MESSAGE_SYNC), writeUpdate(e, update)));
  };

  private readonly onAwareness = ({ added, updated, removed }: Record<string, number[]>, origin: unknown) => {
    if (origin !== this) this.sendAwareness([...added!, ...updated!, ...removed!]);
  };

  private sendAwareness(clients: number[]): void {
    this.send((e) => {
      encoding.writeVarUint(e, MESSAGE_AWARENESS);
      encoding.writeVarUint8Array(e, encodeAwarenessUpdate(this.awareness, clients));
    });
  }

  private send(write: (encoder: encoding.Encoder) => void): void {
    if (this.ws?.readyState !== 1) return;
    const encoder = encoding.createEncoder();
    write(encoder);
    this.ws.send(encoding.toUint8Array(encoder));
  }

  private set(change: Partial<DocumentProviderState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener(this.state);
  }
}
