/**
 * React bindings, upstream's names and props: `LiveSyncProvider`, `useLiveSyncClient`, `useConnectionStatus`,
 * `useRoom`, `usePresence`, `useChat`; plus `useLiveSyncState` and `useLiveSyncEvent`. State comes through
 * `useSyncExternalStore`: the client's snapshots are immutable, so components re-render only on change.
 */
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import type { EventHandler, JoinRoomIdentity, LiveSyncClient, LiveSyncClientConfig, LiveSyncClientState } from "./api.ts";
import { createLiveSyncClient } from "./client.ts";
import type { PendingChatMessage } from "./outbox.ts";
import type { Presence, PresenceEntry } from "../protocol/messages.ts";
import type { ChatMessage } from "./wire.ts";
import * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
import {
  createDocumentProvider,
  type DocumentProvider,
  type DocumentProviderOptions,
  type DocumentProviderState,
} from "./document-provider.ts";

const LiveSyncContext = createContext<LiveSyncClient | null>(null);
/** Where `useDocument` connects by default, from `LiveSyncProvider`'s props. */
const DocumentsContext = createContext<Pick<DocumentProviderOptions, "url" | "getAuthToken" | "WebSocket"> | null>(null);

export interface LiveSyncProviderProps extends Partial<LiveSyncClientConfig> {
  children?: ReactNode;
  /** A client you created; the provider neither connects nor disconnects it. */
  client?: LiveSyncClient;
  /** The document endpoint for `useDocument`. @default `/yjs` on the host of `url` */
  documentsUrl?: string;
}

/**
 * Gives the tree a client: pass `client`, or `url` (and other config) for one created, connected on mount
 * and disconnected on unmount.
 * @example
 * <LiveSyncProvider url="ws://localhost:3000/live"><App /></LiveSyncProvider>
 */
export function LiveSyncProvider(props: LiveSyncProviderProps) {
  const { children, client: given, documentsUrl, ...config } = props;
  const [owned] = useState(() => (given || !config.url ? null : createLiveSyncClient(config as LiveSyncClientConfig)));
  const client = given ?? owned;
  useEffect(() => {
    if (!owned) return;
    owned.connect();
    return () => owned.disconnect();
  }, [owned]);
  if (!client) throw new Error("LiveSyncProvider: pass either `client` or config (e.g. `url`) to create the client.");
  const docsUrl = documentsUrl ?? (config.url ? new URL("/yjs", config.url).href : undefined);
  const { getAuthToken, WebSocket } = config;
  const documents = useMemo(
    () => (docsUrl ? { url: docsUrl, getAuthToken, WebSocket: WebSocket as DocumentProviderOptions["WebSocket"] } : null),
    [docsUrl, getAuthToken, WebSocket],
  );
  return createElement(
    LiveSyncContext.Provider,
    { value: client },
    createElement(DocumentsContext.Provider, { value: documents }, children),
  );
}

export function useLiveSyncClient(): LiveSyncClient {
  const client = useContext(LiveSyncContext);
  if (!client) throw new Error("useLiveSyncClient must be used within LiveSyncProvider");
  return client;
}

/** The whole client state; re-renders on every change. */
export function useLiveSyncState(): LiveSyncClientState {
  const client = useLiveSyncClient();
  return useSyncExternalStore(client.subscribe, client.getState, client.getState);
}

function useSelected<T>(select: (state: LiveSyncClientState) => T): T {
  const client = useLiveSyncClient();
  const get = () => select(client.getState());
  return useSyncExternalStore(client.subscribe, get, get);
}

/** `"connecting" | "open" | "closing" | "closed"`; `useLiveSyncState().status` has the finer one. */
export function useConnectionStatus(): LiveSyncClientState["connectionStatus"] {
  return useSelected((s) => s.connectionStatus);
}

export interface UseRoomOptions {
  /** Presence sent with the join. */
  initialPresence?: Presence;
  /** Join when `roomId` is set, leave on unmount or when it changes. @default true */
  autoJoin?: boolean;
  accessToken?: string;
  getAccessToken?: () => string | Promise<string>;
  name?: string;
  email?: string;
}

export interface UseRoomReturn {
  join: (roomId: string, presence?: Presence, identity?: JoinRoomIdentity) => void;
  leave: (roomId?: string) => void;
  updatePresence: (presence: Presence) => void;
  broadcastEvent: (event: string, payload?: unknown) => boolean;
  presence: Record<string, PresenceEntry>;
  connectionId: string | null;
  /** The client's room is `roomId` (it may still be rejoining; see `joined`). */
  isInRoom: boolean;
  /** The server confirmed the join on the current socket. */
  joined: boolean;
  currentRoomId: string | null;
}

const NO_PRESENCE: Record<string, PresenceEntry> = {};
const NO_MESSAGES: ChatMessage[] = [];
const NO_PENDING: PendingChatMessage[] = [];

/**
 * The room's state and actions; with `autoJoin` (default) it joins `roomId` and leaves on cleanup.
 * @example
 * const { presence, updatePresence } = useRoom("room1", { initialPresence: { color: "#0af" }, name: "Ada" });
 */
export function useRoom(roomId: string | null, options: UseRoomOptions = {}): UseRoomReturn {
  const { autoJoin = true, accessToken, getAccessToken, name, email } = options;
  const client = useLiveSyncClient();
  const state = useLiveSyncState();
  // Read at join time: an inline `{}` each render must not rejoin.
  const initialPresence = useRef(options.initialPresence);
  initialPresence.current = options.initialPresence;
  const tokenGetter = useRef(getAccessToken);
  tokenGetter.current = getAccessToken;

  const join = useCallback(
    (id: string, presence?: Presence, identity?: JoinRoomIdentity) =>
      client.joinRoom(id, presence ?? initialPresence.current, identity ?? { accessToken, name, email }),
    [client, accessToken, name, email],
  );
  const leave = useCallback((id?: string) => client.leaveRoom(id), [client]);

  useEffect(() => {
    if (!autoJoin || roomId === null) return;
    let cancelled = false;
    void (async () => {
      const token = accessToken ?? (tokenGetter.current ? await tokenGetter.current() : undefined);
      if (!cancelled) client.joinRoom(roomId, initialPresence.current, { accessToken: token, name, email });
    })();
    return () => {
      cancelled = true;
      client.leaveRoom(roomId);
    };
  }, [client, autoJoin, roomId, accessToken, name, email]);

  const updatePresence = useCallback((presence: Presence) => client.updatePresence(presence), [client]);
  const broadcastEvent = useCallback((event: string, payload?: unknown) => client.broadcastEvent(event, payload), [client]);
  const isInRoom = roomId !== null && state.currentRoomId === roomId;
  return {
    join,
    leave,
    updatePresence,
    broadcastEvent,
    presence: isInRoom ? state.presence : NO_PRESENCE,
    connectionId: isInRoom ? state.connectionId : null,
    isInRoom,
    joined: isInRoom && state.inRoom,
    currentRoomId: state.currentRoomId,
  };
}

/** The presence map of `roomId` (empty when the client is in another room). */
export function usePresence(roomId: string | null): Record<string, PresenceEntry> {
  return useSelected((s) => (roomId !== null && s.currentRoomId === roomId ? s.presence : NO_PRESENCE));
}

export interface UseChatReturn {
  messages: ChatMessage[];
  sendMessage: (message: string, metadata?: Record<string, unknown>) => string;
  /** Sends not yet acknowledged (queued offline or in flight). */
  pending: PendingChatMessage[];
  loadOlderMessages: (limit?: number) => Promise<ChatMessage[]>;
  hasMoreHistory: boolean;
  /** Ids of messages after which messages may be missing. */
  gaps: string[];
}

/** The chat of `roomId` (join it with `useRoom`). */
export function useChat(roomId: string | null): UseChatReturn {
  const client = useLiveSyncClient();
  const state = useLiveSyncState();
  const here = roomId !== null && state.currentRoomId === roomId;
  const sendMessage = useCallback((message: string, metadata?: Record<string, unknown>) => client.sendChat(message, metadata), [client]);
  const loadOlderMessages = useCallback((limit?: number) => client.loadOlderMessages(limit), [client]);
  return {
    messages: here ? state.chatMessages : NO_MESSAGES,
    sendMessage,
    pending: here ? state.pendingMessages : NO_PENDING,
    loadOlderMessages,
    hasMoreHistory: here && state.hasMoreHistory,
    gaps: here ? state.chatGaps : [],
  };
}

/** Call `handler` for each relayed event named `event` (`"*"`: all) while mounted. */
export function useLiveSyncEvent(event: string, handler: EventHandler): void {
  const client = useLiveSyncClient();
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => client.onEvent(event, (payload, relay) => latest.current(payload, relay)), [client, event]);
}

export interface UseDocumentOptions {
  /**
   * The server's document endpoint. Default: `/yjs` on the host of `LiveSyncProvider`'s `url` (its
   * `documentsUrl` prop when set).
   */
  url?: string;
  /** Called before every connect; the token goes in the URL as `?token=`. Default: `LiveSyncProvider`'s `getAuthToken`. */
  getAuthToken?: () => string | Promise<string>;
  /** WebSocket constructor for runtimes without a global one. Default: `LiveSyncProvider`'s `WebSocket`. */
  WebSocket?: DocumentProviderOptions["WebSocket"];
}

export interface UseDocumentReturn extends DocumentProviderState {
  /** The document's Y.Doc: one per name, kept while the component is mounted. */
  doc: Y.Doc;
  /** Its awareness (cursors, names); null before the provider starts. */
  awareness: Awareness | null;
}

const NOT_STARTED: DocumentProviderState = { status: "connecting", synced: false, readOnly: false, closed: null };

/**
 * A shared Yjs document and its sync status; connected while mounted, a new Y.Doc when `name` changes.
 * @example
 * const { doc, synced, readOnly } = useDocument("notes");
 * const text = doc.getText("body");
 */
export function useDocument(name: string, options: UseDocumentOptions = {}): UseDocumentReturn {
  const defaults = useContext(DocumentsContext);
  const url = options.url ?? defaults?.url;
  if (!url) throw new Error("useDocument: pass { url } (e.g. ws://localhost:3000/yjs) or use it within LiveSyncProvider with `url`.");
  const getAuthToken = useRef(options.getAuthToken ?? defaults?.getAuthToken);
  getAuthToken.current = options.getAuthToken ?? defaults?.getAuthToken;
  const WebSocketImpl = options.WebSocket ?? defaults?.WebSocket;
  // biome-ignore lint/correctness/useExhaustiveDependencies: one Y.Doc per document: a new name (or endpoint) is a new document.
  const doc = useMemo(() => new Y.Doc(), [name, url]);
  const [provider, setProvider] = useState<DocumentProvider | null>(null);
  const [state, setState] = useState<DocumentProviderState>(NOT_STARTED);
  useEffect(() => {
    const p = createDocumentProvider({
      url,
      name,
      doc,
      ...(getAuthToken.current ? { getAuthToken: () => getAuthToken.current!() } : {}),
      ...(WebSocketImpl ? { WebSocket: WebSocketImpl } : {}),
    });
    setProvider(p);
    setState(p.getState());
    const unsubscribe = p.subscribe(setState);
    return () => {
      unsubscribe();
      p.destroy();
      setProvider(null);
    };
  }, [doc, url, name, WebSocketImpl]);
  return { ...state, doc, awareness: provider?.awareness ?? null };
}
