/**
 * One logical connection over many sockets: opens a socket (with a fresh token each time), reopens it with
 * backoff when it drops, and stops for good on the close codes that say "do not come back".
 */
import { CloseCodes } from "../protocol/codes.ts";
import { createBackoff, type Backoff } from "./backoff.ts";
import { AuthTokenError, ClientConfigError, ConnectError, ConnectionClosedError, type LiveSyncError } from "./errors.ts";

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

/**
 * `unreachable`: the last {@link UNREACHABLE_AFTER} attempts in a row never opened a socket. The client keeps
 * retrying with backoff; `lastError` is a `ConnectError` saying what is known.
 */
export type SocketStatus = "idle" | "connecting" | "open" | "reconnecting" | "unreachable" | "stopped";

/** Attempts in a row that never opened before the status says `unreachable` instead of `reconnecting`. */
export const UNREACHABLE_AFTER = 3;

/** The HTTP status in a runtime's handshake error: `ws` says "Unexpected server response: 403", Deno "Invalid status code 403". */
function refusalStatus(detail: string | undefined): number | undefined {
  const m = detail && /(?:server response|status(?: code)?)\D{0,3}([1-5]\d\d)\b/i.exec(detail);
  return m ? Number(m[1]) : undefined;
}

/** The runtime's words for a failed handshake, when its error event carries any. */
function errorDetail(event: unknown): string | undefined {
  const e = event as { message?: unknown; error?: { message?: unknown } } | undefined;
  const text = typeof e?.message === "string" && e.message ? e.message : e?.error?.message;
  return typeof text === "string" && text ? text : undefined;
}

/** The URL as the user wrote it, never with the token the client added. */
function shownUrl(url: string): string {
  return url.replace(/([?&])access_token=[^&]*/, "$1access_token=…");
}

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
  /** The status changed; `error`, when given, is why (reported with it, in one change). */
  onStatus(status: SocketStatus, attempt: number, error?: LiveSyncError): void;
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
  /** The URL of the latest socket (without its token), for errors. */
  private lastUrl = "";
  /** Attempts in a row whose socket never opened; 0 once one opens. */
  private failedOpens = 0;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.backoff = createBackoff(options.reconnectIntervalMs, options.maxReconnectIntervalMs);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const gen = ++this.generation;
    this.backoff.reset();
    this.failedOpens = 0;
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

  private setStatus(status: SocketStatus, error?: LiveSyncError): void {
    this.options.onStatus(status, this.backoff.attempt, error);
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
    this.lastUrl = base;
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
    let opened = false;
    let detail: string | undefined;
    ws.onopen = () => {
      if (gen !== this.generation) return;
      opened = true;
      this.failedOpens = 0;
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
    ws.onerror = (event: unknown) => {
      detail ??= errorDetail(event);
    };
    ws.onclose = (event: { code?: number; reason?: string }) => {
      if (gen !== this.generation || this.socket !== ws) return;
      this.socket = undefined;
      if (!opened) return this.neverOpened(gen, detail ?? (event.reason || undefined));
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

  /** The socket closed before it opened: say what is known, then retry like any drop (visibly, after a few). */
  private neverOpened(gen: number, detail: string | undefined): void {
    this.failedOpens++;
    const url = this.lastUrl;
    this.options.onDrop(1006, this.options.reconnect);
    this.retry(gen, false, new ConnectError(shownUrl(url), this.failedOpens, refusalStatus(detail), detail));
  }

  private retry(gen: number, immediate: boolean, error?: LiveSyncError): void {
    if (!this.options.reconnect) {
      this.running = false;
      return this.setStatus("idle", error);
    }
    const delay = immediate ? 0 : this.backoff.next();
    this.setStatus(this.failedOpens >= UNREACHABLE_AFTER ? "unreachable" : "reconnecting", error);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (gen === this.generation) void this.open(gen);
    }, delay);
  }
}
