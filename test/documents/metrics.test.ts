/** The documents' families on `/metrics`: counts, bytes, load and store duration histograms, fixed close labels. */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer } from "../../adapters/node/index.ts";
import { DocumentMetrics } from "../../src/documents/document-metrics.ts";
import { openEditor, rawDocSocket } from "../helpers/documents.ts";

/** `name{labels} value` lines of the page, by the part before the value. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(openlivesync_document\S*) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe("document metrics", () => {
  let server: NodeLiveServer;
  let base: string;
  beforeAll(async () => {
    server = createServer({ port: 0, hostname: "127.0.0.1", documents: { writeWindowMs: 10 } });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const scrape = async () => series(await (await fetch(`http://${base}/metrics`)).text());

  it("counts loads, updates, writes and bytes, with load and store durations as histograms", async () => {
    const editor = await openEditor(`ws://${base}/yjs`, "metered");
    for (let i = 0; i < 5; i++) editor.text.insert(0, "abc");
    let m = await scrape();
    for (let tries = 0; (m.get("openlivesync_document_updates_total") ?? 0) < 5 || !m.get("openlivesync_document_writes_total"); tries++) {
      expect(tries).toBeLessThan(500);
      await new Promise((r) => setTimeout(r, 20));
      m = await scrape();
    }
    expect(m.get("openlivesync_documents_loaded")).toBe(1);
    expect(m.get("openlivesync_document_connections")).toBe(1);
    // Five edits, and the sync step 2 the client answered with when it connected.
    expect(m.get("openlivesync_document_updates_total")).toBeGreaterThanOrEqual(5);
    expect(m.get("openlivesync_document_stored_bytes_total")).toBeGreaterThan(0);
    expect(m.get("openlivesync_document_load_duration_seconds_count")).toBe(1);
    expect(m.get('openlivesync_document_load_duration_seconds_bucket{le="+Inf"}')).toBe(1);
    const writes = m.get("openlivesync_document_writes_total")!;
    expect(m.get("openlivesync_document_store_duration_seconds_count")).toBe(writes);
    expect(m.get('openlivesync_document_store_duration_seconds_bucket{le="10"}')).toBeLessThanOrEqual(writes);
    editor.destroy();
  });

  it("labels server closes by documented code only", async () => {
    const raw = await rawDocSocket(`ws://${base}/yjs/garbled`);
    raw.send(new Uint8Array([0, 9, 9, 9]));
    expect((await raw.closed).code).toBe(4400);
    const m = await scrape();
    expect(m.get('openlivesync_document_server_closes_total{code="4400"}')).toBe(1);
    const metrics = new DocumentMetrics();
    metrics.closed(3999);
    metrics.closed(1001);
    expect([...metrics.render(0).matchAll(/closes_total\{code="([^"]+)"\}/g)].map((x) => x[1]).sort()).toEqual(["1001", "other"]);
  });
});
