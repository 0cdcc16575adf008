/** A client whose socket never opens says why, and says it louder after a few attempts, while it keeps retrying. */
import { createServer as createNetServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createServer, type NodeLiveServer } from "../../adapters/node/index.ts";
import { ConnectError, UNREACHABLE_AFTER, type WebSocketConstructorLike } from "../../src/client/index.ts";
import { disconnectAll, liveClient, until } from "../helpers/live-clients.ts";

const servers: NodeLiveServer[] = [];
afterEach(async () => {
  disconnectAll();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(options: Parameters<typeof createServer>[0]): Promise<string> {
  const server = createServer({ port: 0, hostname: "127.0.0.1", heartbeatIntervalMs: 0, ...options });
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live`;
}

/** `ws` as a browser page on another site would open it: with an `Origin` header. */
const fromOrigin = (origin: string) =>
  class extends WebSocket {
    constructor(url: string) {
      super(url, { origin });
    }
  } as unknown as WebSocketConstructorLike;

/** A port on 127.0.0.1 that nothing listens on (just closed). */
async function closedPort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe("a client whose socket never opens", () => {
  it("reports the HTTP 403 of a refused origin, and names allowedOrigins", async () => {
    const url = await listen({ allowedOrigins: ["https://app.example"] });
    const client = liveClient(url, { WebSocket: fromOrigin("https://elsewhere.example") });
    client.connect();
    const state = await until(client, (s) => s.lastError instanceof ConnectError, "a ConnectError");
    expect(state.status).toBe("reconnecting");
    expect(state.lastError).toMatchObject({ code: "CONNECT_FAILED", status: 403, url, attempts: 1 });
    expect(state.lastError!.message).toContain(`Could not open ${url}: the server answered HTTP 403`);
    expect(state.lastError!.message).toContain("allowedOrigins");
  });

  it("reports the HTTP 401 of an onAuth that refused", async () => {
    const url = await listen({ onAuth: async () => null });
    const client = liveClient(url, { getAuthToken: () => "secret-token" });
    client.connect();
    const state = await until(client, (s) => s.lastError instanceof ConnectError, "a ConnectError");
    expect(state.lastError).toMatchObject({ code: "CONNECT_FAILED", status: 401 });
    expect(state.lastError!.message).toContain("onAuth");
    // The token the client put in the URL never reaches the message.
    expect(state.lastError!.message).not.toContain("secret-token");
  });

  it(`says "unreachable" after ${UNREACHABLE_AFTER} attempts on a closed port, keeps retrying, and opens once a server is there`, async () => {
    const port = await closedPort();
    const url = `ws://127.0.0.1:${port}/live`;
    const client = liveClient(url);
    const statuses: string[] = [];
    client.subscribe((s) => statuses.at(-1) !== s.status && statuses.push(s.status));
    client.connect();
    const first = await until(client, (s) => s.lastError instanceof ConnectError, "a ConnectError");
    expect(first.lastError).toMatchObject({ status: undefined, attempts: 1 });
    expect(first.lastError!.message).toContain(`Could not open ${url} (`);
    expect(first.lastError!.message).toContain("ECONNREFUSED");
    const unreachable = await until(client, (s) => s.status === "unreachable", "unreachable");
    expect(unreachable.lastError).toMatchObject({ code: "CONNECT_FAILED", attempts: UNREACHABLE_AFTER });
    expect(unreachable.connectionStatus).toBe("connecting");
    expect(statuses).toEqual(["connecting", "reconnecting", "unreachable"]);

    // Still retrying: a server on that port is found without a call to connect().
    await listen({ port });
    const open = await until(client, (s) => s.status === "open", "open");
    expect(open.reconnectAttempt).toBe(0);
  });
});
