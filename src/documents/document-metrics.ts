import { DocumentCloseCodes } from "./codes.ts";

/** Upper bounds (seconds) of the load and store duration histograms' buckets (as chat storage's). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The label values `document_server_closes_total{code}` takes; any other code counts as `other`. */
const CLOSE_LABELS: ReadonlySet<number> = new Set(Object.values(DocumentCloseCodes));

class DurationHistogram {
  readonly buckets = DURATION_BUCKETS.map(() => 0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (const [i, le] of DURATION_BUCKETS.entries()) if (seconds <= le) this.buckets[i]!++;
  }

  render(out: string[], name: string): void {
    for (const [i, le] of DURATION_BUCKETS.entries()) out.push(`openlivesync_${name}_bucket{le="${le}"} ${this.buckets[i]}`);
    out.push(
      `openlivesync_${name}_bucket{le="+Inf"} ${this.count}`,
      `openlivesync_${name}_sum ${this.sum}`,
      `openlivesync_${name}_count ${this.count}`,
    );
  }
}

/** The documents' counters, appended to `GET /metrics` as `openlivesync_document*` families; every label from a fixed set. */
export class DocumentMetrics {
  loadedNow = 0;
  loads = 0;
  updates = 0;
  refusedUpdates = 0;
  writes = 0;
  storedBytes = 0;
  readonly loadDuration = new DurationHistogram();
  readonly storeDuration = new DurationHistogram();
  private readonly closes = new Map<string, number>();

  loaded(ms: number): void {
    this.loadedNow++;
    this.loads++;
    this.loadDuration.observe(ms / 1000);
  }

  unloaded(): void {
    this.loadedNow--;
  }

  stored(bytes: number, ms: number): void {
    this.writes++;
    this.storedBytes += bytes;
    this.storeDuration.observe(ms / 1000);
  }

  closed(code: number): void {
    const label = CLOSE_LABELS.has(code) ? String(code) : "other";
    this.closes.set(label, (this.closes.get(label) ?? 0) + 1);
  }

  render(connections: number): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) =>
      out.push(`# HELP openlivesync_${name} ${help}`, `# TYPE openlivesync_${name} ${type}`);
    const metric = (name: string, type: string, help: string, value: number) => {
      family(name, type, help);
      out.push(`openlivesync_${name} ${value}`);
    };
    metric("documents_loaded", "gauge", "Shared documents loaded in this process.", this.loadedNow);
    metric("document_connections", "gauge", "Open connections to the document endpoint.", connections);
    metric("document_updates_total", "counter", "Document updates applied (from clients and the server API).", this.updates);
    metric("document_updates_refused_total", "counter", "Document updates refused (read-only client, size limit).", this.refusedUpdates);
    metric("document_writes_total", "counter", "Rows written to document storage (one per document per write window).", this.writes);
    metric("document_stored_bytes_total", "counter", "Update bytes written to document storage (snapshots not counted).", this.storedBytes);
    metric("document_loads_total", "counter", "Documents loaded from storage.", this.loads);
    family("document_load_duration_seconds", "histogram", "Loading a document from storage (read and apply).");
    this.loadDuration.render(out, "document_load_duration_seconds");
    family("document_store_duration_seconds", "histogram", "One write of a document's pending updates to storage.");
    this.storeDuration.render(out, "document_store_duration_seconds");
    family(
      "document_server_closes_total",
      "counter",
      "Document connections the server closed, by close code (other: not a documented code).",
    );
    for (const [code, n] of this.closes) out.push(`openlivesync_document_server_closes_total{code="${code}"} ${n}`);
    return `${out.join("\n")}\n`;
  }
}
