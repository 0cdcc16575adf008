import { exportSPKI, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTokenAuth,
  createTokenVerifier,
  decodeAccessToken,
  msUntilExpiry,
  readAccessToken,
  type AuthOptions,
} from "../../src/auth/tokens.ts";
import { createLiveEngine } from "../../src/engine/engine.ts";
import { ConfigError } from "../../src/errors.ts";
import { FakePeer } from "../helpers/fake-peer.ts";
import { makeKey, refusedUrl, sign, startJwksServer, type JwksServer, type TestKey } from "../helpers/jwks-server.ts";

const GOOGLE_ISS = "https://accounts.google.com";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT = "0b8b5f2c-3d5e-4c1a-9f00-6f2a4a9d1e11";
const msIss = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`;
const CUSTOM_ISS = "https://issuer.example.test";

let jwks: JwksServer;
let googleKey: TestKey;
let msKey: TestKey;
let customKey: TestKey;
let strayKey: TestKey; // never published anywhere

/** A fresh path per test keeps JWKS caches and request counts independent. */
let pathSeq = 0;
function publish(keys: TestKey[]): { path: string; url: string } {
  const path = `/jwks/${++pathSeq}`;
  jwks.setKeys(
    path,
    keys.map((k) => k.jwk),
  );
  return { path, url: jwks.url(path) };
}

/** Collects JWKS fetch failures instead of logging them. */
function quietOptions(options: AuthOptions): AuthOptions & { errors: unknown[] } {
  const errors: unknown[] = [];
  return { ...options, errors, onError: (error) => void errors.push(error) };
}

function b64url(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

beforeAll(async () => {
  jwks = await startJwksServer();
  [googleKey, msKey, customKey, strayKey] = await Promise.all([
    makeKey("RS256", "google-1"),
    makeKey("ES256", "ms-1"),
    makeKey("PS256", "custom-1"),
    makeKey("RS256", "stray-1"),
  ]);
});

afterAll(async () => {
  await jwks.close();
});

describe("Google", () => {
  it("verifies a Google token under both issuer spellings and maps its claims", async () => {
    const options = quietOptions({ google: { jwksUrl: publish([googleKey]).url } });
    for (const iss of [GOOGLE_ISS, "accounts.google.com"]) {
      const token = await sign(googleKey, { iss, sub: "g-123", name: "Ada", email: "ada@example.com", email_verified: true });
      const user = await decodeAccessToken(token, options);
      expect(user).toMatchObject({ userId: "g-123", sub: "g-123", name: "Ada", email: "ada@example.com", provider: "google", iss });
      expect(user?.email_verified).toBe(true);
      expect(typeof user?.exp).toBe("number");
    }
  });

  it("accepts the configured client id as audience and rejects any other", async () => {
    const options = quietOptions({ google: { clientId: "web.apps.googleusercontent.com", jwksUrl: publish([googleKey]).url } });
    const good = await sign(googleKey, { iss: GOOGLE_ISS, sub: "g-1", aud: "web.apps.googleusercontent.com" });
    const bad = await sign(googleKey, { iss: GOOGLE_ISS, sub: "g-1", aud: "someone-else.apps.googleusercontent.com" });
    const none = await sign(googleKey, { iss: GOOGLE_ISS, sub: "g-1" });
    expect(await decodeAccessToken(good, options)).toMatchObject({ userId: "g-1" });
    expect(await decodeAccessToken(bad, options)).toBeNull();
    expect(await decodeAccessToken(none, options)).toBeNull();
  });

  it("accepts any of several client ids", async () => {
    const options = quietOptions({ google: { clientId: ["web", "ios"], jwksUrl: publish([googleKey]).url } });
    const token = await sign(googleKey, { iss: GOOGLE_ISS, sub: "g-2", aud: "ios" });
    expect(await decodeAccessToken(token, options)).toMatchObject({ userId: "g-2" });
  });
});

describe("Microsoft", () => {
  it("verifies a single-tenant token and checks the client id", async () => {
    const options = quietOptions({ microsoft: { tenantId: TENANT, clientId: "app-1", jwksUrl: publish([msKey]).url } });
    const claims = { iss: msIss(TENANT), tid: TENANT, sub: "m-1", name: "Grace", preferred_username: "grace@contoso.test" };
    const good = await sign(msKey, { ...claims, aud: "app-1" });
    const user = await decodeAccessToken(good, options);
    expect(user).toMatchObject({
      userId: "m-1",
      name: "Grace",
      provider: "microsoft",
      tid: TENANT,
      preferred_username: "grace@contoso.test",
    });
    expect(await decodeAccessToken(await sign(msKey, { ...claims, aud: "app-2" }), options)).toBeNull();
  });

  it("shows preferred_username as email when the token has no email claim and the username is an address", async () => {
    const options = quietOptions({ microsoft: { tenantId: TENANT, jwksUrl: publish([msKey]).url } });
    const base = { iss: msIss(TENANT), tid: TENANT, sub: "m-3" };
    const upn = await decodeAccessToken(await sign(msKey, { ...base, preferred_username: "ada@contoso.test" }), options);
    expect(upn).toMatchObject({ email: "ada@contoso.test", preferred_username: "ada@contoso.test" });
    const both = await decodeAccessToken(
      await sign(msKey, { ...base, email: "a@b.test", preferred_username: "ada@contoso.test" }),
      options,
    );
    expect(both?.email).toBe("a@b.test");
    const phone = await decodeAccessToken(await sign(msKey, { ...base, preferred_username: "+1 555 0100" }), options);
    expect(phone).not.toHaveProperty("email");
  });

  it("rejects a token from another tenant when one tenant is configured", async () => {
    const options = quietOptions({ microsoft: { tenantId: TENANT, jwksUrl: publish([msKey]).url } });
    const token = await sign(msKey, { iss: msIss(OTHER_TENANT), tid: OTHER_TENANT, sub: "m-2" });
    expect(await decodeAccessToken(token, options)).toBeNull();
  });

  it("accepts any tenant for common, but only when the tid claim matches the issuer's tenant", async () => {
    const options = quietOptions({ microsoft: { tenantId: "common", clientId: "app-1", jwksUrl: publish([msKey]).url } });
    const base = { aud: "app-1", sub: "m-3" };
    const matching = await sign(msKey, { ...base, iss: msIss(OTHER_TENANT), tid: OTHER_TENANT });
    const mismatched = await sign(msKey, { ...base, iss: msIss(OTHER_TENANT), tid: TENANT });
    const missingTid = await sign(msKey, { ...base, iss: msIss(OTHER_TENANT) });
    const notMicrosoft = await sign(msKey, { ...base, iss: "https://login.microsoftonline.com/not-a-guid/v2.0", tid: "not-a-guid" });
    expect(await decodeAccessToken(matching, options)).toMatchObject({ userId: "m-3", tid: OTHER_TENANT, provider: "microsoft" });
    expect(await decodeAccessToken(mismatched, options)).toBeNull();
    expect(await decodeAccessToken(missingTid, options)).toBeNull();
    expect(await decodeAccessToken(notMicrosoft, options)).toBeNull();
  });

  it("serves the tenant's key set from the tenant path under an overridden authority", async () => {
    const tenantPath = `/${TENANT}/discovery/v2.0/keys`;
    jwks.setKeys(tenantPath, [msKey.jwk]);
    const authority = jwks.url("");
    const options = quietOptions({ microsoft: { tenantId: TENANT, authority } });
    const token = await sign(msKey, { iss: `${authority}/${TENANT}/v2.0`, tid: TENANT, sub: "m-4" });
    expect(await decodeAccessToken(token, options)).toMatchObject({ userId: "m-4", provider: "microsoft" });
    expect(jwks.requests(tenantPath)).toBe(1);
  });

  it("refuses a tenant id that is not a GUID or a multi-tenant keyword", async () => {
    await expect(decodeAccessToken("x.y.z", { microsoft: { tenantId: "contoso.onmicrosoft.com" } })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("custom issuer", () => {
  it("verifies issuer and audience and reports the configured provider", async () => {
    const url = publish([customKey]).url;
    const options = quietOptions({ custom: { jwksUrl: url, issuer: CUSTOM_ISS, audience: "api", provider: "acme" } });
    const token = await sign(customKey, { iss: CUSTOM_ISS, aud: "api", sub: "c-1", email: "c@example.com" });
    expect(await decodeAccessToken(token, options)).toMatchObject({ userId: "c-1", email: "c@example.com", provider: "acme" });
    expect(await decodeAccessToken(await sign(customKey, { iss: CUSTOM_ISS, aud: "other", sub: "c-1" }), options)).toBeNull();
  });

  it("reports provider custom by default", async () => {
    const options = quietOptions({ custom: { jwksUrl: publish([customKey]).url, issuer: CUSTOM_ISS } });
    const token = await sign(customKey, { iss: CUSTOM_ISS, sub: "c-2" });
    expect(await decodeAccessToken(token, options)).toMatchObject({ provider: "custom" });
  });

  it("verifies EC and RSA keys from the same key set", async () => {
    const ec = await makeKey("ES384", "custom-ec");
    const options = quietOptions({ custom: { jwksUrl: publish([customKey, ec]).url, issuer: CUSTOM_ISS } });
    expect(await decodeAccessToken(await sign(ec, { iss: CUSTOM_ISS, sub: "c-ec" }), options)).toMatchObject({ userId: "c-ec" });
    expect(await decodeAccessToken(await sign(customKey, { iss: CUSTOM_ISS, sub: "c-ps" }), options)).toMatchObject({ userId: "c-ps" });
  });

  it("needs a jwksUrl unless decodeOnly is set", async () => {
    await expect(decodeAccessToken("x.y.z", { custom: { issuer: CUSTOM_ISS } })).rejects.toBeInstanceOf(ConfigError);
  });

  it("lets userId and provider come only from sub and the configuration, never from claims of those names", async () => {
    const options = quietOptions({ custom: { jwksUrl: publish([customKey]).url, issuer: CUSTOM_ISS } });
    const token = await sign(customKey, { iss: CUSTOM_ISS, sub: "real", userId: "admin", provider: "google" });
    expect(await decodeAccessToken(token, options)).toMatchObject({ userId: "real", provider: "custom" });
  });
});

describe("several providers", () => {
  it("picks the verifier from the token's issuer", async () => {
    const options = quietOptions({
      google: { jwksUrl: publish([googleKey]).url },
      microsoft: { tenantId: TENANT, jwksUrl: publish([msKey]).url },
      custom: { jwksUrl: publish([customKey]).url, issuer: CUSTOM_ISS },
    });
    const verify = createTokenVerifier(options);
    expect(await verify(await sign(googleKey, { iss: GOOGLE_ISS, sub: "a" }))).toMatchObject({ provider: "google" });
    expect(await verify(await sign(msKey, { iss: msIss(TENANT), tid: TENANT, sub: "b" }))).toMatchObject({ provider: "microsoft" });
    expect(await verify(await sign(customKey, { iss: CUSTOM_ISS, sub: "c" }))).toMatchObject({ provider: "custom" });
    expect(await verify(await sign(customKey, { iss: "https://unknown.example", sub: "d" }))).toBeNull();
  });

  it("never verifies a token with a key that belongs to another issuer, even after that key was cached", async () => {
    const google = publish([googleKey]);
    const custom = publish([customKey]);
    const options = quietOptions({ google: { jwksUrl: google.url }, custom: { jwksUrl: custom.url, issuer: CUSTOM_ISS } });
    const verify = createTokenVerifier(options);
    // Warm both caches: the custom key is now known to this process.
    expect(await verify(await sign(customKey, { iss: CUSTOM_ISS, sub: "c" }))).not.toBeNull();
    expect(await verify(await sign(googleKey, { iss: GOOGLE_ISS, sub: "g" }))).not.toBeNull();
    // Signed by the custom issuer's key, claiming to be Google.
    const forged = await sign(customKey, { iss: GOOGLE_ISS, sub: "victim@google" });
    expect(await verify(forged)).toBeNull();
  });

  it("keeps keys apart when two issuers publish the same kid", async () => {
    const googleShared = { ...googleKey, kid: "shared", jwk: { ...googleKey.jwk, kid: "shared" } };
    const customRsa = await makeKey("RS256", "shared");
    const options = quietOptions({
      google: { jwksUrl: publish([googleShared]).url },
      custom: { jwksUrl: publish([customRsa]).url, issuer: CUSTOM_ISS },
    });
    const verify = createTokenVerifier(options);
    expect(await verify(await sign(customRsa, { iss: CUSTOM_ISS, sub: "c" }))).not.toBeNull();
    expect(await verify(await sign(googleShared, { iss: GOOGLE_ISS, sub: "g" }))).not.toBeNull();
    expect(await verify(await sign(customRsa, { iss: GOOGLE_ISS, sub: "victim" }))).toBeNull();
    expect(await verify(await sign(googleShared, { iss: CUSTOM_ISS, sub: "victim" }))).toBeNull();
  });
});

describe("attacks and bad tokens", () => {
  let options: AuthOptions & { errors: unknown[] };
  beforeAll(() => {
    options = quietOptions({ custom: { jwksUrl: publish([customKey]).url, issuer: CUSTOM_ISS }, clockToleranceSec: 5 });
  });
  const claims = { iss: CUSTOM_ISS, sub: "u-1", name: "Eve" };

  it("rejects an expired token", async () => {
    expect(await decodeAccessToken(await sign(customKey, claims, { expiresIn: -60 }), options)).toBeNull();
  });

  it("accepts a token that expired within the clock tolerance", async () => {
    expect(await decodeAccessToken(await sign(customKey, claims, { expiresIn: -2 }), options)).not.toBeNull();
  });

  it("rejects a token that is not yet valid", async () => {
    expect(await decodeAccessToken(await sign(customKey, claims, { notBefore: 120 }), options)).toBeNull();
  });

  it("rejects a token without exp", async () => {
    expect(await decodeAccessToken(await sign(customKey, claims, { expiresIn: null }), options)).toBeNull();
  });

  it("rejects a token from the wrong issuer", async () => {
    expect(await decodeAccessToken(await sign(customKey, { ...claims, iss: "https://evil.example" }), options)).toBeNull();
  });

  it("rejects a token whose payload was changed after signing", async () => {
    const [header, , signature] = (await sign(customKey, claims)).split(".");
    const payload = b64url({ ...claims, sub: "admin", exp: Math.floor(Date.now() / 1000) + 300 });
    expect(await decodeAccessToken(`${header}.${payload}.${signature}`, options)).toBeNull();
  });

  it("rejects a token whose signature was changed", async () => {
    const token = await sign(customKey, claims);
    const [header, payload, signature = ""] = token.split(".");
    const bytes = Buffer.from(signature, "base64url");
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    expect(await decodeAccessToken(`${header}.${payload}.${bytes.toString("base64url")}`, options)).toBeNull();
    expect(await decodeAccessToken(`${header}.${payload}.`, options)).toBeNull();
  });

  it('rejects alg "none" for every verifying provider', async () => {
    const all = quietOptions({
      google: { jwksUrl: publish([googleKey]).url },
      microsoft: { tenantId: TENANT, jwksUrl: publish([msKey]).url },
      custom: { jwksUrl: publish([customKey]).url, issuer: CUSTOM_ISS },
    });
    const exp = Math.floor(Date.now() / 1000) + 300;
    for (const iss of [GOOGLE_ISS, msIss(TENANT), CUSTOM_ISS]) {
      const unsecured = new UnsecuredJWT({ iss, tid: TENANT, sub: "u", exp }).encode();
      expect(await decodeAccessToken(unsecured, all)).toBeNull();
      const withKid = `${b64url({ alg: "none", kid: customKey.kid })}.${b64url({ iss, tid: TENANT, sub: "u", exp })}.`;
      expect(await decodeAccessToken(withKid, all)).toBeNull();
    }
  });

  it("rejects HS256 signed with the issuer's public key as the secret", async () => {
    const pem = await exportSPKI(customKey.publicKey);
    for (const secret of [pem, JSON.stringify(customKey.jwk)]) {
      const token = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: "HS256", kid: customKey.kid })
        .setExpirationTime("5m")
        .sign(new TextEncoder().encode(secret));
      expect(await decodeAccessToken(token, options)).toBeNull();
    }
  });

  it("rejects a token signed by a key the issuer never published", async () => {
    expect(await decodeAccessToken(await sign(strayKey, claims), options)).toBeNull();
    // Same kid as the published key, different key material.
    expect(await decodeAccessToken(await sign(strayKey, claims, { kid: customKey.kid }), options)).toBeNull();
  });

  it("rejects garbage strings and non-strings without throwing", async () => {
    for (const garbage of ["", "garbage", "a.b.c", "..", "eyJhbGciOiJSUzI1NiJ9.e30", "🙂.🙂.🙂", `${b64url("{")}.${b64url("{")}.x`]) {
      expect(await decodeAccessToken(garbage, options)).toBeNull();
    }
    for (const notString of [undefined, null, 42, {}, ["a.b.c"]]) {
      expect(await decodeAccessToken(notString as unknown as string, options)).toBeNull();
    }
  });

  it("rejects a 100 KB token before fetching any key", async () => {
    const { path, url } = publish([customKey]);
    const fresh = quietOptions({ custom: { jwksUrl: url, issuer: CUSTOM_ISS } });
    const token = await sign(customKey, { ...claims, padding: "x".repeat(100 * 1024) });
    expect(token.length).toBeGreaterThan(100 * 1024);
    expect(await decodeAccessToken(token, fresh)).toBeNull();
    expect(jwks.requests(path)).toBe(0);
  });
});

describe("JWKS endpoint failures", () => {
  it("rejects the token and reports the error when the JWKS endpoint refuses connections", async () => {
    const options = quietOptions({ custom: { jwksUrl: await refusedUrl(), issuer: CUSTOM_ISS } });
    expect(await decodeAccessToken(await sign(customKey, { iss: CUSTOM_ISS, sub: "u" }), options)).toBeNull();
    expect(options.errors).toHaveLength(1);
  });

  it("gives up on a JWKS endpoint that never answers and keeps serving other issuers", async () => {
    const slow = publish([customKey]);
    jwks.setMode(slow.path, "hang");
    const options = quietOptions({
      custom: { jwksUrl: slow.url, issuer: CUSTOM_ISS },
      google: { jwksUrl: publish([googleKey]).url },
      jwksTimeoutMs: 300,
    });
    const verify = createTokenVerifier(options);
    expect(await verify(await sign(customKey, { iss: CUSTOM_ISS, sub: "u" }))).toBeNull();
    expect(options.errors).toHaveLength(1);
    expect(String((options.errors[0] as Error).name)).toMatch(/Timeout|Abort/);
    expect(jwks.requests(slow.path)).toBe(1);
    // The process and the other verifier are unaffected.
    expect(await verify(await sign(googleKey, { iss: GOOGLE_ISS, sub: "g" }))).toMatchObject({ provider: "google" });
  });

  it("rejects the token when the JWKS endpoint answers 500", async () => {
    const broken = publish([customKey]);
    jwks.setMode(broken.path, "error");
    const options = quietOptions({ custom: { jwksUrl: broken.url, issuer: CUSTOM_ISS } });
    expect(await decodeAccessToken(await sign(customKey, { iss: CUSTOM_ISS, sub: "u" }), options)).toBeNull();
    expect(options.errors).toHaveLength(1);
  });

  it("does not refetch a failing JWKS endpoint for every token during the cooldown", async () => {
    const broken = publish([customKey]);
    jwks.setMode(broken.path, "error");
    const options = quietOptions({ custom: { jwksUrl: broken.url, issuer: CUSTOM_ISS } });
    const verify = createTokenVerifier(options);
    for (let i = 0; i < 20; i++) expect(await verify(await sign(customKey, { iss: CUSTOM_ISS, sub: `u${i}` }))).toBeNull();
    expect(jwks.requests(broken.path)).toBe(1);
  });
});

describe("key cache", () => {
  it("fetches the key set once for many tokens with unknown kids", async () => {
    const { path, url } = publish([customKey]);
    const verify = createTokenVerifier(quietOptions({ custom: { jwksUrl: url, issuer: CUSTOM_ISS } }));
    expect(await verify(await sign(customKey, { iss: CUSTOM_ISS, sub: "u" }))).not.toBeNull();
    const forged = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sign(strayKey, { iss: CUSTOM_ISS, sub: "u" }, { kid: `unknown-${i}` })),
    );
    const sequential: unknown[] = [];
    for (const token of forged.slice(0, 25)) sequential.push(await verify(token));
    const concurrent = await Promise.all(forged.slice(25).map((token) => verify(token)));
    expect([...sequential, ...concurrent].every((result) => result === null)).toBe(true);
    expect(jwks.requests(path)).toBeLessThanOrEqual(2);
  });

  it("shares one fetch between concurrent first tokens", async () => {
    const { path, url } = publish([customKey]);
    const verify = createTokenVerifier(quietOptions({ custom: { jwksUrl: url, issuer: CUSTOM_ISS } }));
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => sign(customKey, { iss: CUSTOM_ISS, sub: `u${i}` })));
    const users = await Promise.all(tokens.map((token) => verify(token)));
    expect(users.every((user) => user !== null)).toBe(true);
    expect(jwks.requests(path)).toBe(1);
  });

  it("picks up a rotated-in key once the cooldown has passed", async () => {
    const { path, url } = publish([customKey]);
    const verify = createTokenVerifier(quietOptions({ custom: { jwksUrl: url, issuer: CUSTOM_ISS }, jwksCooldownMs: 0 }));
    expect(await verify(await sign(customKey, { iss: CUSTOM_ISS, sub: "u" }))).not.toBeNull();
    const rotated = await makeKey("RS256", "custom-2");
    jwks.setKeys(path, [customKey.jwk, rotated.jwk]);
    expect(await verify(await sign(rotated, { iss: CUSTOM_ISS, sub: "u" }))).toMatchObject({ userId: "u" });
    expect(jwks.requests(path)).toBe(2);
  });

  it("fetches the key set once for decodeAccessToken calls with equal literal options", async () => {
    const { path, url } = publish([customKey]);
    const onError = () => {}; // functions in the options count by identity
    for (let i = 0; i < 3; i++) {
      const token = await sign(customKey, { iss: CUSTOM_ISS, sub: `u${i}` });
      expect(await decodeAccessToken(token, { custom: { jwksUrl: url, issuer: CUSTOM_ISS }, onError })).toMatchObject({ userId: `u${i}` });
    }
    expect(jwks.requests(path)).toBe(1);
  });

  it("reuses the cache across decodeAccessToken calls given the same options object", async () => {
    const { path, url } = publish([customKey]);
    const options = quietOptions({ custom: { jwksUrl: url, issuer: CUSTOM_ISS } });
    for (let i = 0; i < 5; i++)
      expect(await decodeAccessToken(await sign(customKey, { iss: CUSTOM_ISS, sub: "u" }), options)).not.toBeNull();
    expect(jwks.requests(path)).toBe(1);
  });
});

describe("decode-only mode", () => {
  it("decodes without verifying when auth is {}, guessing the provider from the issuer", async () => {
    const unsigned = new UnsecuredJWT({ iss: GOOGLE_ISS, sub: "dev-1", name: "Dev" }).encode();
    expect(await decodeAccessToken(unsigned, {})).toMatchObject({ userId: "dev-1", name: "Dev", provider: "google" });
    const signed = await sign(strayKey, { sub: "dev-2" });
    expect(await decodeAccessToken(signed, {})).toMatchObject({ userId: "dev-2", provider: "custom" });
  });

  it("decodes without verifying with custom decodeOnly and reports its provider", async () => {
    const token = await sign(strayKey, { iss: "whatever", sub: "dev-3" });
    expect(await decodeAccessToken(token, { custom: { decodeOnly: true } })).toMatchObject({ userId: "dev-3", provider: "custom" });
    expect(await decodeAccessToken(token, { custom: { decodeOnly: true, provider: "dev" } })).toMatchObject({ provider: "dev" });
  });

  it("keeps a __proto__ claim as plain data instead of changing the identity's prototype", async () => {
    const token = `${b64url({ alg: "none" })}.${b64url('{"sub":"p","__proto__":{"isAdmin":true}}')}.`;
    const user = await decodeAccessToken(token, {});
    expect(user).toMatchObject({ userId: "p" });
    expect(Object.getPrototypeOf(user)).toBe(Object.prototype);
    expect((user as { isAdmin?: unknown }).isAdmin).toBeUndefined();
  });

  it("still refuses expired tokens and garbage", async () => {
    expect(await decodeAccessToken(await sign(strayKey, { sub: "dev" }, { expiresIn: -60 }), {})).toBeNull();
    expect(await decodeAccessToken("garbage", {})).toBeNull();
  });

  it("never lets a decode-only fallback accept a forged token for a verified issuer", async () => {
    const options = quietOptions({ google: { jwksUrl: publish([googleKey]).url }, custom: { decodeOnly: true } });
    const forged = await sign(strayKey, { iss: GOOGLE_ISS, sub: "victim" });
    expect(await decodeAccessToken(forged, options)).toBeNull();
  });
});

describe("createTokenAuth", () => {
  let options: AuthOptions;
  let token: string;
  beforeAll(async () => {
    options = quietOptions({ custom: { jwksUrl: publish([customKey]).url, issuer: CUSTOM_ISS } });
    token = await sign(customKey, { iss: CUSTOM_ISS, sub: "u-42", name: "Lin", email: "lin@example.com" });
  });

  it("reads the token from the query of a Node IncomingMessage-shaped request", async () => {
    const onAuth = createTokenAuth(options);
    const user = await onAuth({ url: `/live?room=a&access_token=${token}`, headers: { host: "x" } });
    expect(user).toMatchObject({ userId: "u-42", name: "Lin", email: "lin@example.com", provider: "custom" });
    expect(typeof user?.exp).toBe("number");
  });

  it("reads the token from the Authorization header of a Node IncomingMessage-shaped request", async () => {
    const onAuth = createTokenAuth(options);
    expect(await onAuth({ url: "/live", headers: { authorization: `Bearer ${token}` } })).toMatchObject({ userId: "u-42" });
    expect(await onAuth({ url: "/live", headers: { authorization: `bearer ${token}` } })).toMatchObject({ userId: "u-42" });
  });

  it("reads the token from a web Request's query and header", async () => {
    const onAuth = createTokenAuth(options);
    expect(await onAuth(new Request(`http://127.0.0.1/live?access_token=${token}`))).toMatchObject({ userId: "u-42" });
    const withHeader = new Request("http://127.0.0.1/live", { headers: { Authorization: `Bearer ${token}` } });
    expect(await onAuth(withHeader)).toMatchObject({ userId: "u-42" });
  });

  it("resolves null when the token is missing or bad", async () => {
    const onAuth = createTokenAuth(options);
    expect(await onAuth({ url: "/live", headers: {} })).toBeNull();
    expect(await onAuth({ headers: {} })).toBeNull();
    expect(await onAuth({ url: "/live?access_token=garbage", headers: {} })).toBeNull();
    expect(await onAuth({ url: "/live", headers: { authorization: "Basic dXNlcjpwYXNz" } })).toBeNull();
    expect(await onAuth(new Request("http://127.0.0.1/live?access_token=a.b.c"))).toBeNull();
    expect(await onAuth(new Request("http://127.0.0.1/live", { headers: { Authorization: `Bearer ${token}x` } }))).toBeNull();
  });

  it("uses tokenFromRequest when given, and treats a throwing one as no token", async () => {
    const fromCookie = createTokenAuth(options, {
      tokenFromRequest: (req: { headers: Record<string, string> }) => /(?:^|; )session=([^;]+)/.exec(req.headers.cookie ?? "")?.[1],
    });
    expect(await fromCookie({ url: "/live", headers: { cookie: `a=1; session=${token}` } })).toMatchObject({ userId: "u-42" });
    const throwing = createTokenAuth(options, {
      tokenFromRequest: () => {
        throw new Error("nope");
      },
    });
    expect(await throwing({ url: `/live?access_token=${token}`, headers: {} })).toBeNull();
  });

  it("prefers the Authorization header over the query", () => {
    expect(readAccessToken({ url: "/live?access_token=from-query", headers: { authorization: "Bearer from-header" } })).toBe("from-header");
    expect(readAccessToken({ url: "/live?access_token=from-query", headers: {} })).toBe("from-query");
  });
});

describe("msUntilExpiry", () => {
  it("gives the delay until exp, clamped to a valid timer delay", () => {
    const now = 1_700_000_000_000;
    expect(msUntilExpiry({ exp: now / 1000 + 60 }, now)).toBe(60_000);
    expect(msUntilExpiry({ exp: now / 1000 - 60 }, now)).toBe(0);
    expect(msUntilExpiry({ exp: now / 1000 + 10 ** 9 }, now)).toBe(2 ** 31 - 1);
    expect(msUntilExpiry({}, now)).toBeUndefined();
    expect(msUntilExpiry(null, now)).toBeUndefined();
  });
});

describe("JWKS failures and the server's onError", () => {
  it("reports a failed key-set fetch to the server's onError with stage auth and answers UNAUTHORIZED", async () => {
    const seen: { error: unknown; stage: string }[] = [];
    const engine = createLiveEngine({
      heartbeatIntervalMs: 0,
      auth: { custom: { jwksUrl: await refusedUrl(), issuer: CUSTOM_ISS } },
      onError: (error, { stage }) => void seen.push({ error, stage }),
    });
    try {
      const peer = new FakePeer(engine);
      peer.message("join_room", { roomId: "r", accessToken: await sign(customKey, { iss: CUSTOM_ISS, sub: "u" }) });
      expect((await peer.next("error")).payload.code).toBe("UNAUTHORIZED");
      expect(seen.map((s) => s.stage)).toEqual(["auth"]);
    } finally {
      await engine.close();
    }
  });
});
