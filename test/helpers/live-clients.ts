/** Clients from our client package (the source, on Node with `ws`) and a way to wait on their state. */
import WebSocket from "ws";
import { createLiveSyncClient, type LiveSyncClient, type LiveSyncClientConfig, type LiveSyncClientState } from "../../src/client/index.ts";
import { TestClient } from "./client.ts";

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

/** A raw protocol client beside the library's clients; `disconnectAll` ends it too. */
export function rawClient(url: string): TestClient {
  const c = new TestClient(url);
  raw.add(c);
  return c;
}

const created = new Set<LiveSyncClient>();
const raw = new Set<TestClient>();
/** Disconnect every client made by `liveClient` and end every `rawClient` (afterEach). */
export function disconnectAll() {
  for (const client of created) client.disconnect();
  created.clear();
  for (const c of raw) c.ws.terminate();
  raw.clear();
}

/**
 * Poll `check` until it holds, for what changes no client state (events, counters); fails after
 * `timeoutMs` with `seen()` in the message.
 */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000, seen = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${seen()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
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
