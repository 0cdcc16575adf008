/**
 * One logical connection over many sockets: opens a socket (with a fresh token each time), reopens it with
 * backoff when it drops, and stops for good on the close codes that say "do not come back".
 */
import { CloseCodes } from "../protocol/codes.ts";
import { createBackoff, type Backoff } from "./backoff.ts";
import { AuthTokenError, ClientConfigError, ConnectionClosedError, type LiveSyncError } from "./errors.ts";

/** What the client needs of a WebSocket: the browser's, Bun's, Deno's, Node 22's, or `ws`'s. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}
export type WebSocketConstructorLike = new (url: string) => WebSocketLike;

const OPEN = 1;
/** 1008 policy violation, 4403 forbidden: the server does not want this client back. */
const FINAL_CLOSE_CODES = new Set([1008, 4403]);

export type SocketStatus = "idle" | "connecting" | "open" | "reconnecting" | "stopped";

export interface ConnectionOptions {
  /** The URL, read again for every socket. */
  url: () => string;
  WebSocket: WebSocketConstructorLike | undefined;
  getAuthToken?: () => string | Promise<string>;
  reconnect: boolean;
  reconnectIntervalMs: number;
  maxReconnectIntervalMs: number;
  onOpen(): void;
  onMessage(data: string): void;
  /** The socket closed (not by `stop()`); `willRetry` says whether another socket follows. */
  onDrop(code: number, willRetry: boolean): void;
  onStatus(status: SocketStatus, attempt: number): void;
  onError(error: LiveSyncError): void;
}

export interface Connection {
  start(): void;
  stop(): void;
  /** Close the current socket, if any, and open a new one at once (its URL read again). */
  restart(): void;
  /** Write a frame on the open socket; false when there is none. */
  send(frame: unknown): boolean;
  readonly isOpen: boolean;
}

export function createConnection(options: ConnectionOptions): Connection {
  return new ReconnectingConnection(options);
}

function withToken(url: string, token: string): string {
  if (!token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}`;
}

/**
 * Sockets one after another: each `open` belongs to a generation, bumped by `start()` and `stop()`, so the
 * callbacks of a socket from an older generation do nothing.
 */
class ReconnectingConnection implements Connection {
  private readonly options: ConnectionOptions;
  private readonly backoff: Backoff;
  private socket: WebSocketLike | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  private running = false;
  /** When the current socket opened: a 4401 on a socket that lived a while retries at once with a fresh token. */
  private openedAt = 0;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.backoff = createBackoff(options.reconnectIntervalMs, options.maxReconnectIntervalMs);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const gen = ++this.generation;
    this.backoff.reset();
    this.setStatus("connecting");
    void this.open(gen);
  }

  stop(): void {
    this.running = false;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const ws = this.socket;
    this.socket = undefined;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000, "client disconnect");
      } catch {}
    }
    this.setStatus("idle");
  }

  restart(): void {
    if (!this.running) return;
    this.stop();
    this.start();
  }

  send(frame: unknown): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  get isOpen(): boolean {
    return this.socket?.readyState === OPEN;
  }

  private setStatus(status: SocketStatus): void {
    this.options.onStatus(status, this.backoff.attempt);
  }

  /** Stop for good after a failure that retrying cannot fix. */
  private giveUp(error: LiveSyncError): void {
    this.running = false;
    this.options.onError(error);
    this.setStatus("stopped");
  }

  private async open(gen: number): Promise<void> {
    const { options } = this;
    const WebSocketImpl = options.WebSocket;
    if (!WebSocketImpl) {
      return this.giveUp(
        new ClientConfigError(
          'No WebSocket in this runtime (Node 20 has none): pass one, e.g. createLiveSyncClient({ url, WebSocket }) with `import WebSocket from "ws"`.',
        ),
      );
    }
    const base = options.url();
    let url = base;
    if (options.getAuthToken) {
      try {
        url = withToken(url, await options.getAuthToken());
      } catch (error) {
        if (gen !== this.generation) return;
        options.onError(new AuthTokenError(error));
        return this.retry(gen, false);
      }
      if (gen !== this.generation) return;
    }
    let ws: WebSocketLike;
    try {
      ws = new WebSocketImpl(url);
    } catch (error) {
      // A malformed URL: retrying cannot help.
      const why = error instanceof Error ? error.message : String(error);
      return this.giveUp(new ClientConfigError(`Cannot open a WebSocket to ${base}: ${why}`));
    }
    this.socket = ws;
    this.listen(ws, gen);
  }

  private listen(ws: WebSocketLike, gen: number): void {
    ws.onopen = () => {
      if (gen !== this.generation) return;
      this.backoff.reset();
      this.openedAt = Date.now();
      this.setStatus("open");
      this.options.onOpen();
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (gen !== this.generation) return;
      const data = event.data;
      this.options.onMessage(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer));
    };
    ws.onerror = () => {};
    ws.onclose = (event: { code?: number; reason?: string }) => {
      if (gen !== this.generation || this.socket !== ws) return;
      this.socket = undefined;
      this.closed(gen, event.code ?? 1006, event.reason ?? "");
    };
  }

  /** The current socket closed (not by `stop()`): stop on a final code, else come back. */
  private closed(gen: number, code: number, reason: string): void {
    const { options } = this;
    if (FINAL_CLOSE_CODES.has(code)) {
      this.running = false;
      options.onDrop(code, false);
      return this.giveUp(new ConnectionClosedError(code, reason));
    }
    // An expired token: fetch a fresh one now. A token that expires again at once waits like any drop.
    const immediate = code === CloseCodes.UNAUTHORIZED && Date.now() - this.openedAt > options.reconnectIntervalMs;
    options.onDrop(code, options.reconnect);
    this.retry(gen, immediate);
  }

  private retry(gen: number, immediate: boolean): void {
    if (!this.options.reconnect) {
      this.running = false;
      return this.setStatus("idle");
    }
    const delay = immediate ? 0 : this.backoff.next();
    this.setStatus("reconnecting");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (gen === this.generation) void this.open(gen);
    }, delay);
  }
}
