/**
 * One logical connection over many sockets: opens a socket (with a fresh token each time), reopens it with
 * backoff when it drops, and stops for good on the close codes that say "do not come back".
 */
import { CloseCodes } from "../protocol/codes.ts";
import { createBackoff } from "./backoff.ts";
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
  url: string;
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
  /** Write a frame on the open socket; false when there is none. */
  send(frame: unknown): boolean;
  readonly isOpen: boolean;
}

export function createConnection(options: ConnectionOptions): Connection {
  const backoff = createBackoff(options.reconnectIntervalMs, options.maxReconnectIntervalMs);
  let socket: WebSocketLike | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by start() and stop(): callbacks of an older generation are ignored. */
  let generation = 0;
  let running = false;
  /** When the current socket opened: a 4401 on a socket that lived a while retries at once with a fresh token. */
  let openedAt = 0;

  const setStatus = (status: SocketStatus) => options.onStatus(status, backoff.attempt);

  function withToken(url: string, token: string): string {
    if (!token) return url;
    return `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}`;
  }

  async function open(gen: number) {
    const WebSocketImpl = options.WebSocket;
    if (!WebSocketImpl) {
      running = false;
      options.onError(
        new ClientConfigError(
          'No WebSocket in this runtime (Node 20 has none): pass one, e.g. createLiveSyncClient({ url, WebSocket }) with `import WebSocket from "ws"`.',
        ),
      );
      return setStatus("stopped");
    }
    let url = options.url;
    if (options.getAuthToken) {
      try {
        url = withToken(url, await options.getAuthToken());
      } catch (error) {
        if (gen !== generation) return;
        options.onError(new AuthTokenError(error));
        return retry(gen, false);
      }
      if (gen !== generation) return;
    }
    let ws: WebSocketLike;
    try {
      ws = new WebSocketImpl(url);
    } catch (error) {
      // A malformed URL: retrying cannot help.
      running = false;
      options.onError(
        new ClientConfigError(`Cannot open a WebSocket to ${options.url}: ${error instanceof Error ? error.message : String(error)}`),
      );
      return setStatus("stopped");
    }
    socket = ws;
    ws.onopen = () => {
      if (gen !== generation) return;
      backoff.reset();
      openedAt = Date.now();
      setStatus("open");
      options.onOpen();
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (gen !== generation) return;
      const data = event.data;
      options.onMessage(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer));
    };
    ws.onerror = () => {};
    ws.onclose = (event: { code?: number; reason?: string }) => {
      if (gen !== generation || socket !== ws) return;
      socket = undefined;
      const code = event.code ?? 1006;
      if (FINAL_CLOSE_CODES.has(code)) {
        running = false;
        options.onDrop(code, false);
        options.onError(new ConnectionClosedError(code, event.reason ?? ""));
        return setStatus("stopped");
      }
      // An expired token: fetch a fresh one now. A token that expires again at once waits like any drop.
      const immediate = code === CloseCodes.UNAUTHORIZED && Date.now() - openedAt > options.reconnectIntervalMs;
      options.onDrop(code, options.reconnect);
      retry(gen, immediate);
    };
  }

  function retry(gen: number, immediate: boolean) {
    if (!options.reconnect) {
      running = false;
      return setStatus("idle");
    }
    const delay = immediate ? 0 : backoff.next();
    setStatus("reconnecting");
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (gen === generation) void open(gen);
    }, delay);
  }

  return {
    start() {
      if (running) return;
      running = true;
      const gen = ++generation;
      backoff.reset();
      setStatus("connecting");
      void open(gen);
    },
    stop() {
      running = false;
      generation++;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      const ws = socket;
      socket = undefined;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = null;
        try {
          ws.close(1000, "client disconnect");
        } catch {}
      }
      setStatus("idle");
    },
    send(frame) {
      if (!socket || socket.readyState !== OPEN) return false;
      socket.send(JSON.stringify(frame));
      return true;
    },
    get isOpen() {
      return socket?.readyState === OPEN;
    },
  };
}
