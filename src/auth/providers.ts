/**
 * One verifier per configured provider. A verifier owns its issuer(s) and its own JWKS key cache, so a
 * key fetched for one issuer can never verify another issuer's token (the bug behind CVE-2026-49998,
 * where keys were cached by kid alone).
 */
import { decodeJwt, jwtVerify, type JWTPayload } from "jose";
import { createJwksSource, type JwksSource } from "./jwks.ts";
import type { AuthOptions } from "./tokens.ts";
import { ConfigError, createReporter } from "../errors.ts";
import { numberOption } from "../util/number-option.ts";

/** Asymmetric algorithms only: `none` and HS* can never verify against a JWKS. */
export const ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

export const GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs";
export const GOOGLE_ISSUERS = ["accounts.google.com", "https://accounts.google.com"];
export const MICROSOFT_AUTHORITY = "https://login.microsoftonline.com";
/** The tenant id Microsoft puts in `tid` and `iss` for personal (consumer) accounts. */
const MICROSOFT_CONSUMERS_TID = "9188040d-6c67-4c5b-b112-36a304b66dad";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Verifier {
  /** Undefined for `auth: {}`: the provider is then guessed from the token's issuer. */
  provider: string | undefined;
  /** Whether this verifier is responsible for a token with this `iss` (possibly undefined). */
  accepts(iss: string | undefined): boolean;
  /** Resolves to the verified claims; rejects when the token is not valid. */
  verify(token: string, iss: string | undefined): Promise<JWTPayload>;
  /** Present on JWKS-backed verifiers. */
  jwks?: JwksSource;
}

interface Settings {
  clockToleranceSec: number;
  timeoutMs: number;
  cooldownMs: number;
  maxAgeMs: number;
  reportFetchError: (error: unknown) => void;
}

function settingsOf(options: AuthOptions): Settings {
  const report = createReporter(options.onError);
  return {
    clockToleranceSec: numberOption("auth.clockToleranceSec", options.clockToleranceSec, 5),
    timeoutMs: numberOption("auth.jwksTimeoutMs", options.jwksTimeoutMs, 5_000, "positive"),
    cooldownMs: numberOption("auth.jwksCooldownMs", options.jwksCooldownMs, 30_000),
    maxAgeMs: numberOption("auth.jwksMaxAgeMs", options.jwksMaxAgeMs, 10 * 60_000),
    // A faulty reporter must not turn a rejected token into a thrown error: createReporter never throws.
    reportFetchError: (error) => report(error, { stage: "auth" }),
  };
}

function checkUrl(name: string, value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === "https:" || url.protocol === "http:") return url.href;
  } catch {}
  throw new ConfigError(`auth.${name} must be an absolute http(s) URL, got "${value}"`);
}

function list(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value : [value];
}

function jwksVerifier(
  provider: string,
  jwksUrl: string,
  accepts: (iss: string | undefined) => boolean,
  audience: string[] | undefined,
  settings: Settings,
  extraCheck?: (payload: JWTPayload, iss: string | undefined) => void,
): Verifier {
  const jwks = createJwksSource({
    url: jwksUrl,
    timeoutMs: settings.timeoutMs,
    cooldownMs: settings.cooldownMs,
    maxAgeMs: settings.maxAgeMs,
    onFetchError: settings.reportFetchError,
  });
  return {
    provider,
    accepts,
    jwks,
    async verify(token, iss) {
      const { payload } = await jwtVerify(token, jwks.getKey, {
        algorithms: ALLOWED_ALGORITHMS,
        // Pin the exact issuer that picked this verifier; a token without `iss` only reaches a custom
        // verifier configured without an issuer.
        ...(iss === undefined ? {} : { issuer: iss }),
        ...(audience ? { audience } : {}),
        clockTolerance: settings.clockToleranceSec,
        // Without `exp` a connection's identity would never end; without `sub` there is no user id.
        requiredClaims: ["exp", "sub"],
      });
      extraCheck?.(payload, iss);
      return payload;
    },
  };
}

function decodeOnlyVerifier(provider: string | undefined, accepts: (iss: string | undefined) => boolean, settings: Settings): Verifier {
  return {
    provider,
    accepts,
    async verify(token) {
      const payload = decodeJwt(token);
      const now = Math.floor(Date.now() / 1000);
      // No signature check here; still refuse tokens that say they are expired or not yet valid.
      if (typeof payload.exp === "number" && payload.exp + settings.clockToleranceSec <= now) throw new Error("expired");
      if (typeof payload.nbf === "number" && payload.nbf - settings.clockToleranceSec > now) throw new Error("not yet valid");
      return payload;
    },
  };
}

/** Guesses the provider name of a decode-only token from its issuer. */
export function providerFromIssuer(iss: string | undefined): string {
  if (iss && GOOGLE_ISSUERS.includes(iss)) return "google";
  if (iss?.startsWith(`${MICROSOFT_AUTHORITY}/`)) return "microsoft";
  return "custom";
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Builds the verifiers for `options`, most specific issuer first. Throws `ConfigError` on bad config. */
export function buildVerifiers(options: AuthOptions): Verifier[] {
  const settings = settingsOf(options);
  const verifiers: Verifier[] = [];
  const { google, microsoft, custom } = options;

  if (google) {
    const url = checkUrl("google.jwksUrl", google.jwksUrl ?? GOOGLE_JWKS_URL);
    const accepts = (iss: string | undefined) => iss !== undefined && GOOGLE_ISSUERS.includes(iss);
    verifiers.push(jwksVerifier("google", url, accepts, list(google.clientId), settings));
  }

  if (microsoft) {
    const tenant = microsoft.tenantId;
    const multi = tenant === "common" || tenant === "organizations";
    if (typeof tenant !== "string" || !(multi || tenant === "consumers" || GUID.test(tenant))) {
      throw new ConfigError(
        `auth.microsoft.tenantId must be the directory (tenant) GUID, "common", "organizations" or "consumers"; got "${String(tenant)}". ` +
          "Find the GUID under Microsoft Entra ID → Overview → Tenant ID.",
      );
    }
    const authority = checkUrl("microsoft.authority", microsoft.authority ?? MICROSOFT_AUTHORITY).replace(/\/+$/, "");
    const url = checkUrl("microsoft.jwksUrl", microsoft.jwksUrl ?? `${authority}/${tenant}/discovery/v2.0/keys`);
    const fixedTid = tenant === "consumers" ? MICROSOFT_CONSUMERS_TID : tenant.toLowerCase();
    const issuerPattern = new RegExp(`^${escapeRegExp(authority)}/([0-9a-fA-F-]{36})/v2\\.0$`);
    const tidOf = (iss: string | undefined) => (iss === undefined ? undefined : issuerPattern.exec(iss)?.[1]?.toLowerCase());
    const accepts = (iss: string | undefined) => {
      const tid = tidOf(iss);
      return tid !== undefined && GUID.test(tid) && (multi || tid === fixedTid);
    };
    // The issuer names a tenant; the token's `tid` must name the same one. For common/organizations this
    // is the only thing tying the signature (shared keys) to a tenant.
    const tidCheck = (payload: JWTPayload, iss: string | undefined) => {
      if (typeof payload.tid !== "string" || payload.tid.toLowerCase() !== tidOf(iss)) {
        throw new Error("Microsoft token tid does not match its issuer");
      }
    };
    verifiers.push(jwksVerifier("microsoft", url, accepts, list(microsoft.clientId), settings, tidCheck));
  }

  if (custom) {
    const issuers = list(custom.issuer);
    // A custom verifier without `issuer` takes every token no other verifier claims.
    const accepts = (iss: string | undefined) => (issuers ? iss !== undefined && issuers.includes(iss) : true);
    if (custom.decodeOnly) {
      verifiers.push(decodeOnlyVerifier(custom.provider ?? "custom", accepts, settings));
    } else {
      if (!custom.jwksUrl) {
        throw new ConfigError(
          "auth.custom needs jwksUrl (your issuer's JSON Web Key Set), or decodeOnly: true for development without verification",
        );
      }
      const url = checkUrl("custom.jwksUrl", custom.jwksUrl);
      verifiers.push(jwksVerifier(custom.provider ?? "custom", url, accepts, list(custom.audience), settings));
    }
  }

  if (verifiers.length === 0) {
    // `auth: {}`: decode only, for development.
    verifiers.push(decodeOnlyVerifier(undefined, () => true, settings));
  }
  return verifiers;
}
