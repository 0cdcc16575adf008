import { ConfigError } from "../errors.ts";
import { numberOption } from "../util/number-option.ts";
import { backgroundInterval } from "../util/async.ts";
import type { Connection } from "./connection.ts";
import type { RefusalReason } from "./refusals.ts";

/** How often buckets that filled up again are forgotten. */
const SWEEP_MS = 5000;

/** Limits that keep one client from hurting the server or its room. Every one has a safe default. */
export interface GuardOptions {
  /**
   * Browser origins allowed to open a socket. An upgrade whose `Origin` header is not listed gets HTTP
   * 403 before the socket opens. Requests without `Origin` (servers, native apps, CLI tools) and
   * same-origin requests (`Origin` host equals `Host`) are always allowed. `"*"` allows every origin.
   * @default [] (same-origin and non-browser clients only)
   * @example allowedOrigins: ["https://app.example.com", "http://localhost:5173"]
   */
  allowedOrigins?: readonly string[] | "*";
  /** Open sockets in total; further upgrades get HTTP 503. 0 disables. @default 100000 */
  maxConnections?: number;
  /** Open sockets per client IP; further upgrades get HTTP 429. 0 disables (behind a load balancer every client shares its address). @default 0 */
  maxConnectionsPerIp?: number;
  /**
   * Per-connection token bucket on incoming frames. Past it a frame is dropped and answered with
   * `RATE_LIMITED` (at most one such error per second); a client that stays over it for
   * `closeAfterSeconds` is closed with 1008. `false` disables it.
   * @default { messagesPerSecond: 200, bytesPerSecond: 1048576, burstSeconds: 2, closeAfterSeconds: 10 }
   */
  rateLimit?: RateLimitOptions | false;
  /** Chats of one connection waiting to be stored; more get `RATE_LIMITED`. @default 32 */
  maxChatsInFlight?: number;
}

export interface RateLimitOptions {
  /** Sustained frames per second. @default 200 */
  messagesPerSecond?: number;
  /** Sustained bytes (characters) per second. @default 1048576 */
  bytesPerSecond?: number;
  /** Bucket size, in seconds of the sustained rate: how large a burst passes. @default 2 */
  burstSeconds?: number;
  /** Close with 1008 after this many seconds of continuous excess. @default 10 */
  closeAfterSeconds?: number;
}

export interface ResolvedGuard {
  allowedOrigins: ReadonlySet<string> | "*";
  maxConnections: number;
  maxConnectionsPerIp: number;
  rateLimit: Required<RateLimitOptions> | undefined;
  maxChatsInFlight: number;
}

export function resolveGuard(options: GuardOptions): ResolvedGuard {
  const origins = options.allowedOrigins ?? [];
  if (origins !== "*" && !Array.isArray(origins)) throw new ConfigError('Option allowedOrigins must be an array of origins or "*"');
  const rate = options.rateLimit === false ? undefined : (options.rateLimit ?? {});
  return {
    allowedOrigins: origins === "*" ? "*" : new Set(origins.map(normalizeOrigin)),
    maxConnections: numberOption("maxConnections", options.maxConnections, 100_000),
    maxConnectionsPerIp: numberOption("maxConnectionsPerIp", options.maxConnectionsPerIp, 0),
    rateLimit: rate && {
      messagesPerSecond: numberOption("rateLimit.messagesPerSecond", rate.messagesPerSecond, 200),
      bytesPerSecond: numberOption("rateLimit.bytesPerSecond", rate.bytesPerSecond, 1024 * 1024),
      burstSeconds: numberOption("rateLimit.burstSeconds", rate.burstSeconds, 2),
      closeAfterSeconds: numberOption("rateLimit.closeAfterSeconds", rate.closeAfterSeconds, 10),
    },
    maxChatsInFlight: numberOption("maxChatsInFlight", options.maxChatsInFlight, 32),
  };
}

/** `https://App.example.com:443/` → `https://app.example.com`. Unparsable origins stay as given. */
function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin;
  }
}

/** What an upgrade is refused with, or undefined to go on. */
export interface Refusal {
  status: number;
  text: string;
  reason: RefusalReason;
}

/** Per-connection bucket, kept only while the connection sends faster than its refill. */
interface RateBucket {
  messages: number;
  bytes: number;
  at: number;
  /** When the connection first went over the limit in the current run of excess (0: not over). */
  overSince: number;
}

/** At most one `RATE_LIMITED` error per connection in this many ms, whatever refused its frames. */
const WARN_EVERY_MS = 1000;

export type FrameVerdict = "ok" | "drop" | "warn" | "close";

/**
 * The server's limits in one place: which upgrades are accepted (origin, connection counts), how
 * fast a connection may send, how many chats it may have waiting.
 */
export class Guard {
  readonly limits: ResolvedGuard;
  private open = 0;
  private readonly perIp = new Map<string, number>();
  private readonly ipOf = new Map<Connection, string>();
  /** Buckets of connections that sent recently; a missing bucket is a full one. */
  private readonly buckets = new Map<Connection, RateBucket>();
  /** When each connection last got a `RATE_LIMITED` error, while that is recent. */
  private readonly warnedAt = new Map<Connection, number>();
  /** Runs only while a bucket or a warning exists: an idle server (a hibernating Durable Object) has no timer. */
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** Frames the rate limit refused, for metrics. */
  rateLimitedFrames = 0;

  constructor(limits: ResolvedGuard) {
    this.limits = limits;
  }

  /** Stop the sweep timer (server shutdown). */
  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.buckets.clear();
    this.warnedAt.clear();
  }

  /**
   * Check an upgrade's origin and the connection counts. `address` gives the client's IP (undefined when
   * the runtime cannot tell); it is read only while the per-IP limit is on: on Node the first read makes
   * the socket cache its peer name, an object and a string per idle connection.
   */
  checkUpgrade(request: Request, address: () => string | undefined): Refusal | undefined {
    if (!this.originAllowed(request)) return { status: 403, text: "Origin not allowed", reason: "origin" };
    const { maxConnections, maxConnectionsPerIp } = this.limits;
    if (maxConnections > 0 && this.open >= maxConnections) return { status: 503, text: "Too many connections", reason: "full" };
    if (maxConnectionsPerIp === 0) return undefined;
    const ip = address();
    if (ip !== undefined && (this.perIp.get(ip) ?? 0) >= maxConnectionsPerIp) {
      return { status: 429, text: "Too many connections from this address", reason: "rate" };
    }
    return undefined;
  }

  /**
   * Count an opened socket; false when its address is already at the per-IP limit (checked here too,
   * for runtimes whose upgrade request does not tell the address). Addresses are kept only while that
   * limit is on, so idle connections cost nothing for it by default.
   */
  admit(conn: Connection, address: () => string | undefined): boolean {
    this.open++;
    const { maxConnectionsPerIp } = this.limits;
    if (maxConnectionsPerIp === 0) return true;
    const ip = address();
    if (ip === undefined) return true;
    const n = this.perIp.get(ip) ?? 0;
    if (n >= maxConnectionsPerIp) return false;
    this.perIp.set(ip, n + 1);
    this.ipOf.set(conn, ip);
    return true;
  }

  /** A socket closed (once per admitted connection): its slot, address count and bucket are freed. */
  release(conn: Connection): void {
    this.open--;
    this.buckets.delete(conn);
    this.warnedAt.delete(conn);
    const ip = this.ipOf.get(conn);
    if (ip === undefined) return;
    this.ipOf.delete(conn);
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private originAllowed(request: Request): boolean {
    const allowed = this.limits.allowedOrigins;
    if (allowed === "*") return true;
    const origin = request.headers.get("origin");
    if (origin === null) return true; // not a browser: no cross-site request to forge
    if (allowed.has(normalizeOrigin(origin))) return true;
    try {
      return new URL(origin).host === request.headers.get("host");
    } catch {
      return false;
    }
  }

  /** Take one frame of `size` characters from `conn`'s bucket. */
  takeFrame(conn: Connection, size: number): FrameVerdict {
    const rate = this.limits.rateLimit;
    if (!rate) return "ok";
    const now = Date.now();
    const capMessages = rate.messagesPerSecond * rate.burstSeconds;
    const capBytes = rate.bytesPerSecond * rate.burstSeconds;
    let bucket = this.buckets.get(conn);
    if (bucket) {
      const elapsed = (now - bucket.at) / 1000;
      bucket.messages = Math.min(capMessages, bucket.messages + elapsed * rate.messagesPerSecond);
      bucket.bytes = Math.min(capBytes, bucket.bytes + elapsed * rate.bytesPerSecond);
      bucket.at = now;
    } else {
      bucket = { messages: capMessages, bytes: capBytes, at: now, overSince: 0 };
      this.buckets.set(conn, bucket);
      this.sweepSoon();
    }
    if (bucket.messages >= 1 && bucket.bytes >= size) {
      bucket.messages -= 1;
      bucket.bytes -= size;
      // A run of excess ends once the client slowed down enough for the bucket to refill halfway;
      // a flooder that gets a frame through now and then is still over.
      if (bucket.overSince !== 0 && bucket.messages >= capMessages / 2 && bucket.bytes >= capBytes / 2) bucket.overSince = 0;
      return "ok";
    }
    this.rateLimitedFrames++;
    if (bucket.overSince === 0) bucket.overSince = now;
    else if (now - bucket.overSince >= rate.closeAfterSeconds * 1000) return "close";
    return this.mayWarn(conn, now) ? "warn" : "drop";
  }

  /**
   * Whether `conn` may be sent a `RATE_LIMITED` error now (the frame rate, chats waiting for storage, a
   * history page still loading): true at most once a second per connection; the refusals in between
   * are silent. A client that floods gets one error a second, not one per refused frame.
   */
  mayWarn(conn: Connection, now = Date.now()): boolean {
    const last = this.warnedAt.get(conn);
    if (last !== undefined && now - last < WARN_EVERY_MS) return false;
    this.warnedAt.set(conn, now);
    this.sweepSoon();
    return true;
  }

  private sweepSoon(): void {
    this.sweeper ??= backgroundInterval(() => this.sweep(), SWEEP_MS);
  }

  /** Forget buckets that have filled up again and warnings past their second: idle connections keep none. */
  private sweep(): void {
    const rate = this.limits.rateLimit;
    const now = Date.now();
    for (const [conn, at] of this.warnedAt) if (now - at >= WARN_EVERY_MS) this.warnedAt.delete(conn);
    if (rate) {
      const capMessages = rate.messagesPerSecond * rate.burstSeconds;
      const capBytes = rate.bytesPerSecond * rate.burstSeconds;
      for (const [conn, bucket] of this.buckets) {
        const elapsed = (now - bucket.at) / 1000;
        if (bucket.messages + elapsed * rate.messagesPerSecond >= capMessages && bucket.bytes + elapsed * rate.bytesPerSecond >= capBytes) {
          this.buckets.delete(conn);
        }
      }
    }
    if (this.buckets.size === 0 && this.warnedAt.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
