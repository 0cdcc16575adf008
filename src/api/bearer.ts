/**
 * The HTTP API's bearer check: the `Authorization` header against the configured secret, in constant
 * time. Both sides are HMAC'd with a key made at start-up and the two 32-byte digests compared in full,
 * so the time taken tells nothing about the secret: not its length, not how much of it a guess matched.
 * WebCrypto only (`crypto.subtle`), which Node, Bun and Deno all have.
 */
import { ConfigError } from "../errors.ts";

/** Shortest secret accepted: a short one is a guessable one. */
export const MIN_API_SECRET_LENGTH = 16;

/** Throws a {@link ConfigError} naming the fix when `secret` is not a usable API secret. */
export function checkApiSecret(secret: unknown, name = "Option api.secret"): asserts secret is string {
  if (typeof secret !== "string" || secret.length < MIN_API_SECRET_LENGTH) {
    throw new ConfigError(
      `${name} must be at least ${MIN_API_SECRET_LENGTH} characters${typeof secret === "string" ? ` (got ${secret.length})` : ""}; generate one with: openssl rand -hex 32`,
    );
  }
  if (/[\s]/.test(secret)) throw new ConfigError(`${name} must not contain whitespace (it is sent as "Authorization: Bearer <secret>")`);
}

const encoder = new TextEncoder();

/**
 * @example
 * const authorized = createBearerCheck(secret);
 * if (!(await authorized(request.headers.get("authorization")))) return unauthorized();
 */
export function createBearerCheck(secret: string): (authorization: string | null | undefined) => Promise<boolean> {
  const subtle = globalThis.crypto.subtle;
  const key = subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]) as Promise<CryptoKey>;
  const mac = async (text: string) => new Uint8Array(await subtle.sign("HMAC", await key, encoder.encode(text)));
  const expected = mac(secret);
  return async (authorization) => {
    // The scheme is case-insensitive (RFC 9110 §11.1); anything else compares as an empty token.
    const token = authorization && /^bearer /i.test(authorization) ? authorization.slice(7).trim() : "";
    const [want, got] = await Promise.all([expected, mac(token)]);
    let difference = 0;
    for (let i = 0; i < want.length; i++) difference |= want[i]! ^ got[i]!;
    return difference === 0 && token !== "";
  };
}
