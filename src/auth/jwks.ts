/**
 * A remote JSON Web Key Set for one verifier: fetched with a timeout, cached, and refetched at most once
 * per cooldown. Built on `fetch` and jose's `createLocalJWKSet`, so it runs on Node, Bun and Deno alike.
 *
 * Why not jose's `createRemoteJWKSet`: its cooldown only starts after a *successful* fetch, so while an
 * issuer is down every token would trigger a new request. Here a failed fetch starts the cooldown too.
 */
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from "jose";

export interface JwksSourceOptions {
  url: string;
  /** Abort a fetch (connect, headers and body) after this many ms. */
  timeoutMs: number;
  /** Minimum ms between two fetches, successful or not. */
  cooldownMs: number;
  /** Refetch keys older than this many ms on the next token. */
  maxAgeMs: number;
  /** Called when a fetch fails; the token being verified is then rejected. */
  onFetchError: (error: unknown) => void;
}

export interface JwksSource {
  getKey: JWTVerifyGetKey;
  /** Number of fetches started so far (for diagnostics and tests). */
  readonly fetchCount: number;
}

/** A key set larger than this is refused: real ones are a few KiB. */
const MAX_JWKS_BYTES = 512 * 1024;

type LocalSet = ReturnType<typeof createLocalJWKSet>;

export function createJwksSource(options: JwksSourceOptions): JwksSource {
  const { url, timeoutMs, cooldownMs, maxAgeMs, onFetchError } = options;
  let local: LocalSet | undefined;
  let loadedAt = -Infinity; // last successful fetch
  let attemptedAt = -Infinity; // last fetch, whatever its outcome
  let pending: Promise<void> | undefined;
  let fetchCount = 0;

  // Concurrent callers share one in-flight fetch. A failure is reported once and leaves the
  // previous keys (if any) in place.
  function reload(): Promise<void> {
    if (pending) return pending;
    attemptedAt = Date.now();
    fetchCount++;
    pending = fetchKeySet(url, timeoutMs)
      .then((jwks) => {
        local = createLocalJWKSet(jwks);
        loadedAt = Date.now();
      })
      .catch((error: unknown) => onFetchError(error))
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  const mayFetch = () => Date.now() - attemptedAt >= cooldownMs;

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (pending) await pending;
    else if ((!local || Date.now() - loadedAt >= maxAgeMs) && mayFetch()) await reload();
    if (!local) throw new errors.JWKSNoMatchingKey("The JSON Web Key Set is not available");
    try {
      return await local(header, token);
    } catch (error) {
      // A kid we have not seen may be a key the issuer just rotated in: refetch, but only once per cooldown.
      if (!(error instanceof errors.JWKSNoMatchingKey) || !mayFetch()) throw error;
      await reload();
      return local(header, token);
    }
  };

  return {
    getKey,
    get fetchCount() {
      return fetchCount;
    },
  };
}

async function fetchKeySet(url: string, timeoutMs: number): Promise<Parameters<typeof createLocalJWKSet>[0]> {
  const response = await fetch(url, {
    method: "GET",
    redirect: "manual",
    headers: { accept: "application/json, application/jwk-set+json" },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`JWKS fetch from ${url} answered HTTP ${response.status}; expected 200`);
  }
  const declared = Number(response.headers.get("content-length"));
  if (declared > MAX_JWKS_BYTES) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`JWKS from ${url} is ${declared} bytes; the limit is ${MAX_JWKS_BYTES}`);
  }
  const text = await readCapped(response, MAX_JWKS_BYTES);
  return JSON.parse(text) as Parameters<typeof createLocalJWKSet>[0];
}

async function readCapped(response: Response, limit: number): Promise<string> {
  if (!response.body) return response.text();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new Error(`JWKS response passed ${limit} bytes; refusing it`);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
