/**
 * createTokenAuth over real sockets on the Node server: the token is read once at upgrade, a bad one
 * gets HTTP 401, and a later join_room token never replaces the connection's identity.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createServer, type NodeLiveServer, type ServerOptions } from "../../adapters/node/index.ts";
import { createTokenAuth, type AuthOptions } from "../../src/auth/tokens.ts";
import { TestClient } from "../helpers/client.ts";
import { makeKey, sign, startJwksServer, type JwksServer, type TestKey } from "../helpers/jwks-server.ts";

const ISS = "https://issuer.example.test";

let jwks: JwksServer;
let key: TestKey;
let auth: AuthOptions;
const servers: NodeLiveServer[] = [];
const clients: TestClient[] = [];

async function start(options: ServerOptions): Promise<string> {
  const server = createServer({ port: 0, hostname: "127.0.0.1", heartbeatIntervalMs: 0, ...options });
  servers.push(server);
  if (!server.listening) await once(server, "listening");
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live`;
}

function connect(url: string, options?: WebSocket.ClientOptions): TestClient {
  const client = new TestClient(url, options);
  clients.push(client);
  return client;
}

/** The HTTP status of a refused upgrade; fails if the upgrade succeeds. */
function upgradeStatus(url: string, options?: WebSocket.ClientOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.on("error", reject);
  });
}

const token = (sub: string, extra: Record<string, unknown> = {}, expiresIn = 300) =>
  sign(key, { iss: ISS, sub, name: `User ${sub}`, email: `${sub}@example.com`, ...extra }, { expiresIn });

beforeAll(async () => {
  jwks = await startJwksServer();
  key = await makeKey("ES256", "k1");
  jwks.setKeys("/jwks", [key.jwk]);
  auth = { custom: { jwksUrl: jwks.url("/jwks"), issuer: ISS, provider: "acme" }, onError: () => {} };
});

afterAll(async () => {
  for (const client of clients) client.terminate();
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  await jwks.close();
});

describe("createTokenAuth on the Node server", () => {
  let url: string;
  beforeAll(async () => {
    url = await start({ onAuth: createTokenAuth(auth), auth });
  });

  it("accepts a token in the access_token query and shows its identity in presence", async () => {
    const client = connect(`${url}?access_token=${await token("alice")}`);
    const joined = await client.join("q-room");
    expect(joined.presence[joined.connectionId]).toMatchObject({
      userId: "alice",
      name: "User alice",
      email: "alice@example.com",
      provider: "acme",
    });
  });

  it("accepts a token in the Authorization header", async () => {
    const client = connect(url, { headers: { Authorization: `Bearer ${await token("bob")}` } });
    const joined = await client.join("h-room");
    expect(joined.presence[joined.connectionId]).toMatchObject({ userId: "bob", provider: "acme" });
  });

  it("refuses the upgrade with HTTP 401 for a bad, expired or missing token", async () => {
    expect(await upgradeStatus(`${url}?access_token=garbage`)).toBe(401);
    expect(await upgradeStatus(`${url}?access_token=${await token("carol", {}, -60)}`)).toBe(401);
    expect(await upgradeStatus(url, { headers: { Authorization: "Bearer a.b.c" } })).toBe(401);
    expect(await upgradeStatus(url)).toBe(401);
  });

  it("ignores a join_room accessToken once the connection has an identity", async () => {
    const client = connect(`${url}?access_token=${await token("dave")}`);
    const mallory = await token("mallory");
    const joined = await client.join("j-room", undefined, { accessToken: mallory, name: "Not Dave" });
    expect(joined.presence[joined.connectionId]).toMatchObject({ userId: "dave", name: "User dave" });
    client.send("send_chat", { message: "hi" });
    expect((await client.next("chat_message")).payload).toMatchObject({ userId: "dave", name: "User dave", provider: "acme" });
  });
});

describe("join_room accessToken with the auth option", () => {
  it("attaches the verified identity, refuses a bad token with UNAUTHORIZED, and keeps unverified names as display data", async () => {
    const url = await start({ auth });
    const verified = connect(url);
    const joined = await verified.join("t-room", undefined, { accessToken: await token("gina") });
    expect(joined.presence[joined.connectionId]).toMatchObject({ userId: "gina", email: "gina@example.com", provider: "acme" });

    const bad = connect(url);
    await bad.opened;
    bad.send("join_room", { roomId: "t-room", accessToken: "garbage" });
    expect((await bad.next("error")).payload).toMatchObject({ code: "UNAUTHORIZED" });

    const anonymous = connect(url);
    const anon = await anonymous.join("t-room", undefined, { name: "Guest" });
    const entry = anon.presence[anon.connectionId];
    expect(entry).toMatchObject({ name: "Guest" });
    expect(entry.provider).toBeUndefined();
  });
});

describe("authorizeRoom with token identities", () => {
  it("lets a user join their tenant's rooms and refuses another tenant's with FORBIDDEN", async () => {
    const url = await start({
      onAuth: createTokenAuth(auth),
      authorizeRoom: (user, roomId) => typeof user?.tid === "string" && roomId.startsWith(`${user.tid}:`),
    });
    const client = connect(`${url}?access_token=${await token("erin", { tid: "tenant-a" })}`);
    const joined = await client.join("tenant-a:board");
    expect(joined.roomId).toBe("tenant-a:board");
    client.send("join_room", { roomId: "tenant-b:board" });
    expect((await client.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });
    client.send("send_chat", { message: "where am I?" });
    expect((await client.next("error")).payload).toMatchObject({ code: "NOT_IN_ROOM" });
  });
});

describe("token expiry", () => {
  it("closes the connection with 4401 when its token expires", async () => {
    const url = await start({ onAuth: createTokenAuth({ ...auth, clockToleranceSec: 0 }) });
    const client = connect(`${url}?access_token=${await token("frank", {}, 2)}`);
    await client.join("x-room");
    const closed = await client.closed;
    expect(closed.code).toBe(4401);
  });
});
