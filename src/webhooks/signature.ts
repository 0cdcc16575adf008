/**
 * The webhook signature: HMAC-SHA256 over `${timestamp}.${body}`, sent as
 * `OpenLiveSync-Signature: t=<unix seconds>,v1=<hex>` (the README shows how a receiver checks it).
 * WebCrypto only (the web-standard `globalThis.crypto.subtle`, as api/bearer.ts and the SQL key hash use; no
 * `node:crypto`), so it runs the same on Node, Bun and Deno and type-checks with no runtime's types.
 */

import { toHex } from "../util/hex.ts";

export const SIGNATURE_HEADER = "OpenLiveSync-Signature";
export const EVENT_ID_HEADER = "OpenLiveSync-Event-Id";
export const EVENT_TYPE_HEADER = "OpenLiveSync-Event-Type";
export const ATTEMPT_HEADER = "OpenLiveSync-Attempt";

const encoder = new TextEncoder();

/** Signs bodies with one secret; the key is imported once, on first use. */
export function createSigner(secret: string): (timestamp: number, body: Uint8Array) => Promise<string> {
  let key: Promise<CryptoKey> | undefined;
  return async (timestamp, body) => {
    key ??= globalThis.crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const prefix = encoder.encode(`${timestamp}.`);
    const signed = new Uint8Array(prefix.length + body.length);
    signed.set(prefix);
    signed.set(body, prefix.length);
    const mac = new Uint8Array(await globalThis.crypto.subtle.sign("HMAC", await key, signed));
    return `t=${timestamp},v1=${toHex(mac)}`;
  };
}
