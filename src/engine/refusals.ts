import { OpenLiveSyncError, type OnError } from "../errors.ts";
import { createLogWindow, LOG_WINDOW_MS } from "../util/log-window.ts";

/**
 * Why an upgrade was refused, the label values of `openlivesync_upgrades_refused_total{reason}`:
 * `origin` (403, not in `allowedOrigins`), `auth` (`onAuth` refused with 401, or threw: 500), `full`
 * (503, `maxConnections`), `rate` (429 or close 1008, `maxConnectionsPerIp`).
 */
export const REFUSAL_REASONS = ["origin", "auth", "full", "rate"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

const WHAT: Record<RefusalReason, string> = {
  origin: "HTTP 403, Origin not in allowedOrigins",
  auth: "HTTP 401 or 500, onAuth",
  full: "HTTP 503, maxConnections",
  rate: "HTTP 429 or close 1008, maxConnectionsPerIp",
};

/** Refused upgrades, summed up; reported through `onError` (stage `"upgrade"`), never one per refusal. */
export class RefusedUpgradesError extends OpenLiveSyncError {
  constructor(message: string) {
    super("UPGRADES_REFUSED", message);
  }
}

/**
 * Counts refused upgrades by reason (for `/metrics`) and tells `onError` about them: the first refusal
 * after a quiet minute at once, so a developer whose browser cannot connect sees why, then one line
 * a minute with the counts while refusals go on; nothing when there were none. Counts only: never an
 * origin, an address or a header.
 */
export function createRefusals(report: OnError) {
  const totals = new Float64Array(REFUSAL_REASONS.length);
  const pending = new Float64Array(REFUSAL_REASONS.length);
  const say = (first: boolean) => {
    const parts = REFUSAL_REASONS.flatMap((reason, i) => (pending[i]! > 0 ? [`${reason} ${pending[i]} (${WHAT[reason]})`] : []));
    pending.fill(0);
    const head = first ? "WebSocket upgrade refused" : `WebSocket upgrades refused in the last ${LOG_WINDOW_MS / 1000} s`;
    report(new RefusedUpgradesError(`${head}: ${parts.join(", ")}`), { stage: "upgrade" });
  };
  const window = createLogWindow(() => say(false));
  return {
    record(reason: RefusalReason): void {
      const i = REFUSAL_REASONS.indexOf(reason);
      totals[i]!++;
      pending[i]!++;
      if (window.first("upgrade")) say(true);
    },
    /** Refusals since start, by reason. */
    totals(): Record<RefusalReason, number> {
      return Object.fromEntries(REFUSAL_REASONS.map((reason, i) => [reason, totals[i]!])) as Record<RefusalReason, number>;
    },
    stop(): void {
      window.stop();
    },
  };
}

export type Refusals = ReturnType<typeof createRefusals>;
