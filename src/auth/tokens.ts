/**
 * Identity from access tokens: `decodeAccessToken` verifies a JWT against Google, Microsoft or a custom
 * JWKS (or only decodes it, for development), and `createTokenAuth` turns that into an `onAuth`.
 * jose on WebCrypto only, so this runs unchanged on Node, Bun and Deno alike.
 */
import { decodeJwt, type JWTPayload } from "jose";
import { buildVerifiers, providerFromIssuer, type Verifier } from "./providers.ts";
import type { OnError } from "../errors.ts";
import { stableKey } from "../util/json.ts";
import type { UserInfo } from "../protocol/messages.ts";

export interface AuthGoogleConfig {
  /** OAuth client id(s); when given, the token's `aud` must be one of them. */
  clientId?: string | string[];
  /** @default "https://www.googleapis.com/oauth2/v3/certs" */
  jwksUrl?: string;
}

export interface AuthMicrosoftConfig {
  /** Directory (tenant) GUID, or `common` / `organizations` (any tenant) or `consumers` (personal accounts). */
  tenantId: string;
  /** Application (client) id(s); when given, the token's `aud` must be one of them. */
  clientId?: string | string[];
  /** @default "https://login.microsoftonline.com/{tenantId}/discovery/v2.0/keys" (under `authority`) */
  jwksUrl?: string;
  /** Sign-in host, for national clouds (e.g. "https://login.microsoftonline.us"). @default "https://login.microsoftonline.com" */
  authority?: string;
}

export interface AuthCustomConfig {
  /** Your issuer's JSON Web Key Set. Required unless `decodeOnly`. */
  jwksUrl?: string;
  /** Accepted `iss` value(s). Without it, this verifier takes every token no other provider claims. */
  issuer?: string | string[];
  /** Accepted `aud` value(s); not checked when omitted. */
  audience?: string | string[];
  /** Skip signature verification. Anyone can then claim any identity: development only. */
  decodeOnly?: boolean;
  /** Reported as `provider` on the identity. @default "custom" */
  provider?: string;
}

export interface AuthOptions {
  google?: AuthGoogleConfig;
  microsoft?: AuthMicrosoftConfig;
  custom?: AuthCustomConfig;
  /** Allowed clock skew, in seconds, when checking `exp` and `nbf`. @default 5 */
  clockToleranceSec?: number;
  /** A JWKS fetch that takes longer is abandoned and the token rejected. @default 5000 */
  jwksTimeoutMs?: number;
  /** Minimum time between two fetches of one JWKS, so unknown kids cannot hammer the issuer. @default 30000 */
  jwksCooldownMs?: number;
  /** Cached keys older than this are refetched on the next token. @default 600000 */
  jwksMaxAgeMs?: number;
  /** Reports JWKS fetch failures (stage "auth"); a bad token is not an error. @default one console.error line */
  onError?: OnError;
}

/** A token's claims, with `userId` (= `sub`) and `provider` set so it can serve as a `UserInfo`. */
export interface DecodedToken extends UserInfo {
  userId?: string;
  sub?: string;
  name?: string;
  email?: string;
  provider?: string;
  /** Expiry, in seconds since the epoch. */
  exp?: number;
  [claim: string]: unknown;
}

/**
 * The parts of an upgrade request that `createTokenAuth` reads. On Node it is the `IncomingMessage`
 * (plain `headers` object, `url` as a path); on Bun and Deno a web `Request` (`headers.get`, absolute `url`).
 */
export type TokenRequest =
  | { url?: string | undefined; headers: Record<string, string | string[] | undefined> }
  | { url: string; headers: { get(name: string): string | null } };

export interface CreateTokenAuthOptions {
  /** Where to find the token. @default {@link readAccessToken}: `Authorization: Bearer`, then `?access_token=` */
  tokenFromRequest?: (req: any) => string | null | undefined | Promise<string | null | undefined>;
}

/** Tokens longer than this are refused unread; real ID tokens are 1–3 KiB. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Verifiers (and so JWKS key caches) by the value of their options, not the object's identity: a
 * `decodeAccessToken(token, { ...literal })` per call reuses the keys fetched by the first. Functions in
 * the options (`onError`) count by identity. The least recently used entry goes past the bound.
 */
const compiled = new Map<string, Verifier[]>();
const MAX_COMPILED = 32;

/** The same options object always gets its verifiers, even if it was changed or evicted meanwhile. */
const byIdentity = new WeakMap<AuthOptions, Verifier[]>();

function verifiersFor(options: AuthOptions): Verifier[] {
  const known = byIdentity.get(options);
  if (known) return known;
  const key = stableKey(options);
  let verifiers = compiled.get(key);
  if (verifiers) {
    compiled.delete(key); // re-inserted below: most recently used last
  } else {
    verifiers = buildVerifiers(options);
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  }
  compiled.set(key, verifiers);
  byIdentity.set(options, verifiers);
  return verifiers;
}

/** Something shaped like an address (`local@domain`); a UPN such as `ada@contoso.com` is one. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function toDecoded(payload: JWTPayload, provider: string): DecodedToken {
  const decoded: DecodedToken = { ...payload, provider };
  const sub = str(payload.sub);
  // `userId` always mirrors `sub`: a token cannot smuggle a different one in a claim of that name.
  if (sub === undefined) delete decoded.userId;
  else decoded.userId = sub;
  for (const key of ["name", "email"] as const) if (decoded[key] !== undefined && str(decoded[key]) === undefined) delete decoded[key];
  // Microsoft tokens rarely carry `email`; their `preferred_username` is usually the sign-in address.
  // Like the upstream server, show it as `email` when it is one. Display data only: never authorize on it.
  const username = str(payload.preferred_username);
  if (decoded.email === undefined && username !== undefined && EMAIL.test(username)) decoded.email = username;
  if (decoded.exp !== undefined && typeof decoded.exp !== "number") delete decoded.exp;
  return decoded;
}

/**
 * Returns a function that verifies tokens with `options`, reusing one key cache per provider across
 * calls. Build it once (the engine and `createTokenAuth` do). Throws `ConfigError` for bad options.
 * @example
 * const verify = createTokenVerifier({ google: { clientId: "…apps.googleusercontent.com" } });
 * const user = await verify(token); // DecodedToken or null
 */
export function createTokenVerifier(options: AuthOptions = {}): (token: string) => Promise<DecodedToken | null> {
  const verifiers = verifiersFor(options);
  return async (token) => {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return null;
    try {
      // The unverified `iss` only picks which verifier (and which key cache) checks the signature;
      // that verifier then pins the issuer again while verifying.
      const iss = str(decodeJwt(token).iss);
      const verifier = verifiers.find((v) => v.accepts(iss));
      if (!verifier) return null;
      const payload = await verifier.verify(token, iss);
      return toDecoded(payload, verifier.provider ?? providerFromIssuer(iss));
    } catch {
      return null;
    }
  };
}

/**
 * Decodes and, when a provider is configured, verifies `token`. Resolves to `null` for any bad token;
 * never throws for one. JWKS keys stay cached across calls with equal options (compared by value).
 * With `auth: {}` or `custom: { decodeOnly: true }` nothing is verified: development only.
 * @example
 * const user = await decodeAccessToken(token, { microsoft: { tenantId: "…", clientId: "…" } });
 */
export async function decodeAccessToken(token: string, options: AuthOptions = {}): Promise<DecodedToken | null> {
  return createTokenVerifier(options)(token);
}

/** Reads a token from `Authorization: Bearer <token>`, else from the `access_token` query parameter. */
export function readAccessToken(req: TokenRequest): string | null {
  const headers = req.headers as { get?: unknown } & Record<string, unknown>;
  let header: unknown;
  if (typeof headers.get === "function") header = (headers as { get(name: string): string | null }).get("authorization");
  else header = headers.authorization;
  if (Array.isArray(header)) header = header[0];
  if (typeof header === "string") {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (match?.[1]) return match[1];
  }
  if (typeof req.url !== "string") return null;
  try {
    return new URL(req.url, "http://localhost").searchParams.get("access_token") || null;
  } catch {
    return null;
  }
}

/**
 * Builds an `onAuth` that takes identity from the upgrade request's token. No token or a bad one
 * resolves to `null`, which rejects the upgrade with HTTP 401. The identity carries `exp`.
 * @example
 * createWebSocketServer(httpServer, { onAuth: createTokenAuth({ google: { clientId } }) });
 */
export function createTokenAuth(
  options: AuthOptions = {},
  { tokenFromRequest = readAccessToken }: CreateTokenAuthOptions = {},
): (req: TokenRequest) => Promise<DecodedToken | null> {
  const verify = createTokenVerifier(options);
  return async (req) => {
    let token: string | null | undefined;
    try {
      token = await tokenFromRequest(req);
    } catch {
      return null;
    }
    return token ? verify(token) : null;
  };
}

/**
 * Milliseconds until `identity.exp`, for scheduling the 4401 close; `undefined` when there is no `exp`.
 * Clamped to [0, 2^31 - 1] so it is always a valid `setTimeout` delay (re-arm when the cap is hit).
 */
export function msUntilExpiry(identity: { exp?: unknown } | null | undefined, now = Date.now()): number | undefined {
  const exp = identity?.exp;
  if (typeof exp !== "number" || !Number.isFinite(exp)) return undefined;
  return Math.min(Math.max(exp * 1000 - now, 0), 2 ** 31 - 1);
}
