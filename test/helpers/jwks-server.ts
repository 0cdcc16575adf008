/**
 * A local stand-in for Google's, Microsoft's and a custom issuer's JWKS endpoints, on 127.0.0.1 with a
 * random port. Each path serves its own key set; every request is counted so tests can bound fetches.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

export type RouteMode = "ok" | "hang" | "error";

interface Route {
  keys: JWK[];
  mode: RouteMode;
  requests: number;
}

export interface JwksServer {
  /** Absolute URL of `path` on this server. */
  url(path: string): string;
  /** Serves `keys` at `path` (replacing what was there). */
  setKeys(path: string, keys: JWK[]): void;
  /** "hang" accepts the request and never answers; "error" answers 500. */
  setMode(path: string, mode: RouteMode): void;
  /** Requests received at `path` so far. */
  requests(path: string): number;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const routes = new Map<string, Route>();
  const route = (path: string): Route => {
    let r = routes.get(path);
    if (!r) routes.set(path, (r = { keys: [], mode: "ok", requests: 0 }));
    return r;
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    const r = routes.get(path);
    if (!r) {
      res.writeHead(404).end();
      return;
    }
    r.requests++;
    if (r.mode === "hang") return; // never answer; close() destroys the socket
    if (r.mode === "error") {
      res.writeHead(500).end("boom");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: r.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    setKeys: (path, keys) => {
      route(path).keys = keys;
    },
    setMode: (path, mode) => {
      route(path).mode = mode;
    },
    requests: (path) => routes.get(path)?.requests ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL on 127.0.0.1 where nothing listens: connecting to it is refused. */
export async function refusedUrl(path = "/jwks"): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${path}`;
}

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public JWK as an issuer publishes it. */
  jwk: JWK;
}

export async function makeKey(alg: "RS256" | "PS256" | "ES256" | "ES384" | "EdDSA", kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, jwk };
}

export interface SignOptions {
  /** Seconds from now; negative for an expired token. @default 300 */
  expiresIn?: number | null;
  /** Seconds from now for `nbf`. */
  notBefore?: number;
  /** Override the header's kid. */
  kid?: string;
}

/** Signs `claims` with `key`; `exp` is now + 5 minutes unless told otherwise. */
export async function sign(key: TestKey, claims: JWTPayload, options: SignOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: "JWT" }).setIssuedAt(now);
  const expiresIn = options.expiresIn === undefined ? 300 : options.expiresIn;
  if (expiresIn !== null) jwt.setExpirationTime(now + expiresIn);
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(key.privateKey);
}
