import type { Backplane } from "../cluster/backplane.ts";
import type { ChatStorage } from "../storage/chat-storage.ts";
import { withTimeout } from "../util/async.ts";
import type { WebhookStats } from "../webhooks/dispatcher.ts";
import { MetricHistory } from "./metric-history.ts";
import type { Metrics } from "./metrics.ts";

/** How long a readiness or metrics probe waits for storage or the backplane. */
const PROBE_MS = 2000;
/** The room a readiness probe reads (an empty page from every storage). */
const PROBE_ROOM = "__openlivesync_readyz__";

/** `ready()`'s answer: `ok` when every check passed; each check says `"ok"` or what failed. */
export interface Readiness {
  ok: boolean;
  checks: { storage: string; backplane?: string };
}

/**
 * `GET /readyz` (storage answers a read, the backplane is connected), `GET /metrics`, and the recent
 * samples the admin page charts (`history`, started by the HTTP API).
 */
export function createProbes(deps: {
  storage: ChatStorage;
  backplane: Backplane | undefined;
  closing: () => boolean;
  metrics: () => Metrics;
  counts: () => { connections: number; rooms: number };
  /** The webhooks' counters, when webhooks are configured. */
  webhooks?: () => WebhookStats;
  /** The documents' families, when documents are on. */
  documents?: () => string;
}) {
  const { backplane } = deps;
  const backplaneHealth = () =>
    backplane?.health ? withTimeout(backplane.health(), PROBE_MS, { fallback: { up: false } }).catch(() => ({ up: false })) : undefined;

  async function ready(): Promise<Readiness> {
    const storageCheck = withTimeout(deps.storage.getHistory(PROBE_ROOM, 1), PROBE_MS, {
      error: () => new Error(`no answer within ${PROBE_MS / 1000} s`),
    }).then(
      () => "ok",
      (error: unknown) => `failed: ${String((error as Error)?.message ?? error).slice(0, 200)}`,
    );
    const [storageState, health] = await Promise.all([storageCheck, backplaneHealth()]);
    const checks: Readiness["checks"] = { storage: storageState };
    if (health) checks.backplane = health.up ? "ok" : "not connected";
    return { ok: !deps.closing() && storageState === "ok" && (health?.up ?? true), checks };
  }

  async function metrics(): Promise<string> {
    const health = await backplaneHealth();
    const text = deps
      .metrics()
      .render({ ...deps.counts(), backplane: health ?? (backplane ? { up: true } : undefined), webhooks: deps.webhooks?.() });
    return deps.documents ? text + deps.documents() : text;
  }

  const history = new MetricHistory(() => ({ ...deps.counts(), ...deps.metrics().totals() }), { instanceId: backplane?.instanceId });
  return { ready, metrics, history };
}
