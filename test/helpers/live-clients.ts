/** Clients from our client package (the source, on Node with `ws`) and a way to wait on their state. */
import WebSocket from "ws";
import { createLiveSyncClient, type LiveSyncClient, type LiveSyncClientConfig, type LiveSyncClientState } from "../../src/client/index.ts";

export function liveClient(url: string, config: Partial<LiveSyncClientConfig> = {}): LiveSyncClient {
  const client = createLiveSyncClient({
    url,
    WebSocket,
    reconnectIntervalMs: 50,
    maxReconnectIntervalMs: 400,
    ...config,
  });
  created.add(client);
  return client;
}

const created = new Set<LiveSyncClient>();
/** Disconnect every client made by `liveClient` (afterEach). */
export function disconnectAll() {
  for (const client of created) client.disconnect();
  created.clear();
}

/**
 * Resolve once `predicate(client.getState())` holds; reject after `timeoutMs` with the last state, so a
 * failure says what the client saw. The timeout only bounds a failing test; nothing is timed.
 */
export function until(
  client: LiveSyncClient,
  predicate: (state: LiveSyncClientState) => boolean,
  what = "condition",
  timeoutMs = 20_000,
): Promise<LiveSyncClientState> {
  return new Promise((resolve, reject) => {
    if (predicate(client.getState())) return resolve(client.getState());
    const timer = setTimeout(() => {
      off();
      const s = client.getState();
      reject(
        new Error(
          `timed out waiting for ${what}; state: ${JSON.stringify({ ...s, lastError: s.lastError && `${s.lastError.code}: ${s.lastError.message}` }).slice(0, 3000)}`,
        ),
      );
    }, timeoutMs);
    const off = client.subscribe((state) => {
      if (!predicate(state)) return;
      clearTimeout(timer);
      off();
      resolve(state);
    });
  });
}

export const messagesOf = (state: LiveSyncClientState) => state.chatMessages.map((m) => m.message);
