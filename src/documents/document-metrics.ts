/** The documents' counters, appended to `GET /metrics` as `openlivesync_documents_*` families. */
export class DocumentMetrics {
  loadedNow = 0;
  loads = 0;
  loadSeconds = 0;
  updates = 0;
  refusedUpdates = 0;
  writes = 0;
  storedBytes = 0;
  storeSeconds = 0;
  private readonly closes = new Map<number, number>();

  loaded(ms: number): void {
    this.loadedNow++;
    this.loads++;
    this.loadSeconds += ms / 1000;
  }

  unloaded(): void {
    this.loadedNow--;
  }

  stored(bytes: number, ms: number): void {
    this.writes++;
    this.storedBytes += bytes;
    this.storeSeconds += ms / 1000;
  }

  closed(code: number): void {
    this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
  }

  render(connections: number): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, value: number) =>
      out.push(`# HELP openlivesync_${name} ${help}`, `# TYPE openlivesync_${name} ${type}`, `openlivesync_${name} ${value}`);
    metric("documents_loaded", "gauge", "Shared documents loaded in this process.", this.loadedNow);
    metric("document_connections", "gauge", "Open connections to the document endpoint.", connections);
    metric("document_updates_total", "counter", "Document updates applied (from clients and the server API).", this.updates);
    metric("document_updates_refused_total", "counter", "Document updates refused (read-only client, size limit).", this.refusedUpdates);
    metric("document_writes_total", "counter", "Rows written to document storage (one per document per write window).", this.writes);
    metric("document_stored_bytes_total", "counter", "Update bytes written to document storage (snapshots not counted).", this.storedBytes);
    metric("document_store_seconds_total", "counter", "Time spent in document storage writes.", this.storeSeconds);
    metric("document_loads_total", "counter", "Documents loaded from storage.", this.loads);
    metric("document_load_seconds_total", "counter", "Time spent loading documents from storage.", this.loadSeconds);
    out.push(
      "# HELP openlivesync_document_server_closes_total Document connections the server closed, by close code.",
      "# TYPE openlivesync_document_server_closes_total counter",
    );
    for (const [code, n] of this.closes) out.push(`openlivesync_document_server_closes_total{code="${code}"} ${n}`);
    return `${out.join("\n")}\n`;
  }
}
