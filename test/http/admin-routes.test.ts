/**
 * The admin page's read-only routes over real HTTP: this instance's metric samples (taken every 5 s
 * while the API is on) and the documents with their clients on this instance.
 */
import { Hono } from "hono";
import { afterAll, describe, expect, it } from "vitest";
import { addApiRoutes } from "../../src/api/routes.ts";
import { createLiveEngine } from "../../src/engine/engine.ts";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { TestClient } from "../helpers/client.ts";
import { type Editor, openEditor } from "../helpers/documents.ts";
import { API_SECRET, answer, httpApi } from "../suites/http-api.suite.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const started: Fixture[] = [];
const editors: Editor[] = [];
const clients: TestClient[] = [];
afterAll(async () => {
  for (const e of editors) e.destroy();
  for (const c of clients) c.terminate();
  for (const f of started) await f.stop();
});

const start = async (documents?: false) => {
  const f = await startNodeInProcess({ apiSecret: API_SECRET, ...(documents === false ? { documents } : {}) });
  started.push(f);
  return f;
};

describe("admin routes", () => {
  it("answers this instance's metric samples behind the bearer, with the traffic of each interval", async () => {
    const server = await start();
    expect((await httpApi(server.httpUrl, "not-the-secret-not-the-secret").get("/api/admin/metrics")).status).toBe(401);
    const first = await answer(await httpApi(server.httpUrl).get("/api/admin/metrics"));
    expect(first).toMatchObject({ status: 200, body: { scope: "instance", intervalMs: 5000, capacity: 720 } });
    expect(first.body.instanceId).toBeUndefined();

    const c = new TestClient(server.wsUrl);
    clients.push(c);
    await c.opened;
    await c.join("charts");
    c.send("send_chat", { message: "" }); // refused: an error frame
    await c.next("error");
    let samples: any[] = [];
    for (let i = 0; i < 300 && !samples.some((s) => s.errorsPerSecond > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      samples = (await answer(await httpApi(server.httpUrl).get("/api/admin/metrics"))).body.samples;
    }
    const busy = samples.find((s) => s.errorsPerSecond > 0);
    expect(busy).toMatchObject({ connections: 1, rooms: 1 });
    expect(busy.receivedPerSecond).toBeGreaterThan(0);
    expect(busy.sentPerSecond).toBeGreaterThan(0);
    // The OpenAPI document describes exactly these fields.
    const doc = (await answer(await httpApi(server.httpUrl).get("/api/openapi.json"))).body;
    expect(doc.paths["/api/admin/metrics"].get.responses[200].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/MetricHistory",
    });
    expect(Object.keys(doc.components.schemas.MetricSample.properties).sort()).toEqual(Object.keys(busy).sort());
    expect(doc.components.schemas.MetricSample.required.sort()).toEqual(Object.keys(busy).sort());
  }, 60_000);

  it("lists the documents with their size and clients on this instance, filtered and paged", async () => {
    const server = await start();
    const docs = server.wsUrl.replace(/\/live$/, "/yjs");
    const [a1, a2, b] = [await openEditor(docs, "notes-a"), await openEditor(docs, "notes-a"), await openEditor(docs, "plan-b")];
    editors.push(a1, a2, b);
    a1.text.insert(0, "hello");
    const api = httpApi(server.httpUrl);
    let listed: any;
    for (let i = 0; i < 100; i++) {
      listed = (await answer(await api.get("/api/admin/documents"))).body;
      if (listed.documents.find((d: any) => d.name === "notes-a")?.bytes > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed).toMatchObject({ enabled: true, total: 2 });
    expect(listed.documents.map((d: any) => [d.name, d.clients, d.loaded])).toEqual([
      ["notes-a", 2, true],
      ["plan-b", 1, true],
    ]);
    expect(listed.documents[0].bytes).toBeGreaterThan(0);
    const doc = (await answer(await api.get("/api/openapi.json"))).body;
    const row = doc.components.schemas.AdminDocumentList.properties.documents.items;
    expect(Object.keys(row.properties).sort()).toEqual(Object.keys(listed.documents[0]).sort());
    expect((await answer(await api.get("/api/admin/documents?q=PLAN"))).body).toMatchObject({ total: 1, documents: [{ name: "plan-b" }] });
    expect((await answer(await api.get("/api/admin/documents?offset=1&limit=1"))).body).toMatchObject({
      total: 2,
      documents: [{ name: "plan-b" }],
    });
    expect(await answer(await api.get("/api/admin/documents?limit=5000"))).toMatchObject({
      status: 422,
      body: { error: { code: "INVALID_PAYLOAD" } },
    });
  });

  it("samples only once the API is mounted, and stops when the server closes", async () => {
    const engine = createLiveEngine({ documents: false });
    expect(engine.history.running).toBe(false);
    addApiRoutes(new Hono(), engine, { secret: API_SECRET });
    expect(engine.history.running).toBe(true);
    await engine.close();
    expect(engine.history.running).toBe(false);
  });

  it("says documents are off when they are", async () => {
    const server = await start(false);
    expect((await answer(await httpApi(server.httpUrl).get("/api/admin/documents"))).body).toEqual({
      enabled: false,
      documents: [],
      total: 0,
    });
  });
});
